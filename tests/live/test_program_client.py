"""A program client on the shared socket (``ws/live/``) with the ``websockets`` library, against a
real Daphne and a real worker cluster: two trees on one connection, one resumed by ``seq``; the
events it receives equal the REST event log's, key for key and value for value (docs/live.md)."""

import json
import time
import urllib.request

import pytest

from tasks_app.models import Tree

from .e2e import recv_json, run_client
from .utils import make_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.workers, pytest.mark.timeout(180)]

TERMINAL = {"completed", "failed", "cancelled"}


def chain_tree(prefix: str, n: int = 30) -> list[dict]:
    tasks = [{"id": "root", "name": f"{prefix}-root", "executor": "noop"}]
    for i in range(n - 1):
        task = {"id": f"t{i}", "name": f"{prefix}-{i}", "executor": "noop", "parent_id": "root"}
        if i % 3:
            task["dependencies"] = [f"t{i - 1}"]
        tasks.append(task)
    return tasks


def rest_events(stack, token: str, tree_id, after: int) -> list[dict]:
    """Every event after ``after`` from ``GET /api/v1/trees/{id}/events/``, following ``next``."""
    url = f"{stack.origin}/api/v1/trees/{tree_id}/events/?after_seq={after}&limit=500"
    out = []
    while url:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            page = json.loads(resp.read())
        out.extend(page["results"])
        url = page["next"]
    return out


def wait_terminal(tree_id, timeout: float = 60.0) -> Tree:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = Tree.objects.get(id=tree_id)
        if tree.status in TERMINAL:
            return tree
        time.sleep(0.1)
    raise AssertionError("the run did not finish in time")


def test_one_socket_two_trees_one_resumed_events_equal_rest(tm, user, live_stack, settings):
    settings.ARBOR_DISPATCH = "q2"  # this process enqueues drain jobs for the real cluster
    a = tm.create_tree(chain_tree("a"))
    b = tm.create_tree(chain_tree("b"))
    token = make_token(user)
    live_stack.start_daphne()
    live_stack.start_workers()
    tm.execute(b.id)  # b runs to the end before the client comes: it resumes from the middle
    b_last = wait_terminal(b.id).last_seq
    b_from = b_last // 2

    async def body():
        frames = []
        async with live_stack.ws("/ws/live/", token=token) as ws:
            await ws.send(json.dumps({"type": "subscribe", "id": "sub-a", "tree": str(a.id)}))
            await ws.send(json.dumps({"type": "subscribe", "id": 7, "tree": str(b.id), "after_seq": b_from}))
            replies = {}
            snap = None
            while len(replies) < 2 or snap is None:
                frame = await recv_json(ws)
                if frame["type"] == "subscribed":
                    replies[frame["id"]] = frame
                elif frame["type"] == "snapshot":
                    snap = frame
                else:
                    frames.append(frame)
            assert replies["sub-a"]["tree"] == str(a.id) and replies["sub-a"]["snapshot"] is True
            assert replies["sub-a"]["seq"] == snap["seq"] and snap["tree"]["id"] == str(a.id)
            assert replies[7] == {
                "type": "subscribed",
                "id": 7,
                "tree": str(b.id),
                "after_seq": b_from,
                "seq": b_last,
                "snapshot": False,
            }
            tm.execute(a.id)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                frame = await recv_json(ws)
                frames.append(frame)
                if (
                    frame.get("tree") == str(a.id)
                    and frame.get("kind") == "tree.status"
                    and frame["data"]["status"] in TERMINAL
                ):
                    tree = Tree.objects.get(id=a.id)
                    if tree.status in TERMINAL and tree.last_seq == frame["seq"]:
                        break
            await ws.send(json.dumps({"type": "unsubscribe", "id": "bye", "tree": str(b.id)}))
            while True:
                frame = await recv_json(ws)
                if frame["type"] == "unsubscribed":
                    assert frame == {"type": "unsubscribed", "id": "bye", "tree": str(b.id)}
                    break
        return snap, frames

    snap, frames = run_client(body)
    events = [f for f in frames if f["type"] == "event"]
    on_socket = {t: [e for e in events if e["tree"] == str(t)] for t in (a.id, b.id)}
    assert [e["seq"] for e in on_socket[b.id]] == list(range(b_from + 1, b_last + 1))
    assert len(on_socket[a.id]) > 60
    # the same events over REST: equal as JSON, key for key, value for value
    for tree_id, after in ((a.id, snap["seq"]), (b.id, b_from)):
        rest = rest_events(live_stack, token, tree_id, after)
        assert [json.dumps(e, sort_keys=True) for e in on_socket[tree_id]] == [
            json.dumps(e, sort_keys=True) for e in rest
        ]
    assert {e["actor"] for e in on_socket[a.id]} <= {"alice", None}
