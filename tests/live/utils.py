"""Helpers for live-update tests: async tests without pytest-asyncio, communicators, tokens."""

from __future__ import annotations

import asyncio
import json

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from tasks_app.auth.websocket import TokenAuthMiddlewareStack
from tasks_app.live import hub as live_hub
from tasks_app.live.routing import websocket_urlpatterns
from tasks_app.models import ApiToken


def run(coro_fn, *args, **kwargs):
    """Run an async test body in a fresh loop; the loop's hub is stopped before the loop closes
    (its database thread closes its connection, so the test database can be dropped)."""

    async def main():
        try:
            return await coro_fn(*args, **kwargs)
        finally:
            await live_hub.shutdown()

    return async_to_sync(main)()


def application():
    from channels.routing import URLRouter

    return TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns))


def make_token(user) -> str:
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, name="live-test", key_prefix=raw[:12], digest=ApiToken.hash(raw))
    return raw


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    subprotocols=None,
    app=None,
    origin: str | None = None,
) -> WebsocketCommunicator:
    headers = []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(app or application(), path, headers=headers, subprotocols=subprotocols)


async def expect_close(comm: WebsocketCommunicator, timeout: float = 15.0) -> int:
    """Skip frames until the server closes; return the close code."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        out = await comm.receive_output(timeout=max(0.01, left))
        if out["type"] == "websocket.close":
            return out.get("code", 1000)


async def receive(comm: WebsocketCommunicator, timeout: float = 15.0) -> dict:
    out = await comm.receive_output(timeout=timeout)
    assert out["type"] == "websocket.send", out
    return json.loads(out["text"])


async def collect_until(comm, predicate, timeout: float = 20.0) -> list[dict]:
    """Frames until ``predicate(frame)`` is true for one (included)."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await receive(comm, timeout=max(0.01, deadline - loop.time()))
        frames.append(frame)
        if predicate(frame):
            return frames


def seqs_covered(frames) -> list[int]:
    """Every sequence number a client has accounted for: events sent plus ranges announced dropped."""
    out = []
    for f in frames:
        if f.get("type") == "event" and f.get("seq") is not None:
            out.append(f["seq"])
        elif f.get("type") == "dropped":
            for a, b in f["seqs"]:
                out.extend(range(a, b + 1))
    return out


def add_events(tree_id, items, *, actor_id=None):
    """Append events through the services' outbox (one transaction); ``items``: ``[(kind, task, data)]``."""
    from tasks_app.services.event_log import EventBuffer

    with transaction.atomic():
        buf = EventBuffer(actor_id=actor_id, source="test")
        for kind, task, data in items:
            buf.add(tree_id, kind, task_id=task, **data)
        return buf.flush()


adb = database_sync_to_async
