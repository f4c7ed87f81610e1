"""Server-Sent Events for JSON-RPC ``tasks.execute`` with ``use_streaming`` (both generators)."""

import asyncio
import json

import pytest
from django.test import AsyncRequestFactory, RequestFactory

from tasks_app.live.sse import stream_tree_events
from tasks_app.models import Event, Tree
from tasks_app.services import control
from tasks_app.worker.loop import run_until_idle

from .utils import adb, make_token, run

pytestmark = pytest.mark.django_db(transaction=True)


def parse(chunks) -> list[dict]:
    """SSE text -> [{"id", "event", "data", "comment"}] in order."""
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    out = []
    for block in text.split("\n\n"):
        if not block:
            continue
        msg = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                msg["comment"] = line[1:].strip()
            else:
                key, _, value = line.partition(": ")
                msg[key] = json.loads(value) if key == "data" else value
        out.append(msg)
    return out


def check_stream(messages, tree_id, *, rpc_id=1):
    assert messages[0]["data"]["id"] == rpc_id and messages[0]["data"]["result"]["root_task_id"] == str(
        tree_id
    )
    events = [m for m in messages if m.get("data", {}).get("type") == "event"]
    start = Event.objects.filter(tree_id=tree_id, kind="tree.status").order_by("-seq")
    start = next(e.seq for e in start if e.data.get("status") == "in_progress")
    last = Tree.objects.get(id=tree_id).last_seq
    assert [e["data"]["seq"] for e in events] == list(range(start, last + 1))
    assert [int(e["id"]) for e in events] == [e["data"]["seq"] for e in events]
    assert events[-1]["data"]["kind"] == "tree.status" and events[-1]["data"]["data"]["status"] == "completed"
    assert messages[-2]["data"] == {"type": "final", "status": "completed"}
    assert messages[-1] == {"event": "end", "data": {}}


def test_rpc_execute_with_use_streaming_streams_the_whole_run(client, small_tree, user, settings):
    settings.ARBOR_DISPATCH = "inline"  # the run finishes before the response starts
    token = make_token(user)
    response = client.post(
        "/tasks",
        data={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tasks.execute",
            "params": {"task_id": str(small_tree.id), "use_streaming": True},
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream; charset=utf-8"
    messages = parse(response.streaming_content)
    check_stream(messages, small_tree.id)


def test_the_stream_waits_for_the_whole_tree_with_keepalives(small_tree, user):
    tree = control.tree_execute(tree=small_tree, actor=user)
    response = stream_tree_events(
        request=RequestFactory().post("/tasks"),
        tree=tree,
        rpc_id=1,
        first_result={"root_task_id": str(tree.id)},
        keepalive=0.05,
    )
    chunks = iter(response.streaming_content)
    head = []
    while True:  # the result and the run's first events, then silence: a keepalive
        head.append(next(chunks))
        if head[-1].decode().startswith(": keepalive"):
            break
    run_until_idle(timeout=30)  # only now does the tree finish
    messages = parse(head + list(chunks))
    check_stream([m for m in messages if "comment" not in m], tree.id)
    assert any(m.get("comment") == "keepalive" for m in messages)


def test_the_async_stream_follows_a_running_tree(small_tree, user):
    tree = control.tree_execute(tree=small_tree, actor=user)

    async def body():
        request = AsyncRequestFactory().post("/tasks")
        response = await adb(stream_tree_events)(
            request=request, tree=tree, rpc_id="r", first_result={"root_task_id": str(tree.id)}
        )
        chunks = []

        async def consume():
            async for chunk in response.streaming_content:
                chunks.append(chunk)

        reader = asyncio.ensure_future(consume())
        await asyncio.sleep(0.2)
        assert not reader.done()  # the tree is still pending: the stream stays open
        await adb(run_until_idle)(timeout=30)
        await asyncio.wait_for(reader, 10)
        return chunks

    messages = parse(run(body))
    check_stream(messages, tree.id, rpc_id="r")


def test_a_deleted_tree_ends_the_stream(user, tm):
    from tasks_app.services.tasks import tree_delete

    tree = tm.create_tree([{"id": "x", "name": "x", "executor": "noop"}])
    response = stream_tree_events(
        request=RequestFactory().post("/tasks"),
        tree=tree,
        rpc_id=1,
        first_result={},
        after_seq=Tree.objects.get(id=tree.id).last_seq,
    )
    chunks = iter(response.streaming_content)
    first = next(chunks)
    tree_delete(tree=tree, actor=user)
    messages = parse([first, *chunks])
    assert messages[-2]["data"] == {"type": "final", "status": "deleted"}
