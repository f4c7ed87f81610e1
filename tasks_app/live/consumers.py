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

from tasks_app import conf
from tasks_app.auth.websocket import SUBPROTOCOL
from tasks_app.exceptions import LimitExceeded
from tasks_app.input_limits import parse_json_text
from tasks_app.ratelimit import TokenBucket

from . import reads
from .events import STAFF_GROUP, tree_group, user_group
from .hub import cancel_task, get_hub, wait_event
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


def _cfg(name: str, default=None):
    """A declared setting (``tasks_app.conf``), converted to the type of the value it replaces."""
    value = conf.get(name)
    return type(default)(value) if default is not None else value


@database_sync_to_async
def _db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def still_allowed(scope, tree_id=None) -> tuple[int | None, object]:
    """Re-check a long-lived connection: ``(close code or None, fresh user)``."""
    user = scope.get("user")
    fresh = reads.fresh_user(getattr(user, "pk", None))
    if fresh is None:
        return CLOSE_UNAUTHENTICATED, None
    if scope.get("auth") == "token":
        from tasks_app.auth.bearer import user_for_token

        current = user_for_token(scope.get("auth_token") or "", request=scope, source="ws")
        if current is None or current.pk != fresh.pk:
            return CLOSE_UNAUTHENTICATED, None
    elif not _session_still_valid(scope, fresh):
        return CLOSE_UNAUTHENTICATED, None
    if tree_id is not None and reads.readable_tree(fresh, tree_id) is None:
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
        self._inbound = TokenBucket(self.max_messages_per_second, self.max_messages_per_second)

    # --- connection -----------------------------------------------------------------------------

    async def reject(self, code: int) -> None:
        await self.accept(self._subprotocol())
        await self.shut(code, reason=self.scope.get("auth_error") if code == CLOSE_UNAUTHENTICATED else None)

    def _subprotocol(self):
        return SUBPROTOCOL if SUBPROTOCOL in (self.scope.get("subprotocols") or ()) else None

    def authenticated(self) -> bool:
        user = self.scope.get("user")
        return bool(user is not None and user.is_authenticated and user.is_active)

    async def shut(self, code: int, reason: str | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.close(code, reason=reason)
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
            text = json.dumps(
                {**frame, "data": {"truncated": True, "bytes": len(text)}}, separators=(",", ":"), default=str
            )
        await self.send(text_data=text)

    async def send_reply(self, request: dict, frame: dict) -> None:
        """A reply names the request it answers: the request's ``id`` (a short string or an
        integer), when it has one."""
        rid = request.get("id")
        if isinstance(rid, int | str) and not isinstance(rid, bool) and len(str(rid)) <= 100:
            frame = {**frame, "id": rid}
        await self.send_json(frame)

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
        if not self._inbound.take():
            await self.shut(CLOSE_RATE_LIMITED)
            return
        try:
            # the HTTP API's rules: no NaN, bounded nesting (no RecursionError), no NUL, no lone surrogate
            text = text_data if text_data is not None else (bytes_data or b"").decode("utf-8")
            message = parse_json_text(text)
        except (TypeError, ValueError, ParseError, LimitExceeded):
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.send_json(
                {"type": "error", "code": "bad_message", "message": "expected a JSON object with a 'type'"}
            )
            return
        if message["type"] == "ping":
            await self.send_reply(message, {"type": "pong"})
            return
        await self.on_message(message)

    async def on_message(self, message: dict) -> None:
        await self.send_reply(
            message, {"type": "error", "code": "unknown_type", "message": f"unknown type '{message['type']}'"}
        )

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


ENDED = object()  # TreeFeed.run_once: the tree is gone (deleted, or no longer readable)


class TreeFeed:
    """One tree's stream on a connection: a snapshot (or a resume from a sequence number), then the
    tree's events in sequence order through an :class:`Outbox`. A tree socket has one; a shared
    socket (``ws/live/``) one per subscribed tree.

    ``reply`` (shared sockets): the ``subscribed`` answer, sent before the feed's first frame, with
    the sequence number the feed starts from."""

    def __init__(self, conn: LiveConsumer, tree_id: str, *, after_seq: int | None, reply: dict | None = None):
        self.conn = conn
        self.tree_id = tree_id
        self.reply = reply
        self.outbox = Outbox(
            next_seq=1,
            max_backlog=_cfg("ARBOR_LIVE_MAX_BACKLOG", 2000),
            progress_per_second=_cfg("ARBOR_LIVE_PROGRESS_PER_SECOND", 10.0),
            log_per_second=_cfg("ARBOR_LIVE_LOG_PER_SECOND", 50.0),
            log_burst=_cfg("ARBOR_LIVE_LOG_BURST", 100.0),
        )
        self.resume_after = after_seq
        self.want_snapshot = after_seq is None

    async def send(self, frame: dict) -> None:
        await self.conn.send_json(frame)

    async def run_once(self):
        """Send what is due now: ``0`` (call again at once), seconds to wait, None (wait for a
        kick), or ``ENDED``."""
        if self.outbox.deleted is not None:
            await self.send(self.outbox.deleted)
            return ENDED
        if self.resume_after is not None:
            after, self.resume_after = self.resume_after, None
            if not await self._resume(after):
                return ENDED
        if self.want_snapshot or self.outbox.overflowed:
            self.want_snapshot = False
            if not await self._snapshot():
                return ENDED
        step = self.outbox.step()
        for frame in step.frames:
            if frame.get("type") == "dropped":
                frame = {**frame, "tree": self.tree_id}
            await self.send(frame)
        if step.gap is not None:
            if not await self._fill_gap(*step.gap):
                return ENDED
            return 0
        return step.wait

    async def _snapshot(self) -> bool:
        snap = await _db(reads.tree_snapshot, self.tree_id)
        if snap is None:
            return False
        self.outbox.reset(snap["seq"])
        if self.reply is not None:
            reply, self.reply = self.reply, None
            await self.send({**reply, "seq": snap["seq"], "snapshot": True})
        for frame in snapshot_frames(snap):
            await self.send(frame)
        return True

    async def _resume(self, after: int) -> bool:
        head = await _db(reads.tree_head, self.tree_id)
        if head is None:
            return False
        last_seq = head[1]
        if after > last_seq or last_seq - after > MAX_REPLAY:
            return await self._snapshot()
        events = await _db(reads.tree_events_after, self.tree_id, after, limit=MAX_REPLAY)
        self.outbox.reset(after)
        self.outbox.push(events)
        if self.reply is not None:
            reply, self.reply = self.reply, None
            await self.send({**reply, "after_seq": after, "seq": last_seq, "snapshot": False})
        else:
            await self.send({"type": "resumed", "after_seq": after, "seq": last_seq})
        return True

    async def _fill_gap(self, first_missing: int, first_queued: int) -> bool:
        if first_queued - first_missing > MAX_REPLAY:
            return await self._snapshot()
        events = await _db(
            reads.tree_events_after,
            self.tree_id,
            first_missing - 1,
            before_seq=first_queued,
            limit=MAX_REPLAY,
        )
        if not events or events[0]["seq"] != first_missing:
            return await self._snapshot()  # cannot happen while the tree exists; be safe
        self.outbox.push(events)
        return True

    async def catch_up_if_behind(self) -> bool:
        """Safety net for a lost wake-up: the table is ahead of what this feed has seen. False if
        the tree is gone."""
        head = await _db(reads.tree_head, self.tree_id)
        if head is None:
            return False
        if head[1] > self.outbox.last_sent and not self.outbox.backlog:
            self.outbox.push(
                await _db(reads.tree_events_after, self.tree_id, self.outbox.last_sent, limit=MAX_REPLAY)
            )
            self.conn.kick()
        return True


class TreeConsumer(LiveConsumer):
    """One tree: snapshot (or resume), then its events in sequence order."""

    async def connect(self):
        if not self.authenticated():
            await self.reject(CLOSE_UNAUTHENTICATED)
            return
        tree = await _db(
            reads.readable_tree,
            self.scope["user"],
            self.scope["url_route"]["kwargs"]["tree_id"],
            scope=self.scope,
        )
        if tree is None:
            await self.reject(CLOSE_NOT_FOUND)
            return
        self.tree_id = str(tree.id)
        self.feed = TreeFeed(self, self.tree_id, after_seq=_after_seq(self.scope))
        await self.accept(self._subprotocol())
        self.hub = get_hub()
        await self.hub.subscribe(self, {tree_group(self.tree_id)})  # before the first read: no race
        self.start_tasks()

    @property
    def outbox(self) -> Outbox:
        return self.feed.outbox

    def on_events(self, events: list[dict]) -> None:
        """From the hub (same loop, must not block)."""
        self.feed.outbox.push(events)
        self.kick()

    async def on_message(self, message: dict) -> None:
        if message["type"] == "resume":
            after = message.get("after_seq")
            if not _is_seq(after):
                await self.send_reply(
                    message,
                    {
                        "type": "error",
                        "code": "bad_message",
                        "message": "'after_seq' must be a non-negative integer",
                    },
                )
                return
            self.feed.resume_after = after
            self.kick()
        elif message["type"] == "snapshot":
            self.feed.want_snapshot = True
            self.kick()
        elif message["type"] == "check":
            check = await _db(reads.tree_check, self.tree_id)
            if check is None:
                await self.shut(CLOSE_NOT_FOUND)
                return
            await self.send_reply(message, check)
        else:
            await super().on_message(message)

    async def pump(self) -> None:
        while not self.closed:
            self._kick.clear()
            wait = await self.feed.run_once()
            if wait is ENDED:
                await self.shut(CLOSE_NOT_FOUND)
                return
            if wait == 0:
                continue
            await self.wait_kick(wait)

    async def recheck(self) -> None:
        code, _ = await _db(still_allowed, self.scope, self.tree_id)
        if code is not None:
            await self.shut(code)
            return
        if not await self.feed.catch_up_if_behind():
            await self.shut(CLOSE_NOT_FOUND)


class LiveMuxConsumer(LiveConsumer):
    """``ws/live/``: one socket, many trees. ``subscribe`` / ``unsubscribe`` messages, each tree
    resumed by its own sequence number; every reply names the request (``id``) it answers. The
    protocol is in docs/live.md ("One socket for many trees")."""

    max_subscriptions = 100

    async def connect(self):
        if not self.authenticated():
            await self.reject(CLOSE_UNAUTHENTICATED)
            return
        self.feeds: dict[str, TreeFeed] = {}
        self.dashboard: DashboardFeed | None = None
        self.max_subscriptions = _cfg("ARBOR_LIVE_MAX_SUBSCRIPTIONS", self.max_subscriptions)
        await self.accept(self._subprotocol())
        self.hub = get_hub()
        await self.hub.subscribe(self, set())
        self.start_tasks()

    def on_events(self, events: list[dict]) -> None:
        for ev in events:
            feed = self.feeds.get(str(ev.get("tree")))
            if feed is not None:
                feed.outbox.push([ev])
        if self.dashboard is not None:
            self.dashboard.on_events(events)
        self.kick()

    def _regroup(self) -> None:
        groups = {tree_group(t) for t in self.feeds}
        if self.dashboard is not None:
            groups |= self.dashboard.groups()
        assert self.hub is not None  # set on connect
        self.hub.regroup(self, groups)

    async def on_message(self, message: dict) -> None:
        kind = message["type"]
        if kind not in {"subscribe", "unsubscribe", "snapshot", "check"}:
            await super().on_message(message)
            return
        if message.get("dashboard") is True and kind in {"subscribe", "unsubscribe", "snapshot"}:
            await self._dashboard_message(message, kind)
            return
        tree_id = _tree_id(message.get("tree"))
        if tree_id is None:
            await self.send_reply(
                message, {"type": "error", "code": "bad_message", "message": "'tree' must be a tree id"}
            )
            return
        if kind == "subscribe":
            await self._subscribe(message, tree_id)
            return
        feed = self.feeds.get(tree_id)
        if feed is None:
            await self.send_reply(
                message,
                {
                    "type": "error",
                    "code": "not_subscribed",
                    "tree": tree_id,
                    "message": "not subscribed to this tree",
                },
            )
        elif kind == "unsubscribe":
            del self.feeds[tree_id]
            self._regroup()
            await self.send_reply(message, {"type": "unsubscribed", "tree": tree_id})
        elif kind == "snapshot":
            feed.want_snapshot = True
            self.kick()
        else:
            check = await _db(reads.tree_check, tree_id)
            if check is None:
                await self._end(tree_id)
                return
            await self.send_reply(message, {**check, "tree": tree_id})

    async def _dashboard_message(self, message: dict, kind: str) -> None:
        if kind == "subscribe":
            reply = {"type": "subscribed", "dashboard": True}
            if "id" in message:
                reply["id"] = message["id"]
            sees_all = await _db(reads.sees_all_trees, self.scope["user"])
            self.dashboard = DashboardFeed(self, sees_all=sees_all, reply=reply, mark={"dashboard": True})
            self._regroup()
            self.kick()
        elif self.dashboard is None:
            await self.send_reply(
                message,
                {
                    "type": "error",
                    "code": "not_subscribed",
                    "dashboard": True,
                    "message": "not subscribed to the dashboard",
                },
            )
        elif kind == "unsubscribe":
            self.dashboard = None
            self._regroup()
            await self.send_reply(message, {"type": "unsubscribed", "dashboard": True})
        else:
            self.dashboard.want_snapshot = True
            self.kick()

    async def _subscribe(self, message: dict, tree_id: str) -> None:
        after = message.get("after_seq")
        if after is not None and not _is_seq(after):
            await self.send_reply(
                message,
                {
                    "type": "error",
                    "code": "bad_message",
                    "tree": tree_id,
                    "message": "'after_seq' must be a non-negative integer",
                },
            )
            return
        if tree_id not in self.feeds and len(self.feeds) >= self.max_subscriptions:
            await self.send_reply(
                message,
                {
                    "type": "error",
                    "code": "too_many",
                    "tree": tree_id,
                    "message": f"at most {self.max_subscriptions} trees per socket",
                },
            )
            return
        tree = await _db(reads.readable_tree, self.scope["user"], tree_id, scope=self.scope)
        if tree is None:  # missing and foreign are indistinguishable, as in the REST API
            await self.send_reply(
                message, {"type": "error", "code": "not_found", "tree": tree_id, "message": "no such tree"}
            )
            return
        reply = {"type": "subscribed", "tree": tree_id}
        if "id" in message:
            reply["id"] = message["id"]
        # subscribing again restarts the tree's feed from the given point
        self.feeds[tree_id] = TreeFeed(self, tree_id, after_seq=after, reply=reply)
        self._regroup()  # before the feed's first read: no race
        self.kick()

    async def _end(self, tree_id: str, deleted: bool = False) -> None:
        """The tree is gone or no longer readable: the subscription ends (the socket stays)."""
        if self.feeds.pop(tree_id, None) is not None:
            self._regroup()
            await self.send_json(
                {"type": "unsubscribed", "tree": tree_id, "reason": "deleted" if deleted else "not_found"}
            )

    async def pump(self) -> None:
        while not self.closed:
            self._kick.clear()
            wait = None
            if self.dashboard is not None:
                wait = await self.dashboard.run_once()
            for tree_id, feed in list(self.feeds.items()):
                if self.feeds.get(tree_id) is not feed:
                    continue  # unsubscribed or replaced meanwhile
                deleted = feed.outbox.deleted is not None
                due = await feed.run_once()
                if due is ENDED:
                    if self.feeds.get(tree_id) is feed:
                        await self._end(tree_id, deleted)
                elif due is not None:
                    wait = due if wait is None else min(wait, due)
            if wait == 0:
                continue
            await self.wait_kick(wait)

    async def recheck(self) -> None:
        code, fresh = await _db(still_allowed, self.scope)
        if code is not None:
            await self.shut(code)
            return
        if self.dashboard is not None and self.dashboard.restaff(
            fresh, await _db(reads.sees_all_trees, fresh)
        ):
            self._regroup()
            self.kick()
        for tree_id in list(self.feeds):
            feed = self.feeds.get(tree_id)
            readable = await _db(reads.readable_tree, fresh, tree_id) is not None
            if feed is None or self.feeds.get(tree_id) is not feed:
                continue
            if not readable or not await feed.catch_up_if_behind():
                await self._end(tree_id)


class DashboardFeed:
    """The user's trees (staff: all trees) on a connection: a snapshot, then tree-level events as
    they happen and, at most every ``ARBOR_LIVE_COUNTS_SECONDS``, the counts of trees whose tasks
    changed. ``mark`` is merged into every frame (the shared socket marks them
    ``"dashboard": true``)."""

    counts_kinds = frozenset(
        {
            "task.status",
            "tree.created",
            "tree.status",
            "tree.retry",
            "task.rerun",
            "task.retry",
            "task.deleted",
        }
    )

    def __init__(
        self, conn: LiveConsumer, *, sees_all: bool, reply: dict | None = None, mark: dict | None = None
    ):
        self.conn = conn
        self.reply = reply
        self.mark = mark or {}
        self.queue: list[dict] = []
        self.dirty: set[str] = set()
        self.overflowed = False
        self.max_backlog = _cfg("ARBOR_LIVE_MAX_BACKLOG", 2000)
        self.interval = _cfg("ARBOR_LIVE_COUNTS_SECONDS", 0.5)
        self.last_counts = 0.0
        # everybody's trees only for staff with tasks_app.view_tree (superusers): docs/security.md
        self.is_staff = sees_all
        self.want_snapshot = True

    def groups(self) -> set[str]:
        return {STAFF_GROUP} if self.is_staff else {user_group(self.conn.scope["user"].pk)}

    def on_events(self, events: list[dict]) -> None:
        for ev in events:
            kind = ev.get("kind")
            if kind in reads.DASHBOARD_KINDS:
                self.queue.append(ev)
            if kind in self.counts_kinds and ev.get("seq") is not None:
                self.dirty.add(ev["tree"])
        if len(self.queue) > self.max_backlog or len(self.dirty) > 500:
            self.overflowed = True
            self.queue.clear()
            self.dirty.clear()

    async def send(self, frame: dict) -> None:
        await self.conn.send_json({**frame, **self.mark} if self.mark else frame)

    async def run_once(self):
        """Send what is due; seconds until the next counts are due, or None (wait for a kick)."""
        if self.want_snapshot or self.overflowed:
            self.want_snapshot = self.overflowed = False
            self.queue.clear()
            self.dirty.clear()
            snap = await _db(reads.dashboard_snapshot, self.conn.scope["user"])
            if self.reply is not None:
                reply, self.reply = self.reply, None
                await self.conn.send_json(reply)
            await self.send(snap)
        queue, self.queue = self.queue, []
        for ev in queue:
            await self.send(ev)
        if not self.dirty:
            return None
        due = self.last_counts + self.interval - time.monotonic()
        if due > 0:
            return due
        dirty, self.dirty = sorted(self.dirty), set()
        self.last_counts = time.monotonic()
        for summary in await _db(_summaries, dirty):
            await self.send(summary)
        return None

    def restaff(self, fresh, sees_all: bool) -> bool:
        """After a re-check: True if the user gained or lost the view of every tree (new groups, new
        snapshot)."""
        if sees_all == self.is_staff:
            return False
        self.is_staff = sees_all
        self.conn.scope["user"] = fresh
        self.want_snapshot = True
        return True


class DashboardConsumer(LiveConsumer):
    """``ws/dashboard/``: one :class:`DashboardFeed`."""

    async def connect(self):
        if not self.authenticated():
            await self.reject(CLOSE_UNAUTHENTICATED)
            return
        self.feed = DashboardFeed(self, sees_all=await _db(reads.sees_all_trees, self.scope["user"]))
        await self.accept(self._subprotocol())
        self.hub = get_hub()
        await self.hub.subscribe(self, self.feed.groups())
        self.start_tasks()

    def on_events(self, events: list[dict]) -> None:
        self.feed.on_events(events)
        self.kick()

    async def on_message(self, message: dict) -> None:
        if message["type"] in {"snapshot", "resume"}:
            self.feed.want_snapshot = True
            self.kick()
        else:
            await super().on_message(message)

    async def pump(self) -> None:
        while not self.closed:
            self._kick.clear()
            await self.wait_kick(await self.feed.run_once())

    async def recheck(self) -> None:
        code, fresh = await _db(still_allowed, self.scope)
        if code is not None:
            await self.shut(code)
            return
        if self.feed.restaff(fresh, await _db(reads.sees_all_trees, fresh)):
            assert self.hub is not None  # set on connect
            self.hub.regroup(self, self.feed.groups())
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
        frames.append(
            {
                "type": "snapshot.more",
                "tree": snap["tree"]["id"],
                "seq": snap["seq"],
                "tasks": part,
                "more": i < len(chunks),
            }
        )
    return frames


def _summaries(tree_ids) -> list[dict]:
    return [s for s in (reads.tree_summary(t) for t in tree_ids) if s is not None]


def _after_seq(scope) -> int | None:
    values = parse_qs((scope.get("query_string") or b"").decode("latin1")).get("after_seq")
    if not values:
        return None
    try:
        value = int(values[-1])
    except ValueError:
        return None
    return value if value >= 0 else None


def _is_seq(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tree_id(value) -> str | None:
    import uuid

    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
