"""Cross-process wake-ups for the event tail, chosen from settings.

The event table is the only source of truth: a wake-up carries no event, it only tells each web
process's tailer (``hub.Hub``) to read the table now instead of at its next poll. Losing one costs
latency (the tailer still polls as a backstop), never an event.

========== ======================================= ============================================
mode       chosen when                             wake-up
========== ======================================= ============================================
``poll``   SQLite, no Redis (the embedded default) none: each web process polls every 20-100 ms
``postgres`` PostgreSQL, no Redis                  ``pg_notify('arbor_events', '<tree>:<seq>')``
                                                   in the writing transaction, so only on commit;
                                                   one LISTEN connection per web process
``redis``  ``REDIS_URL`` set                       ``group_send`` on the channels_redis layer to
                                                   the group ``arbor.live.wake``, after commit
========== ======================================= ============================================

``ARBOR_LIVE_WAKEUP`` (``auto`` by default) forces one of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection

from tasks_app import conf

logger = logging.getLogger(__name__)

PG_CHANNEL = "arbor_events"
WAKE_GROUP = "arbor.live.wake"
WAKE_TYPE = "live.wake"
MODES = ("poll", "postgres", "redis")


def wake_mode() -> str:
    forced = conf.get("ARBOR_LIVE_WAKEUP") or "auto"
    if forced in MODES:
        return forced
    if settings.REDIS_URL and _layer_backend().startswith("channels_redis"):
        return "redis"
    if connection.vendor == "postgresql":
        return "postgres"
    return "poll"


def _layer_backend() -> str:
    return str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))


# --- the writing side -------------------------------------------------------------------------


def after_commit(payloads: list[dict]) -> None:
    """Cross-process wake-up after a commit (Redis), and a NOTIFY for events that have no row
    (``tree.deleted``) on PostgreSQL."""
    mode = wake_mode()
    deleted = [p for p in payloads if p.get("seq") is None]
    if mode == "redis":
        _redis_publisher().publish(deleted)
    elif mode == "postgres" and deleted and connection.vendor == "postgresql":
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                    [PG_CHANNEL, [f"deleted:{p['tree']}" for p in deleted]],
                )
        except Exception:
            logger.warning("could not NOTIFY a deletion", exc_info=True)


class RedisPublisher:
    """Sends wake-ups from a daemon thread with its own event loop, so a commit never waits for
    Redis; wake-ups queued together go out as one ``group_send``. (No executor threads: those are
    joined at interpreter exit and would keep a worker from stopping.)"""

    def __init__(self):
        self.pid = os.getpid()
        self.sent = 0
        self._last_error = 0.0
        self._pending: list = []
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="arbor-live-redis-wake", daemon=True)
        self.thread.start()
        self._ready.wait(5)

    def publish(self, deleted: list[dict]) -> None:
        try:
            self.loop.call_soon_threadsafe(self._enqueue, deleted)
        except RuntimeError:  # the loop is gone (interpreter exit): the tailers' polls cover it
            pass

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._wakeup = asyncio.Event()
        self._ready.set()
        self.loop.run_until_complete(self._run())

    def _enqueue(self, deleted: list[dict]) -> None:
        self._pending.extend(deleted)
        self._wakeup.set()

    async def _run(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            deleted, self._pending = self._pending, []
            try:
                await layer.group_send(WAKE_GROUP, {"type": WAKE_TYPE, "deleted": deleted, "pid": self.pid})
                self.sent += 1
            except Exception:
                if time.monotonic() - self._last_error > 60:
                    self._last_error = time.monotonic()
                    logger.warning("live wake-up through Redis failed (tailers still poll)", exc_info=True)


_publisher: RedisPublisher | None = None
_publisher_lock = threading.Lock()


def _redis_publisher() -> RedisPublisher:
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():  # fork-safe
            _publisher = RedisPublisher()
        return _publisher


# --- the listening side (one per web process, owned by the hub) ---------------------------------


class Listener:
    """Base: ``healthy`` is True while wake-ups arrive; the hub polls fast while it is False."""

    mode = "poll"
    healthy = False

    def __init__(self, hub):
        self.hub = hub

    async def run(self) -> None:  # poll mode: nothing to listen to
        return


class PostgresListener(Listener):
    mode = "postgres"

    def __init__(self, hub, conninfo: dict):
        super().__init__(hub)
        self.conninfo = conninfo
        self.connects = 0

    async def run(self) -> None:
        import psycopg

        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(**self.conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {PG_CHANNEL}")
                    self.connects += 1
                    self.healthy = True
                    delay = 0.1
                    self.hub.wake()  # catch up with whatever committed while not listening
                    while True:
                        async for note in conn.notifies(timeout=30.0):
                            self.hub.on_wakeup(note.payload)
                        await conn.execute("SELECT 1")  # quiet for 30 s: is the server still there?
            except asyncio.CancelledError:
                self.healthy = False
                raise
            except Exception as exc:
                self.healthy = False
                logger.warning("LISTEN connection lost (%s); polling until it is back", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class RedisListener(Listener):
    mode = "redis"
    REJOIN_SECONDS = 3600.0  # channels_redis forgets group members after group_expiry (1 day)

    async def run(self) -> None:
        from channels.layers import get_channel_layer

        delay = 0.1
        while True:
            rejoin = None
            try:
                layer = get_channel_layer()
                channel = await layer.new_channel()
                await layer.group_add(WAKE_GROUP, channel)
                rejoin = asyncio.create_task(self._rejoin(layer, channel))
                self.healthy = True
                delay = 0.1
                self.hub.wake()
                while True:
                    message = await layer.receive(channel)
                    for event in message.get("deleted") or []:
                        self.hub.on_ephemeral(event)
                    self.hub.wake()
            except asyncio.CancelledError:
                self.healthy = False
                raise
            except Exception as exc:
                self.healthy = False
                logger.warning("Redis wake-up channel lost (%s); polling until it is back", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if rejoin is not None:
                    rejoin.cancel()

    async def _rejoin(self, layer, channel) -> None:
        while True:
            await asyncio.sleep(self.REJOIN_SECONDS)
            await layer.group_add(WAKE_GROUP, channel)


def pg_conninfo() -> dict:
    """psycopg connection keywords for the default database (the test database under tests)."""
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold", "server_side_binding", "pool"):
        params.pop(key, None)
    return params


def make_listener(hub, mode: str) -> Listener:
    if mode == "postgres":
        return PostgresListener(hub, pg_conninfo())
    if mode == "redis":
        return RedisListener(hub)
    return Listener(hub)
