"""Websocket consumers: ``ws/trees/<uuid>/`` (one tree) and ``ws/dashboard/`` (the user's trees).

They authenticate, check access exactly like the REST API, send a snapshot, then forward what the
process's hub reads from the event table. They never write. The protocol is in docs/live.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework.exceptions import ParseError

from tasks_app.api.limits import parse_json_text
from tasks_app.exceptions import LimitExceeded

from . import snapshot
from .events import STAFF_GROUP, tree_group, user_group
from .hub import cancel_task, get_hub, wait_event
from .middleware import SUBPROTOCOL
from .outbox import Outbox

logger = logging.getLogger(__name__)

# close codes (4000-4999: application-defined; Daphne cannot send 1008 or 1011)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # also for a tree the user may not read: the two are indistinguishable
CLOSE_TOO_BIG = 4009  # beyond Daphne's own limit (1 MiB by default) Daphne closes with 1009 first
CLOSE_RATE_LIMITED = 4429
CLOSE_SERVER_ERROR = 4500

MAX_REPLAY = 1000  # more missed events than this: a fresh snapshot instead
SNAPSHOT_CHUNK_BYTES = 256 * 1024  # a big tree's snapshot goes out in parts of about this size
# Daphne refuses to send a message over its --websocket-max-message-size (1 MiB by default, for
# both directions): an event bigger than this goes out without its data (the REST API has it).
MAX_OUT_BYTES = 768 * 1024


def _cfg(name: str, default):
    return type(default)(getattr(settings, name, default))


@database_sync_to_async
def _db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def still_allowed(scope, tree_id=None) -> tuple[int | None, object]:
    """Re-check a long-lived connection: ``(close code or None, fresh user)``."""
    user = scope.get("user")
    fresh = snapshot.fresh_user(getattr(user, "pk", None))
    if fresh is None:
        return CLOSE_UNAUTHENTICATED, None
    if scope.get("auth") == "token":
        from tasks_app.api.authentication import user_for_token

        current = user_for_token(scope.get("auth_token") or "")
        if current is None or current.pk != fresh.pk:
            return CLOSE_UNAUTHENTICATED, None
    elif not _session_still_valid(scope, fresh):
        return CLOSE_UNAUTHENTICATED, None
    if tree_id is not None and snapshot.readable_tree(fresh, tree_id) is None:
        return CLOSE_NOT_FOUND, fresh
    return None, fresh


def _session_still_valid(scope, user) -> bool:
    """The session row still exists (no logout) and still carries this user's auth hash (no
    password change)."""
    from importlib import import_module

    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
    from django.utils.crypto import constant_time_compare

    session = scope.get("session")
    key = getattr(session, "session_key", None)
    if not key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


class LiveConsumer(AsyncWebsocketConsumer):
    """Shared: authentication, inbound limits, the periodic re-check and the send loop."""

    # The consumers get events from the process's hub, not from a channel layer (see hub.py).
    channel_layer_alias = "arbor.live.no-channel-layer"

    max_frame_bytes = 64 * 1024
    max_messages_per_second = 10.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hub = None
        self.closed = False
        self._tasks: list[asyncio.Task] = []
        self._kick = asyncio.Event()
        self._tokens = self.max_messages_per_second
        self._tokens_at = time.monotonic()

    # --- connection -----------------------------------------------------------------------------

    async def reject(self, code: int) -> None:
        await self.accept(self._subprotocol())
        await self.shut(code)

    def _subprotocol(self):
        return SUBPROTOCOL if SUBPROTOCOL in (self.scope.get("subprotocols") or ()) else None

    def authenticated(self) -> bool:
        user = self.scope.get("user")
        return bool(user is not None and user.is_authenticated and user.is_active)

    async def shut(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.close(code)
        except Exception:
            pass

    def start_tasks(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._guard(self.pump())))
        self._tasks.append(asyncio.ensure_future(self._guard(self._recheck_loop())))

    async def _guard(self, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live connection failed")
            await self.shut(CLOSE_SERVER_ERROR)

    async def disconnect(self, code):
        self.closed = True
        if self.hub is not None:
            self.hub.unsubscribe(self)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                await cancel_task(task)

    async def send_json(self, frame: dict) -> None:
        text = json.dumps(frame, separators=(",", ":"), default=str)
        if len(text) > MAX_OUT_BYTES and frame.get("type") == "event":
            text = json.dumps({**frame, "data": {"truncated": True, "bytes": len(text)}},
                              separators=(",", ":"), default=str)
        await self.send(text_data=text)

    def kick(self) -> None:
        self._kick.set()

    async def wait_kick(self, timeout: float | None) -> None:
        await wait_event(self._kick, timeout)

    # --- inbound --------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > self.max_frame_bytes:
            await self.shut(CLOSE_TOO_BIG)
            return
        now = time.monotonic()
        self._tokens = min(self.max_messages_per_second,
                           self._tokens + (now - self._tokens_at) * self.max_messages_per_second)
        self._tokens_at = now
        if self._tokens < 1.0:
            await self.shut(CLOSE_RATE_LIMITED)
            return
        self._tokens -= 1.0
        try:
            # the HTTP API's rules: no NaN, bounded nesting (no RecursionError), no NUL, no lone surrogate
            text = text_data if text_data is not None else (bytes_data or b"").decode("utf-8")
            message = parse_json_text(text)
        except (TypeError, ValueError, ParseError, LimitExceeded):
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_json({"type": "error", "code": "bad_message", "message": "expected a JSON object with a 'type'"})
            return
        if message["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.on_message(message)

    async def on_message(self, message: dict) -> None:
        await self.send_json({"type": "error", "code": "unknown_type", "message": f"unknown type '{message['type']}'"})

    # --- periodic re-check ----------------------------------------------------------------------

    async def _recheck_loop(self) -> None:
        interval = _cfg("ARBOR_LIVE_RECHECK_SECONDS", 60.0)
        while not self.closed:
            await asyncio.sleep(interval)
            await self.recheck()

    async def recheck(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def pump(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class TreeConsumer(LiveConsumer):
    """One tree: snapshot (or resume), then its events in sequence order."""

    async def connect(self):
        if not self.authenticated():
            await self.reject(CLOSE_UNAUTHENTICATED)
            return
        tree = await _db(snapshot.readable_tree, self.scope["user"], self.scope["url_route"]["kwargs"]["tree_id"])
        if tree is None:
            await self.reject(CLOSE_NOT_FOUND)
            return
        self.tree_id = str(tree.id)
        self.outbox = Outbox(
            next_seq=1,
            max_backlog=_cfg("ARBOR_LIVE_MAX_BACKLOG", 2000),
            progress_per_second=_cfg("ARBOR_LIVE_PROGRESS_PER_SECOND", 10.0),
            log_per_second=_cfg("ARBOR_LIVE_LOG_PER_SECOND", 50.0),
            log_burst=_cfg("ARBOR_LIVE_LOG_BURST", 100.0),
        )
        self._resume_after = _after_seq(self.scope)
        self._want_snapshot = self._resume_after is None
        await self.accept(self._subprotocol())
        self.hub = get_hub()
        await self.hub.subscribe(self, {tree_group(self.tree_id)})  # before the first read: no race
        self.start_tasks()

    def on_events(self, events: list[dict]) -> None:
        """From the hub (same loop, must not block)."""
        self.outbox.push(events)
        self.kick()

    async def on_message(self, message: dict) -> None:
        if message["type"] == "resume":
            after = message.get("after_seq")
            if not isinstance(after, int) or isinstance(after, bool) or after < 0:
                await self.send_json({"type": "error", "code": "bad_message",
                                      "message": "'after_seq' must be a non-negative integer"})
                return
            self._resume_after = after
            self.kick()
        elif message["type"] == "snapshot":
            self._want_snapshot = True
            self.kick()
        else:
            await super().on_message(message)

    async def pump(self) -> None:
        while not self.closed:
            self._kick.clear()
            if self.outbox.deleted is not None:
                await self.send_json(self.outbox.deleted)
                await self.shut(CLOSE_NOT_FOUND)
                return
            if self._resume_after is not None:
                after, self._resume_after = self._resume_after, None
                if not await self._resume(after):
                    return
            if self._want_snapshot or self.outbox.overflowed:
                self._want_snapshot = False
                if not await self._snapshot():
                    return
            step = self.outbox.step()
            for frame in step.frames:
                await self.send_json(frame)
            if step.gap is not None:
                if not await self._fill_gap(*step.gap):
                    return
                continue
            await self.wait_kick(step.wait)

    async def _snapshot(self) -> bool:
        snap = await _db(snapshot.tree_snapshot, self.tree_id)
        if snap is None:
            await self.shut(CLOSE_NOT_FOUND)
            return False
        self.outbox.reset(snap["seq"])
        for frame in snapshot_frames(snap):
            await self.send_json(frame)
        return True

    async def _resume(self, after: int) -> bool:
        head = await _db(snapshot.tree_head, self.tree_id)
        if head is None:
            await self.shut(CLOSE_NOT_FOUND)
            return False
        last_seq = head[1]
        if after > last_seq or last_seq - after > MAX_REPLAY:
            return await self._snapshot()
        events = await _db(snapshot.tree_events_after, self.tree_id, after, limit=MAX_REPLAY)
        self.outbox.reset(after)
        self.outbox.push(events)
        await self.send_json({"type": "resumed", "after_seq": after, "seq": last_seq})
        return True

    async def _fill_gap(self, first_missing: int, first_queued: int) -> bool:
        if first_queued - first_missing > MAX_REPLAY:
            return await self._snapshot()
        events = await _db(snapshot.tree_events_after, self.tree_id, first_missing - 1,
                           before_seq=first_queued, limit=MAX_REPLAY)
        if not events or events[0]["seq"] != first_missing:
            return await self._snapshot()  # cannot happen while the tree exists; be safe
        self.outbox.push(events)
        return True

    async def recheck(self) -> None:
        code, _ = await _db(still_allowed, self.scope, self.tree_id)
        if code is not None:
            await self.shut(code)
            return
        # safety net for a lost wake-up: the table is ahead of what this connection has seen
        head = await _db(snapshot.tree_head, self.tree_id)
        if head is None:
            await self.shut(CLOSE_NOT_FOUND)
        elif head[1] > self.outbox.last_sent and not self.outbox.backlog:
            self.outbox.push(await _db(snapshot.tree_events_after, self.tree_id, self.outbox.last_sent,
                                       limit=MAX_REPLAY))
            self.kick()


class DashboardConsumer(LiveConsumer):
    """The user's trees (staff: all trees): a snapshot, then tree-level events as they happen and,
    at most every ``ARBOR_LIVE_COUNTS_SECONDS``, the counts of trees whose tasks changed."""

    counts_kinds = frozenset({"task.status", "tree.created", "tree.status", "tree.retry", "task.rerun",
                              "task.retry", "task.deleted"})

    async def connect(self):
        if not self.authenticated():
            await self.reject(CLOSE_UNAUTHENTICATED)
            return
        self.queue: list[dict] = []
        self.dirty: set[str] = set()
        self.overflowed = False
        self.max_backlog = _cfg("ARBOR_LIVE_MAX_BACKLOG", 2000)
        self.is_staff = bool(self.scope["user"].is_staff)
        await self.accept(self._subprotocol())
        self.hub = get_hub()
        await self.hub.subscribe(self, self._groups())
        self._want_snapshot = True
        self.start_tasks()

    def _groups(self) -> set[str]:
        return {STAFF_GROUP} if self.is_staff else {user_group(self.scope["user"].pk)}

    def on_events(self, events: list[dict]) -> None:
        for ev in events:
            kind = ev.get("kind")
            if kind in snapshot.DASHBOARD_KINDS:
                self.queue.append(ev)
            if kind in self.counts_kinds and ev.get("seq") is not None:
                self.dirty.add(ev["tree"])
        if len(self.queue) > self.max_backlog or len(self.dirty) > 500:
            self.overflowed = True
            self.queue.clear()
            self.dirty.clear()
        self.kick()

    async def on_message(self, message: dict) -> None:
        if message["type"] in {"snapshot", "resume"}:
            self._want_snapshot = True
            self.kick()
        else:
            await super().on_message(message)

    async def pump(self) -> None:
        interval = _cfg("ARBOR_LIVE_COUNTS_SECONDS", 0.5)
        last_counts = 0.0
        while not self.closed:
            self._kick.clear()
            if self._want_snapshot or self.overflowed:
                self._want_snapshot = self.overflowed = False
                self.queue.clear()
                self.dirty.clear()
                await self.send_json(await _db(snapshot.dashboard_snapshot, self.scope["user"]))
            queue, self.queue = self.queue, []
            for ev in queue:
                await self.send_json(ev)
            wait = None
            if self.dirty:
                due = last_counts + interval - time.monotonic()
                if due <= 0:
                    dirty, self.dirty = sorted(self.dirty), set()
                    last_counts = time.monotonic()
                    for summary in await _db(_summaries, dirty):
                        await self.send_json(summary)
                else:
                    wait = due
            await self.wait_kick(wait)

    async def recheck(self) -> None:
        code, fresh = await _db(still_allowed, self.scope)
        if code is not None:
            await self.shut(code)
            return
        if bool(fresh.is_staff) != self.is_staff:  # staff granted or revoked: new scope, new snapshot
            self.hub.unsubscribe(self)
            self.is_staff = bool(fresh.is_staff)
            self.scope["user"] = fresh
            await self.hub.subscribe(self, self._groups())
            self._want_snapshot = True
            self.kick()


def snapshot_frames(snap: dict, chunk_bytes: int = SNAPSHOT_CHUNK_BYTES) -> list[dict]:
    """A snapshot as frames: ``snapshot`` (the tree and the first tasks), then ``snapshot.more``
    frames with the rest of the tasks; ``more`` is false on the last one."""
    chunks, chunk, size = [], [], 0
    for task in snap["tasks"]:
        chunk.append(task)
        size += len(json.dumps(task, default=str))
        if size >= chunk_bytes:
            chunks.append(chunk)
            chunk, size = [], 0
    if chunk or not chunks:
        chunks.append(chunk)
    frames = [{**snap, "tasks": chunks[0], "more": len(chunks) > 1}]
    for i, part in enumerate(chunks[1:], start=2):
        frames.append({"type": "snapshot.more", "seq": snap["seq"], "tasks": part, "more": i < len(chunks)})
    return frames


def _summaries(tree_ids) -> list[dict]:
    return [s for s in (snapshot.tree_summary(t) for t in tree_ids) if s is not None]


def _after_seq(scope) -> int | None:
    values = parse_qs((scope.get("query_string") or b"").decode("latin1")).get("after_seq")
    if not values:
        return None
    try:
        value = int(values[-1])
    except ValueError:
        return None
    return value if value >= 0 else None
