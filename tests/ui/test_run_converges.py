"""The live run view converges: after "Copy & run" of a 2,000-task tree, the page's statuses equal
the API's, every time (docs/live.md, "The run view converges").

Run with ``pytest -m e2e tests/ui/test_run_converges.py``. Ten runs of 2,000 ``noop`` tasks, drained
by the worker threads of tests/ui/conftest.py while the page watches.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TASKS = 2000
RUNS = int(os.environ.get("ARBOR_CONVERGE_RUNS", "10"))
# once the database says the run is over, the page has this long to show it (the issue: it never did)
SETTLE_MS = 10_000


def big_tree(n: int = TASKS) -> list[dict]:
    """A root with 40 groups of ~50 noop leaves; each group after the first waits for one task of
    the group before it, so the run goes in waves (many tasks running at once, as in the report)."""
    tasks = [{"id": "root", "name": "root", "executor": "noop"}]
    groups = 40
    per = (n - 1 - groups) // groups
    made = 1
    for g in range(groups):
        tasks.append(
            {
                "id": f"g{g}",
                "name": f"g{g}",
                "executor": "noop",
                "parent_id": "root",
                **({"dependencies": [f"g{g - 1}-0"]} if g else {}),
            }
        )
        made += 1
        for i in range(per if g < groups - 1 else n - made - (groups - 1 - g)):
            tasks.append(
                {
                    "id": f"g{g}-{i}",
                    "name": f"g{g}-{i}",
                    "executor": "noop",
                    "parent_id": f"g{g}",
                    "dependencies": [f"g{g}"],
                }
            )
            made += 1
    assert len(tasks) == n, len(tasks)
    return tasks


PAGE_STATUSES = (
    "() => Object.fromEntries(Array.from(arborRun.state.tasks.values()).map((t) => [t.id, t.status]))"
)


def api_statuses(tree_id) -> dict[str, str]:
    from tasks_app.models import Task

    return {str(i): s for i, s in Task.objects.filter(tree_id=tree_id).values_list("id", "status")}


def copy_and_run(page, arbor_server, tm, *, runs: int) -> list[dict]:
    """Click "Copy & run" ``runs`` times, each time on the page of the previous copy, and after each
    run compare every task's status on the page with the database's (what the API serves)."""
    from tasks_app.models import Tree

    source = tm.create_tree(big_tree())
    page.set_default_timeout(60_000)
    page.goto(f"{arbor_server}/trees/{source.id}/")
    page.wait_for_selector("body[data-ready='1']")
    frames: list = []  # what the socket received, for the failure message

    def on_ws(ws):
        frames.append(("open", ws.url))
        ws.on("framereceived", lambda payload: frames.append(("in", str(payload)[:60])))

    page.on("websocket", on_ws)
    results = []
    for run in range(runs):
        started = time.monotonic()
        before = page.url
        frames.clear()
        page.click("#act-copy-run")
        page.click("[data-testid=confirm]")
        page.wait_for_url(lambda url, before=before: url != before)
        page.wait_for_selector("body[data-ready='1']")
        tree = Tree.objects.get(id=page.url.rstrip("/").split("/")[-1])

        def finished(tree=tree):
            """the copy's run is over in the database"""
            tree.refresh_from_db()
            return tree.status in {"completed", "failed", "cancelled"}

        wait_for(finished, timeout=120)
        expected = api_statuses(tree.id)
        assert len(expected) == TASKS and set(expected.values()) == {"completed"}
        try:
            page.wait_for_function(
                """(n) => arborRun.state.tasks.size === n && arborRun.state.tree.status === "completed"
                          && Array.from(arborRun.state.tasks.values()).every((t) => t.status ===
                            "completed")""",
                arg=TASKS,
                timeout=SETTLE_MS,
            )
        except Exception:  # the comparison below says what differs
            pass
        shown = page.evaluate(PAGE_STATUSES)
        stale = {k: v for k, v in shown.items() if expected.get(k) != v}
        result = {
            "run": run,
            "seconds": round(time.monotonic() - started, 1),
            "stale": len(stale),
            "counts": page.text_content("#tree-counts"),
            "live": page.evaluate("arborRun.state.live.stats"),
            "snapshot_frames": sum(1 for f in frames if f[0] == "in" and '"snapshot' in f[1]),
            "frames": sum(1 for f in frames if f[0] == "in"),
        }
        results.append(result)
        print(result)
        assert not stale and shown == expected, (
            f"run {run}: {len(stale)} tasks differ from the API, e.g. {list(stale.items())[:3]}; "
            f"{result}; socket: "
            f"{[f for f in frames if f[0] != 'in' or 'snapshot' in f[1] or 'resumed' in f[1]]}"
        )
        assert page.evaluate("arborRun.state.tree.status") == "completed"
    return results


@pytest.mark.timeout(900)  # ~8-15 s a run on an idle 2-core machine; far more when it is shared
def test_copy_and_run_of_a_2000_task_tree_converges_ten_times(user_page, arbor_server, tm, workers):
    """The reported bug: the page reconnects after loading a big running tree, more than 1,000
    events behind, gets a snapshot in parts and used to apply only the first part, then re-read the
    tree over REST and overwrote newer updates with it (docs/live.md)."""
    copy_and_run(user_page, arbor_server, tm, runs=RUNS)


@pytest.mark.timeout(600)
def test_the_self_check_resyncs_a_page_that_lost_updates(user_page, arbor_server, tm, workers):
    """Fault injection: the client loses every 97th task status without a gap in the sequence (as a
    lost or wrongly coalesced frame would). The self-check sees the counts differ at the tree's
    last_seq and resyncs from a snapshot, so the page still ends equal to the API."""
    user_page.add_init_script("window.ArborLiveFaults = {dropStatusEvery: 97};")
    results = copy_and_run(user_page, arbor_server, tm, runs=2)
    assert all(r["live"]["faults"] > 0 for r in results), results
    assert all(r["live"]["resyncs"] > 0 for r in results), results
