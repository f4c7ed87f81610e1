"""apflow's CLI in API mode against a served Arbor: each command once, checked on its output.
Run with the apflow virtualenv's python; env: ARBOR_URL, ARBOR_TOKEN, APFLOW_BIN. Prints one
line per command ("PASS name" / "FAIL name: why") and a final "N passed, M failed"."""

import json
import os
import subprocess
import sys
import tempfile
import uuid

APFLOW = os.environ.get("APFLOW_BIN", "apflow")
ENV = {
    **os.environ,
    "APFLOW_CONFIG_DIR": tempfile.mkdtemp(prefix="apflow-cfg-"),
    "APFLOW_BASE_URL": os.environ["ARBOR_URL"],
    "APFLOW_ADMIN_AUTH_TOKEN": os.environ["ARBOR_TOKEN"],
    # a local database the CLI would fall back to: any answer from it is a failure below
    "APFLOW_DATABASE_URL": "duckdb:///" + os.path.join(tempfile.mkdtemp(prefix="apflow-db-"), "local.duckdb"),
}
results: list[tuple[str, bool, str]] = []
CWD = tempfile.mkdtemp(prefix="apflow-cwd-")  # the CLI writes .data/ where it runs


def api_mode() -> bool:
    """The CLI's own check (``POST /`` with ``{}`` must answer 200): without it every command runs
    against the CLI's local database, and an answer from there proves nothing."""
    import asyncio

    from apflow.core.config_manager import get_config_manager

    return bool(asyncio.run(get_config_manager().check_api_server_accessible(ENV["APFLOW_BASE_URL"])))


API_MODE = None


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    global API_MODE
    if API_MODE is None:
        API_MODE = api_mode()
    if not API_MODE:
        raise RuntimeError(
            "the CLI's health check (POST / {}) failed: it would run against its local database"
        )
    return subprocess.run([APFLOW, *args], env=ENV, capture_output=True, text=True, timeout=timeout, cwd=CWD)


def check(name: str, ok: bool, why: str = "") -> None:
    results.append((name, ok, why))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {why[:300]}"), flush=True)


def json_out(proc) -> object:
    text = proc.stdout
    start = min([i for i in (text.find("{"), text.find("[")) if i >= 0], default=-1)
    if start < 0:
        raise ValueError(f"no JSON in output: {text[:200]!r} {proc.stderr[-300:]!r}")
    return json.JSONDecoder().raw_decode(text[start:])[0]


def client_call(method: str, *args, **kwargs):
    """One call through the CLI's own API client (apflow.cli.api_client.APIClient)."""
    import asyncio

    from apflow.cli.api_client import APIClient

    async def go():
        async with APIClient(
            server_url=ENV["APFLOW_BASE_URL"], auth_token=ENV["APFLOW_ADMIN_AUTH_TOKEN"]
        ) as c:
            return await getattr(c, method)(*args, **kwargs)

    return asyncio.run(go())


def main() -> int:
    ref = f"cli-{uuid.uuid4().hex[:8]}"
    # the CLI's create: one task (with several, apflow's CLI expects {"task": ...} and crashes on the
    # list that apflow's own server returns; docs/apflow.md)
    path = os.path.join(tempfile.mkdtemp(), "tasks.json")
    with open(path, "w") as f:
        json.dump([{"id": f"{ref}-single", "name": f"{ref}-single", "executor": "noop"}], f)
    try:
        proc = run("tasks", "create", "--file", path)
        created = json_out(proc)
        check(
            "tasks create",
            proc.returncode == 0 and created.get("ref") == f"{ref}-single",
            f"rc={proc.returncode} " + (proc.stdout + proc.stderr)[-400:],
        )
    except Exception as exc:
        check("tasks create", False, str(exc))
    try:  # a tree with a child, through the CLI's client
        created = client_call(
            "create_tasks",
            [
                {
                    "id": ref,
                    "name": f"{ref}-root",
                    "schemas": {"method": "aggregate_results_executor"},
                    "dependencies": [{"id": f"{ref}-child", "required": True}],
                    "inputs": {},
                },
                {
                    "id": f"{ref}-child",
                    "name": f"{ref}-child",
                    "parent_id": ref,
                    "executor": "echo",
                    "inputs": {"v": 1},
                },
            ],
        )
        root_id = created[0]["id"]
        slow = client_call(
            "create_tasks",
            [{"id": f"{ref}-slow", "name": f"{ref}-slow", "executor": "sleep", "inputs": {"seconds": 30}}],
        )
        slow_id = slow["id"]
    except Exception as exc:
        check("APIClient.create_tasks (the CLI's client)", False, str(exc))
        print(f"{sum(ok for _, ok, _ in results)} passed, {sum(not ok for _, ok, _ in results)} failed")
        return 1
    check("APIClient.create_tasks (the CLI's client)", True)
    try:
        answer = client_call("execute_task", slow_id)
        check("APIClient.execute_task (the CLI's client)", answer.get("root_task_id") == slow_id, str(answer))
    except Exception as exc:
        check("APIClient.execute_task (the CLI's client)", False, str(exc))
    for name, args, predicate in [
        ("tasks list", ("tasks", "list"), lambda p: ref in p.stdout),
        ("tasks get", ("tasks", "get", root_id), lambda p: json_out(p).get("ref") == ref),
        ("tasks get (client id)", ("tasks", "get", ref), lambda p: json_out(p).get("id") == root_id),
        ("tasks tree", ("tasks", "tree", root_id), lambda p: f"{ref}-child" in p.stdout),
        (
            "tasks children",
            ("tasks", "children", "--parent-id", root_id),
            lambda p: f"{ref}-child" in p.stdout,
        ),
        ("tasks count", ("tasks", "count"), lambda p: p.returncode == 0 and "total" in p.stdout.lower()),
        ("tasks status", ("tasks", "status", root_id), lambda p: root_id in p.stdout or ref in p.stdout),
        (
            "tasks clone --dry-run",
            ("tasks", "clone", root_id, "--dry-run"),
            lambda p: f"{ref}-child" in p.stdout,
        ),
        (
            "tasks clone",
            ("tasks", "clone", root_id),
            lambda p: p.returncode == 0 and "Successfully" in p.stdout,
        ),
        (
            "tasks update",
            ("tasks", "update", f"{ref}-child", "--inputs", '{"v": 2}'),
            lambda p: p.returncode == 0 and '"v": 2' in p.stdout,
        ),
        (
            "tasks cancel",
            ("tasks", "cancel", slow_id),
            lambda p: p.returncode == 0 and "cancelled" in p.stdout,
        ),
        ("tasks delete", ("tasks", "delete", f"{ref}-single"), lambda p: p.returncode == 0),
        (
            "tasks scheduled list",
            ("tasks", "scheduled", "list"),
            lambda p: (
                p.returncode == 0 and "-32601" not in p.stdout + p.stderr and "404" not in p.stdout + p.stderr
            ),
        ),
    ]:
        try:
            proc = run(*args)
            check(name, bool(predicate(proc)), (proc.stdout + proc.stderr)[-400:])
        except Exception as exc:
            check(name, False, str(exc))
    api_client_calls(ref)
    passed = sum(1 for _, ok, _ in results if ok)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0


def api_client_calls(ref: str) -> None:
    """Each public method of the CLI's APIClient once, on a fresh tree (names "APIClient.<method>")."""
    base = f"{ref}-api"
    one: dict = {}
    steps = [
        (
            "create_task",
            lambda: one.update(client_call("create_task", f"{base}-one", "noop")) or one,
            lambda r: r.get("name") == f"{base}-one",
        ),
        (
            "create_tasks",
            lambda: client_call(
                "create_tasks",
                [
                    {"id": base, "name": base, "executor": "noop"},
                    {
                        "id": f"{base}-kid",
                        "name": f"{base}-kid",
                        "parent_id": base,
                        "executor": "sleep",
                        "inputs": {"seconds": 30},
                    },
                ],
            ),
            lambda r: isinstance(r, list) and len(r) == 2,
        ),
        ("get_task", lambda: client_call("get_task", base), lambda r: r.get("ref") == base),
        (
            "get_task_tree",
            lambda: client_call("get_task_tree", base),
            lambda r: len(r.get("children", [])) == 1,
        ),
        ("get_task_children", lambda: client_call("get_task_children", base), lambda r: len(r) == 1),
        (
            "list_tasks",
            lambda: client_call("list_tasks", limit=500),
            lambda r: any(t.get("ref") == base for t in r),
        ),
        ("count_tasks", lambda: client_call("count_tasks"), lambda r: "total" in r),
        (
            "update_task",
            lambda: client_call("update_task", f"{base}-kid", inputs={"seconds": 20}),
            lambda r: r.get("inputs") == {"seconds": 20},
        ),
        (
            "clone_task",
            lambda: client_call("clone_task", task_id=base, save=False),
            lambda r: isinstance(r, list),
        ),
        ("copy_task", lambda: client_call("copy_task", task_id=base), lambda r: bool(r)),
        ("execute_task", lambda: client_call("execute_task", base), lambda r: r.get("success") is True),
        (
            "get_task_status",
            lambda: client_call("get_task_status", f"{base}-kid"),
            lambda r: r.get("name") == f"{base}-kid",
        ),
        ("get_tasks_status", lambda: client_call("get_tasks_status", [base]), lambda r: len(r) == 1),
        ("call_method", lambda: client_call("call_method", "tasks.running.count"), lambda r: "count" in r),
        (
            "cancel_task",
            lambda: client_call("cancel_task", f"{base}-kid"),
            lambda r: r.get("status") == "cancelled",
        ),
        ("cancel_tasks", lambda: client_call("cancel_tasks", [one["id"]]), lambda r: len(r) == 1),
        ("delete_task", lambda: client_call("delete_task", one["id"]), lambda r: r.get("success") is True),
    ]
    for name, call, predicate in steps:
        try:
            answer = call()
            check(f"APIClient.{name}", bool(predicate(answer)), str(answer)[:300])
        except Exception as exc:
            check(f"APIClient.{name}", False, str(exc))


if __name__ == "__main__":
    sys.exit(main())
