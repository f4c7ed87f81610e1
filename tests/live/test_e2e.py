"""Live updates through a real Daphne and a real django-q2 worker cluster (separate processes),
on the database under test (SQLite: the tailer polls; PostgreSQL: LISTEN/NOTIFY) and through
Redis when ``REDIS_URL`` is set."""

import asyncio
import os
import time

import pytest
from django.db import connection

from tasks_app.live import delivery
from tasks_app.models import Event, Task, Tree

from .e2e import DAPHNE_MAX_MESSAGE, MAX_MESSAGE, recv_json, run_client
from .utils import make_token, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.workers, pytest.mark.timeout(120)]

TERMINAL = {"completed", "failed", "cancelled"}


def tasks_500():
    """A root and 499 children: chains of five (each link depends on the one before)."""
    tasks = [{"id": "root", "name": "root", "executor": "noop"}]
    for i in range(499):
        task = {"id": f"c{i}", "name": f"c{i}", "executor": "noop", "parent_id": "root"}
        if i % 5:
            task["dependencies"] = [f"c{i - 1}"]
        tasks.append(task)
    return tasks


@pytest.fixture(params=["database", "redis"])
def wake_path(request, settings):
    """The delivery path: the database's own (poll on SQLite, NOTIFY on PostgreSQL) or Redis."""
    if request.param == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("REDIS_URL not set")
        assert delivery.wake_mode() == "redis"
    else:
        if os.environ.get("REDIS_URL"):
            pytest.skip("REDIS_URL is set: the redis run covers this process layout")
        assert delivery.wake_mode() == ("postgres" if connection.vendor == "postgresql" else "poll")
    settings.ARBOR_DISPATCH = "q2"  # this process enqueues drain jobs for the real cluster
    return request.param


def db_events(tree_id, after):
    return list(
        Event.objects.filter(tree_id=tree_id, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "kind", "task_id")
    )


def as_rows(frames):
    import uuid

    return [(f["seq"], f["kind"], uuid.UUID(f["task"]) if f["task"] else None) for f in frames]


async def until_terminal(ws, tree_id, frames, *, timeout=60.0):
    """Read event frames until the tree is terminal and the client is at the table's last seq."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = await recv_json(ws, timeout=max(0.1, deadline - time.monotonic()))
        frames.append(frame)
        if frame.get("kind") == "tree.status" and frame["data"]["status"] in TERMINAL:
            tree = Tree.objects.get(id=tree_id)
            if tree.status in TERMINAL and tree.last_seq == frame["seq"]:
                return frames
    raise AssertionError("the run did not finish in time")


def test_every_event_of_a_500_task_run_arrives_in_order(wake_path, tm, user, live_stack):
    tree = tm.create_tree(tasks_500())
    cookie = session_cookie(user)
    live_stack.start_daphne()
    live_stack.start_workers()

    async def body():
        async with live_stack.ws(f"/ws/trees/{tree.id}/", cookie=cookie) as ws:
            snap = await recv_json(ws)
            assert snap["type"] == "snapshot" and len(snap["tasks"]) == 500
            started = time.monotonic()
            tm.execute(tree.id)
            frames = await until_terminal(ws, tree.id, [])
            return snap, frames, time.monotonic() - started

    snap, frames, took = run_client(body)
    assert all(f["type"] == "event" for f in frames), {f["type"] for f in frames}
    assert as_rows(frames) == db_events(tree.id, snap["seq"])  # every event, in order, no gaps
    assert Tree.objects.get(id=tree.id).status == "completed"
    assert Task.objects.filter(tree=tree, status="completed").count() == 500
    assert took < 60


def test_a_client_that_reconnects_with_its_last_seq_ends_with_the_database_state(
    wake_path, tm, user, live_stack
):
    tree = tm.create_tree(tasks_500())
    token = make_token(user)
    live_stack.start_daphne()
    live_stack.start_workers()

    def apply(state, frame):
        if frame["type"] == "snapshot":
            state["tree"] = frame["tree"]["status"]
            state["tasks"] = {t["id"]: t["status"] for t in frame["tasks"]}
            state["seq"] = frame["seq"]
        elif frame["type"] == "event":
            assert frame["seq"] == state["seq"] + 1, (frame["seq"], state["seq"])
            state["seq"] = frame["seq"]
            if frame["kind"] == "task.status":
                state["tasks"][frame["task"]] = frame["data"]["status"]
            elif frame["kind"] == "tree.status":
                state["tree"] = frame["data"]["status"]

    async def body():
        state = {}
        path = f"/ws/trees/{tree.id}/"
        async with live_stack.ws(path, token=token) as ws:
            apply(state, await recv_json(ws))
            tm.execute(tree.id)
            while (
                state["seq"] < state.get("stop_at", 0)
                or len([1 for s in state["tasks"].values() if s == "completed"]) < 50
            ):
                apply(state, await recv_json(ws))
        left_at = state["seq"]
        await asyncio.sleep(0.5)  # the run goes on while the client is away
        missed = Tree.objects.get(id=tree.id).last_seq - left_at
        async with live_stack.ws(f"{path}?after_seq={state['seq']}", token=token) as ws:
            first = await recv_json(ws)
            # a replay of the gap, or a fresh snapshot if more than 1000 events were missed by then
            assert first["type"] in {"resumed", "snapshot"}
            if first["type"] == "snapshot":
                apply(state, first)
            frames = [] if state["tree"] in TERMINAL else await until_terminal(ws, tree.id, [])
            for frame in frames:
                apply(state, frame)
        return state, left_at, missed

    state, left_at, missed = run_client(body)
    assert missed > 0  # the client really missed events
    assert state["seq"] == Tree.objects.get(id=tree.id).last_seq
    assert state["tree"] == Tree.objects.get(id=tree.id).status == "completed"
    assert state["tasks"] == {
        str(i): s for i, s in Task.objects.filter(tree=tree).values_list("id", "status")
    }


def test_daphne_enforces_access_and_frame_limits(wake_path, tm, user, other_user, live_stack):
    from websockets.exceptions import ConnectionClosed

    tree = tm.create_tree([{"id": "x", "name": "x", "executor": "noop"}])
    mallory = session_cookie(other_user)
    alice = session_cookie(user)
    live_stack.start_daphne()

    async def close_code(path, cookie=None, send=None):
        async with live_stack.ws(path, cookie=cookie) as ws:
            try:
                if send is not None:
                    await recv_json(ws)
                    await ws.send(send)
                while True:
                    await recv_json(ws)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    async def body():
        return (
            await close_code(f"/ws/trees/{tree.id}/", cookie=mallory),
            await close_code(f"/ws/trees/{tree.id}/"),
            await close_code(f"/ws/trees/{tree.id}/", cookie=alice, send="x" * (MAX_MESSAGE + 1)),
            await close_code(f"/ws/trees/{tree.id}/", cookie=alice, send="x" * (DAPHNE_MAX_MESSAGE + 1)),
        )

    # beyond Daphne's own limit, autobahn drops the TCP connection (the client sees 1006)
    assert run_client(body) == (4404, 4401, 4009, None)


def test_rpc_streaming_execution_through_daphne_ends_when_the_tree_is_terminal(
    wake_path, tm, user, live_stack
):
    tree = tm.create_tree(tasks_500()[:60])
    token = make_token(user)
    live_stack.start_daphne()
    live_stack.start_workers()
    status, messages = live_stack.sse_post(
        "/tasks",
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tasks.execute",
            "params": {"task_id": str(tree.id), "use_streaming": True},
        },
        token=token,
    )
    assert status == 200
    assert messages[0]["data"]["id"] == 7 and messages[0]["data"]["result"]["root_task_id"] == str(tree.id)
    events = [m["data"] for m in messages if m.get("data", {}).get("type") == "event"]
    start = events[0]["seq"]
    assert events[0]["kind"] == "tree.status" and events[0]["data"]["status"] == "in_progress"
    assert as_rows(events) == db_events(tree.id, start - 1)
    assert messages[-2]["data"] == {"type": "final", "status": "completed"}
    assert messages[-1]["event"] == "end"
