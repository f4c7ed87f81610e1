"""Blocking waits for a tree to end (``tasks.execute`` with ``wait: true``, A2A ``blocking``),
woken by the tree's status events instead of a polling back-off.

A waiter registers the tree, reads its status, and sleeps on a ``threading.Event`` that is set by:

* a commit in this process that carries a ``tree.status`` (or ``tree.deleted``) event of the tree
  (``live.events`` calls :func:`notify_local` after commit);
* on PostgreSQL, the NOTIFY of such a commit in any process: every event flush that holds a
  ``tree.status`` event sends ``pg_notify('arbor_events', '<tree>:<seq>:status')`` inside its
  transaction (so only on commit), whatever the live wake-up mode; one LISTEN thread per process
  dispatches it to the tree's waiters.

Each wake-up costs one read of the tree's status row. The event only says "look again"; the row
decides. Without a wake-up channel (SQLite across processes, or the LISTEN connection down) the
waiter reads the row every ``ARBOR_WAIT_POLL`` seconds (10 ms); with one, every
``ARBOR_WAIT_BACKSTOP`` seconds (1 s) as a backstop only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

STATUS_SUFFIX = ":status"  # NOTIFY payload suffix: this flush changed the tree's status
TERMINAL = ("completed", "failed", "cancelled")

stats = {"event_wakeups": 0, "poll_wakeups": 0, "waits": 0}


class _Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.waiters: dict[str, set[threading.Event]] = defaultdict(set)

    def register(self, tree_id: str) -> threading.Event:
        event = threading.Event()
        with self.lock:
            self.waiters[tree_id].add(event)
        return event

    def unregister(self, tree_id: str, event: threading.Event) -> None:
        with self.lock:
            members = self.waiters.get(tree_id)
            if members is not None:
                members.discard(event)
                if not members:
                    del self.waiters[tree_id]

    def notify(self, tree_ids) -> None:
        with self.lock:
            targets = [ev for tree in tree_ids for ev in self.waiters.get(str(tree), ())]
        for event in targets:
            event.set()

    def notify_all(self) -> None:
        with self.lock:
            targets = [ev for members in self.waiters.values() for ev in members]
        for event in targets:
            event.set()

    def __bool__(self) -> bool:
        return bool(self.waiters)


registry = _Registry()


def notify_local(payloads: list[dict]) -> None:
    """After a commit in this process: wake the waiters of trees whose status changed (or that were
    deleted)."""
    if not registry:  # worker processes never wait: nothing to look at
        return
    trees = {p["tree"] for p in payloads if p.get("kind") in ("tree.status", "tree.deleted")}
    if trees:
        registry.notify(trees)


# --- PostgreSQL: one LISTEN thread per process --------------------------------------------------


class _PgListener(threading.Thread):
    IDLE_STOP = 60.0  # seconds without a waiter before the connection is closed

    def __init__(self, conninfo: dict):
        super().__init__(name="arbor-wait-listen", daemon=True)
        self.conninfo = conninfo
        self.pid = os.getpid()
        self.ready = threading.Event()
        self.healthy = False
        self.stopped = False

    def run(self) -> None:
        import psycopg

        from .delivery import PG_CHANNEL

        delay = 0.1
        idle_since = None
        while not self.stopped:
            try:
                with psycopg.connect(**self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.healthy = True
                    self.ready.set()
                    delay = 0.1
                    registry.notify_all()  # whatever ended while not listening: look again
                    while not self.stopped:
                        for note in conn.notifies(timeout=1.0):
                            payload = note.payload
                            if payload.endswith(STATUS_SUFFIX):
                                registry.notify([payload.split(":", 1)[0]])
                            elif payload.startswith("deleted:"):
                                registry.notify([payload.split(":", 1)[1]])
                        if registry:
                            idle_since = None
                        elif idle_since is None:
                            idle_since = time.monotonic()
                        elif time.monotonic() - idle_since > self.IDLE_STOP:
                            with _listener_lock:  # no waiter can find this thread alive and rely on it
                                if not registry:
                                    self.stopped = True
                                    self.healthy = False
            except Exception as exc:
                self.healthy = False
                self.ready.set()  # waiters fall back to polling meanwhile
                if self.stopped:
                    break
                logger.warning("wait LISTEN connection lost (%s); waiters poll until it is back", exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.healthy = False


_listener: _PgListener | None = None
_listener_lock = threading.Lock()


def _ensure_listener() -> bool:
    """Start (once per process) the LISTEN thread; True once it listens."""
    global _listener
    if connection.vendor != "postgresql":
        return False
    from .delivery import pg_conninfo

    with _listener_lock:
        if _listener is None or _listener.pid != os.getpid() or _listener.stopped or not _listener.is_alive():
            _listener = _PgListener(pg_conninfo())
            _listener.start()
        listener = _listener
    listener.ready.wait(5.0)
    return listener.healthy


# --- the wait ------------------------------------------------------------------------------------


def wait_terminal(tree_id, timeout: float) -> tuple[str | None, str]:
    """Block until the tree is terminal, deleted or ``timeout`` seconds have passed.

    Returns ``(status, woken_by)``: the status read last (None: the tree is gone) and what made
    the waiter read it: ``"start"`` (it was already over), ``"event"`` or ``"poll"``."""
    from tasks_app.models import Tree

    key = str(tree_id)
    event = registry.register(key)
    stats["waits"] += 1
    try:
        listening = _ensure_listener()
        deadline = time.monotonic() + timeout
        woken_by = "start"
        while True:
            status = Tree.objects.filter(id=tree_id).values_list("status", flat=True).first()
            left = deadline - time.monotonic()
            if status is None or status in TERMINAL or left <= 0:
                return status, woken_by
            if connection.vendor == "postgresql":
                # the thread may have stopped (idle) or lost its connection since: restart it
                listening = _ensure_listener()
            interval = (
                float(getattr(settings, "ARBOR_WAIT_BACKSTOP", 1.0))
                if listening
                else float(getattr(settings, "ARBOR_WAIT_POLL", 0.01))
            )
            woke = event.wait(min(interval, left))
            event.clear()
            woken_by = "event" if woke else "poll"
            stats["event_wakeups" if woke else "poll_wakeups"] += 1
    finally:
        registry.unregister(key, event)


def shutdown(timeout: float = 5.0) -> None:
    """Stop this process's LISTEN thread (tests: before the test database is dropped)."""
    global _listener
    with _listener_lock:
        listener, _listener = _listener, None
    if listener is not None and listener.is_alive():
        listener.stopped = True
        listener.join(timeout)
