"""One event tail per web process (per event loop), fanned out to the local subscribers.

The tailer is a single asyncio task that reads the Event table by id (``id > last_id``) on its own
database thread and hands each committed event to the subscribers of the groups ``tree.<id>``,
``user.<owner id>`` and ``dashboard.all`` (staff dashboards). It polls every 20-100 ms (adaptive)
when nothing wakes it, and at most every second as a backstop when a wake-up source
(``delivery``: PostgreSQL NOTIFY or Redis) is healthy. It starts with the first subscriber and
stops after ``ARBOR_LIVE_IDLE_STOP`` seconds without one.

Why a local hub rather than the in-memory channel layer's groups: each connection needs a bounded
queue whose overflow it can see (to send a fresh snapshot instead), while the in-memory layer drops
silently at 100 messages per channel; and a websocket should not depend on Redis being up to
receive what the database already holds.

PostgreSQL allocates ids before commit, so a transaction can commit after a later id is already
visible: the tailer keeps such missing ids for ``ARBOR_LIVE_GAP_SECONDS`` and reads them again.
Within one tree this cannot happen (the tree row lock orders sequence numbers and commits), and
every subscriber also fills holes in a tree's sequence from the table, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.db import InterfaceError, OperationalError, connection, connections

from tasks_app import conf

from . import delivery, reads
from .events import STAFF_GROUP, tree_group, user_group

logger = logging.getLogger(__name__)

TAIL_BATCH = 1000
MAX_GAPS = 5000
OWNER_CACHE = 10_000


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as the event
    is set, and a task cancelled at that moment would run on forever."""
    if timeout is None:
        await event.wait()
        return True
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await event.wait()
        return True
    except TimeoutError:
        return False


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.mode = delivery.wake_mode()
        self.poll_min = float(conf.get("ARBOR_LIVE_POLL_MIN"))
        self.poll_max = float(conf.get("ARBOR_LIVE_POLL_MAX"))
        self.backstop = float(conf.get("ARBOR_LIVE_BACKSTOP"))
        self.idle_stop = float(conf.get("ARBOR_LIVE_IDLE_STOP"))
        self.gap_seconds = float(conf.get("ARBOR_LIVE_GAP_SECONDS"))
        self.track_gaps = connection.vendor != "sqlite"  # SQLite commits in id order
        self.groups: dict[str, set] = defaultdict(set)
        self.memberships: dict = {}
        self.owner_of: OrderedDict = OrderedDict()
        self.last_id: int | None = None
        self.gaps: dict[int, float] = {}
        self.listener: delivery.Listener | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._generation = 0  # bumped by start() and stop(): an older _run() loop ends
        self._listener_task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._recent_deletions: dict[str, float] = {}
        self.stats = {"events": 0, "polls": 0, "wakeups": 0, "lag_seconds": 0.0, "errors": 0, "starts": 0}

    # --- subscribers ----------------------------------------------------------------------------

    async def subscribe(self, subscriber, groups) -> None:
        """Register ``subscriber.on_events(list)`` for ``groups``; the tail is running when this
        returns, so every event committed from now on reaches it."""
        await self.start()
        groups = set(groups)
        self.memberships[subscriber] = groups
        for group in groups:
            self.groups[group].add(subscriber)

    def regroup(self, subscriber, groups) -> None:
        """Change the groups of a subscriber (a shared socket subscribing or unsubscribing a tree),
        at once: no event of a group it keeps is missed."""
        groups = set(groups)
        old = self.memberships.get(subscriber, set())
        for group in old - groups:
            members = self.groups.get(group)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self.groups[group]
        for group in groups - old:
            self.groups[group].add(subscriber)
        self.memberships[subscriber] = groups

    def unsubscribe(self, subscriber) -> None:
        for group in self.memberships.pop(subscriber, ()):
            members = self.groups.get(group)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self.groups[group]

    @property
    def subscribers(self) -> int:
        return len(self.memberships)

    # --- wake-ups -------------------------------------------------------------------------------

    def wake(self) -> None:
        self.stats["wakeups"] += 1
        self._wake.set()

    def on_wakeup(self, payload: str) -> None:
        """A NOTIFY payload: ``<tree>:<seq>`` (``<tree>:<seq>:status`` for a status change) or
        ``deleted:<tree>``."""
        if payload.startswith("deleted:"):
            tree = payload.split(":", 1)[1]
            self.on_ephemeral(
                {
                    "type": "event",
                    "tree": tree,
                    "seq": None,
                    "kind": "tree.deleted",
                    "task": None,
                    "data": {},
                    "actor": None,
                    "source": "",
                    "at": None,
                }
            )
        else:
            self.wake()

    def on_local_commit(self, payloads: list[dict]) -> None:
        """Called (thread-safely) after a commit in this process."""
        for payload in payloads:
            if payload.get("seq") is None:
                self.on_ephemeral(payload)
        self.wake()

    def on_ephemeral(self, event: dict) -> None:
        """An event with no row (``tree.deleted``): deliver it as it is, once."""
        tree = str(event.get("tree"))
        now = time.monotonic()
        self._recent_deletions = {t: at for t, at in self._recent_deletions.items() if now - at < 60}
        if tree in self._recent_deletions:
            return
        self._recent_deletions[tree] = now
        self._fan_out([(self.owner_of.get(tree), event)])

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lock:
            if self._task is not None and not self._task.done():
                return
            self._generation += 1
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="arbor-live-tail")
            self.last_id = await self._db(reads.max_event_id)
            self.gaps.clear()
            if self.track_gaps and self.last_id:
                # ids just below the start that are not visible yet may still commit
                lower = max(0, self.last_id - 1000)
                seen = set(await self._db(reads.event_ids_between, lower, self.last_id))
                now = time.monotonic()
                self.gaps = {i: now for i in range(lower + 1, self.last_id + 1) if i not in seen}
            self.listener = delivery.make_listener(self, self.mode)
            self._listener_task = self.loop.create_task(self.listener.run())
            self._task = self.loop.create_task(self._run(self._generation))
            self.stats["starts"] += 1

    async def stop(self) -> None:
        task, self._task = self._task, None
        resources = self._detach()
        self._generation += 1  # ends the loop even if the cancellation is lost
        await cancel_task(task)
        await self._cleanup(*resources)

    def _detach(self):
        listener_task, self._listener_task = self._listener_task, None
        executor, self._executor = self._executor, None
        return listener_task, executor

    async def _cleanup(self, listener_task, executor) -> None:
        await cancel_task(listener_task)
        if executor is not None:
            try:
                await self.loop.run_in_executor(executor, connections.close_all)
            except Exception:
                pass
            executor.shutdown(wait=False)

    async def _db(self, fn, *args):
        return await self.loop.run_in_executor(self._executor, _guarded, fn, args)

    # --- the tail -------------------------------------------------------------------------------

    async def _run(self, generation: int) -> None:
        interval = self.poll_min
        idle_since = None
        try:
            while generation == self._generation:
                if self.memberships:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self.idle_stop:
                    break
                self._wake.clear()
                try:
                    rows = await self._db(reads.tail_events, self.last_id, tuple(self.gaps), TAIL_BATCH)
                except Exception:
                    self.stats["errors"] += 1
                    logger.warning("live tail: database read failed; retrying", exc_info=True)
                    await asyncio.sleep(min(1.0, self.poll_max * 5))
                    continue
                self.stats["polls"] += 1
                if rows:
                    self._advance(rows)
                    self._fan_out([(owner, payload) for _, owner, payload in rows])
                    interval = self.poll_min
                    if len(rows) >= TAIL_BATCH:
                        continue
                else:
                    interval = min(interval * 2, self.poll_max)
                    self._expire_gaps()
                healthy = self.listener is not None and self.listener.healthy
                timeout = max(interval, self.backstop) if healthy and not self.gaps else interval
                if healthy and self.gaps:
                    timeout = self.poll_max
                await wait_event(self._wake, timeout)
        finally:
            if self._task is asyncio.current_task():  # idle stop (not stop()): release what it held
                self._task = None
                self.loop.create_task(self._cleanup(*self._detach()))

    def _advance(self, rows) -> None:
        now = time.monotonic()
        for event_id, _, _ in rows:
            if event_id in self.gaps:
                del self.gaps[event_id]
                continue
            assert self.last_id is not None  # set by the first read, before any row
            if event_id <= self.last_id:
                continue
            if self.track_gaps and event_id > self.last_id + 1:
                for missing in range(self.last_id + 1, min(event_id, self.last_id + 1 + MAX_GAPS)):
                    self.gaps[missing] = now
            self.last_id = event_id
        if len(self.gaps) > MAX_GAPS:
            for key in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[key]
        last = rows[-1][2].get("at")
        if last:
            try:
                at = dt.datetime.fromisoformat(last)
                self.stats["lag_seconds"] = max(0.0, (dt.datetime.now(tz=dt.UTC) - at).total_seconds())
            except ValueError:
                pass

    def _expire_gaps(self) -> None:
        if not self.gaps:
            return
        now = time.monotonic()
        for key in [k for k, at in self.gaps.items() if now - at > self.gap_seconds]:
            del self.gaps[key]

    def _fan_out(self, items) -> None:
        """``items``: ``[(owner_id, payload)]`` in order; each subscriber gets one list."""
        batches: dict = {}
        staff = self.groups.get(STAFF_GROUP, ())
        for owner, payload in items:
            tree = payload["tree"]
            if owner is not None:
                self.owner_of[tree] = owner
                self.owner_of.move_to_end(tree)
                if len(self.owner_of) > OWNER_CACHE:
                    self.owner_of.popitem(last=False)
            targets = set(self.groups.get(tree_group(tree), ()))
            if owner is not None:
                targets.update(self.groups.get(user_group(owner), ()))
            targets.update(staff)
            for sub in targets:
                batches.setdefault(sub, []).append(payload)
            self.stats["events"] += 1
        for sub, events in batches.items():
            try:
                sub.on_events(events)
            except Exception:
                logger.exception("live subscriber failed")


async def cancel_task(task: asyncio.Task | None, timeout: float = 5.0) -> None:
    """Cancel ``task`` and wait (bounded) for it to end."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait({task}, timeout=timeout)


def _guarded(fn, args):
    try:
        return fn(*args)
    except (OperationalError, InterfaceError):
        try:
            connection.close()
        except Exception:
            pass
        raise


# --- per-process registry ------------------------------------------------------------------------

_hubs: dict[int, Hub] = {}
_hubs_lock = threading.Lock()


def get_hub() -> Hub:
    """The hub of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        for key in [k for k, h in _hubs.items() if h.loop.is_closed()]:
            del _hubs[key]
        hub = _hubs.get(id(loop))
        if hub is None or hub.loop is not loop:
            hub = _hubs[id(loop)] = Hub(loop)
        return hub


async def shutdown() -> None:
    """Stop this loop's hub (tests, and server shutdown)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.pop(id(loop), None)
    if hub is not None:
        await hub.stop()


def deliver_local(payloads: list[dict]) -> None:
    """After a commit in this process (any thread): wake the tails now, and hand over events that
    have no row."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if hub.loop.is_closed():
            continue
        try:
            hub.loop.call_soon_threadsafe(hub.on_local_commit, payloads)
        except RuntimeError:  # the loop closed meanwhile
            pass


def delivery_stats() -> dict:
    """Figures for /metrics: summed over this process's hubs (normally one)."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    out = {
        "subscribers": 0,
        "events_delivered": 0,
        "tail_polls": 0,
        "wakeups": 0,
        "lag_seconds": 0.0,
        "tail_errors": 0,
        "gaps": 0,
        "listener_healthy": 0,
    }
    for hub in hubs:
        out["subscribers"] += hub.subscribers
        out["events_delivered"] += hub.stats["events"]
        out["tail_polls"] += hub.stats["polls"]
        out["wakeups"] += hub.stats["wakeups"]
        out["tail_errors"] += hub.stats["errors"]
        out["gaps"] += len(hub.gaps)
        out["lag_seconds"] = max(out["lag_seconds"], hub.stats["lag_seconds"])
        out["listener_healthy"] += int(bool(hub.listener and hub.listener.healthy))
    return out
