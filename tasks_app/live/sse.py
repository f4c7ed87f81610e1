"""Server-Sent Events for programs: JSON-RPC ``tasks.execute`` with ``use_streaming: true``.

The stream is: the JSON-RPC result, then every event of the tree in sequence order from the start
of the current run (read from the event table; the process's hub wakes the reader, with polling as
the fallback), ``: keepalive`` comments during silences, and it ends only when the whole tree is
terminal and no event follows its final ``tree.status``: a ``{"type": "final", "status": ...}``
message, then ``event: end``. Under Daphne the body is an async generator; under WSGI (and the
test client) a plain generator that polls.
"""

from __future__ import annotations

import asyncio
import json
import time

from channels.db import database_sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

from . import reads
from .events import tree_group

KEEPALIVE_SECONDS = 15.0
BACKSTOP_SECONDS = 1.0  # re-read the table at least this often, even without a wake-up
PAGE = 500


def stream_tree_events(
    *,
    request,
    tree,
    rpc_id,
    first_result: dict,
    after_seq: int | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
    apflow: bool = False,
) -> StreamingHttpResponse:
    """A ``text/event-stream`` response: the JSON-RPC result, then the tree's events until it is
    terminal. ``after_seq`` defaults to just before the current run's ``tree.status in_progress``.
    ``apflow``: the events in apflow's shape (:func:`apflow_event`), ending with ``final``
    (``final: true``) and ``stream_end``."""
    tree_id = str(tree.id)
    start = after_seq if after_seq is not None else reads.run_start_seq(tree_id)
    prelude = _message({"jsonrpc": "2.0", "id": rpc_id, "result": first_result})
    django_request = getattr(request, "_request", request)
    shape = _apflow_shape(tree_id) if apflow else None
    if isinstance(django_request, ASGIRequest):
        content = _async_stream(tree_id, start, prelude, keepalive, shape)
    else:
        content = _sync_stream(tree_id, start, prelude, keepalive, shape)
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def _message(data: dict, *, event: str | None = None, event_id=None) -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), default=str))
    return "\n".join(lines) + "\n\n"


def _ending(status: str) -> str:
    return _message({"type": "final", "status": status}) + _message({}, event="end")


# Arbor task status -> apflow's event type
APFLOW_TYPES = {
    "in_progress": "task_start",
    "completed": "task_completed",
    "failed": "task_failed",
    "cancelled": "task_cancelled",
    "pending": "task_pending",
}


def apflow_event(ev: dict) -> dict:
    """One Arbor event in apflow's streaming shape: ``type``, ``task_id`` and ``status`` at the top
    level (docs/apflow.md). Only the closing ``final`` event carries ``final: true`` (apflow also
    sets it on every task completion, which makes its clients stop at the first finished task)."""
    data = ev.get("data") or {}
    kind = ev.get("kind", "")
    out = {
        "task_id": ev.get("task") or data.get("task_id") or ev.get("tree"),
        "root_task_id": ev.get("tree"),
        "timestamp": ev.get("at"),
        "seq": ev.get("seq"),
        "final": False,
    }
    if kind == "task.status":
        out["type"] = APFLOW_TYPES.get(str(data.get("status")), "task_status")
        out["status"] = data.get("status")
        for key in ("result", "error", "error_type"):
            if key in data:
                out[key] = data[key]
    elif kind == "task.progress":
        out.update(
            type="progress",
            status="in_progress",
            progress=data.get("progress"),
            message=data.get("message", ""),
        )
    elif kind == "tree.status":
        out.update(type="tree_status", status=data.get("status"), task_id=ev.get("tree"))
    else:
        out.update(type=kind.replace(".", "_"), status=data.get("status"), data=data)
    return out


def _apflow_shape(tree_id: str):
    def ending(status: str) -> str:
        root = reads.root_outcome(tree_id) if status != "deleted" else {}
        final = {
            "type": "final",
            "task_id": tree_id,
            "root_task_id": tree_id,
            "status": status,
            "final": True,
            "result": root.get("result"),
            "error": root.get("error"),
        }
        return _message(final) + _message({"type": "stream_end", "task_id": tree_id, "status": status})

    return apflow_event, ending


def _read(tree_id, after: int):
    """``(events after ``after``, head)``; head is read after the events, so an empty page with a
    terminal head at ``after`` really is the end."""
    events = reads.tree_events_after(tree_id, after, limit=PAGE)
    head = None if events else reads.tree_head(tree_id)
    return events, head


def _finished(head, last: int) -> str | None:
    if head is None:
        return "deleted"
    status, last_seq = head
    return status if status in reads.TERMINAL_VALUES and last_seq <= last else None


class _Waker:
    def __init__(self):
        self.event = asyncio.Event()

    def on_events(self, events) -> None:
        self.event.set()


async def _async_stream(tree_id: str, after: int, prelude: str, keepalive: float, shape=None):
    from .hub import get_hub, wait_event

    convert, ending = shape or (None, _ending)
    ending_async = database_sync_to_async(ending) if shape is not None else None

    yield prelude
    hub = get_hub()
    waker = _Waker()
    await hub.subscribe(waker, {tree_group(tree_id)})
    read = database_sync_to_async(_read)
    try:
        quiet_since = time.monotonic()
        while True:
            waker.event.clear()
            events, head = await read(tree_id, after)
            for ev in events:
                after = ev["seq"]
                yield _message(convert(ev) if convert else ev, event_id=ev["seq"])
            if events:
                quiet_since = time.monotonic()
                continue
            status = _finished(head, after)
            if status is not None:
                yield (await ending_async(status)) if ending_async is not None else ending(status)
                return
            silent = time.monotonic() - quiet_since
            if silent >= keepalive:
                yield ": keepalive\n\n"
                quiet_since = time.monotonic()
                silent = 0.0
            await wait_event(waker.event, min(BACKSTOP_SECONDS, keepalive - silent))
    finally:
        hub.unsubscribe(waker)


def _sync_stream(tree_id: str, after: int, prelude: str, keepalive: float, shape=None):
    convert, ending = shape or (None, _ending)
    yield prelude
    quiet_since = time.monotonic()
    delay = 0.02
    while True:
        events, head = _read(tree_id, after)
        for ev in events:
            after = ev["seq"]
            yield _message(convert(ev) if convert else ev, event_id=ev["seq"])
        if events:
            quiet_since = time.monotonic()
            delay = 0.02
            continue
        status = _finished(head, after)
        if status is not None:
            yield ending(status)
            return
        if time.monotonic() - quiet_since >= keepalive:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
