"""django-q2's ORM broker, woken by PostgreSQL ``NOTIFY`` instead of polling every 50 ms.

django-q2's pusher asks the broker table for a job, and when there is none sleeps
``Q_CLUSTER["poll"]`` (0.05 s: the wake-up latency of real work) and asks again: two statements
(the query and Django's connection health check) twenty times a second, per cluster, forever —
most of an idle Arbor's CPU (docs/performance.md "Scale"). On PostgreSQL this broker sends
``pg_notify('arbor_q2', '')`` with every job it enqueues (inside the enqueuing transaction, so
it arrives once the job row is visible) and the pusher, finding no job, waits on ``LISTEN
arbor_q2`` for up to ``ARBOR_Q_IDLE_POLL`` seconds instead of sleeping: a job is taken as soon as
its commit is notified (sooner than the 50 ms poll), and an idle cluster reads the table once per
``ARBOR_Q_IDLE_POLL``. The LISTEN starts before the first read, so a job enqueued between a read
and the wait is never missed (PostgreSQL queues the notification on the listening connection).
The timed read stays as the backstop for what no notification announces (a job whose lock
expired for a retry, a lost LISTEN connection). A waiting pusher ends its wait when the cluster's
stop file appears (django-q2's sentinel waits for the pusher before it stops the workers):
``arbor_worker`` calls :func:`wake_all` right after touching it, and the wait is sliced
(``WAIT_SLICE``) in case that notification is lost.
Elsewhere (SQLite) it is django-q2's ORM broker.
"""

from __future__ import annotations

import logging
import os
import time

from django.db import connections
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from tasks_app import conf

logger = logging.getLogger(__name__)
CHANNEL = "arbor_q2"
WAIT_SLICE = 1.0  # seconds: how soon a waiting pusher sees the stop file without a wake_all()


def wake_all() -> None:
    """Wake every waiting pusher (after a stop file was touched). Never raises."""
    try:
        if connections[Conf.ORM].vendor == "postgresql":
            with connections[Conf.ORM].cursor() as cur:
                cur.execute("SELECT pg_notify(%s, 'stop')", [CHANNEL])
    except Exception as exc:  # the sliced wait notices the stop file anyway
        logger.warning("could not wake the pushers (%s)", exc)


class ListeningORM(ORM):
    _listen_conn = None  # the pusher's own autocommit psycopg connection, LISTENing on CHANNEL
    _listen_retry_at = 0.0

    @staticmethod
    def _postgres() -> bool:
        return connections[Conf.ORM].vendor == "postgresql"

    def enqueue(self, task):
        pk = super().enqueue(task)
        if self._postgres():
            with connections[Conf.ORM].cursor() as cur:
                cur.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        return pk

    def set_stat(self, key: str, value: str, timeout: int) -> None:
        """Not written: django-q2's sentinel saves its cluster status to the cache every guard
        cycle (0.5 s; six statements on the database cache), for ``qinfo``/``qmonitor``. Arbor
        reads none of it: its own heartbeat rows serve ``/readyz`` and the metrics."""
        return None

    def dequeue(self):
        if not self._postgres():
            return super().dequeue()
        listening = self._listen()  # before the read: a NOTIFY after it waits on the connection
        tasks = self._take()
        if tasks:
            return tasks
        if listening and not self._stopping():
            self._wait(conf.get("ARBOR_Q_IDLE_POLL"))
        else:
            time.sleep(Conf.POLL)  # no LISTEN (yet), or stopping: django-q2's own poll
        return None

    @staticmethod
    def _stopping() -> bool:
        """``arbor_worker`` touches the cluster's stop file before it stops the cluster, whose
        sentinel then waits for this pusher: the wait must end within a slice, not a poll."""
        stop_file = conf.env("ARBOR_STOP_FILE")
        return bool(stop_file) and os.path.exists(stop_file)

    def _take(self):
        """django-q2's ``ORM.dequeue`` without its sleep: lock and return the next job(s)."""
        now = self._now()
        tasks = self.get_connection().filter(key=self.list_key, lock__lt=now)[0 : Conf.BULK]
        taken = []
        for task in tasks:
            if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                taken.append((task.pk, task.payload))
        return taken

    @staticmethod
    def _now():
        from django.utils import timezone

        return timezone.now()

    def _listen(self) -> bool:
        if self._listen_conn is not None and not self._listen_conn.closed:
            return True
        if time.monotonic() < self._listen_retry_at:
            return False
        import psycopg

        from tasks_app.live.delivery import pg_conninfo

        try:
            self._listen_conn = psycopg.connect(**pg_conninfo(), autocommit=True)
            self._listen_conn.execute(f"LISTEN {CHANNEL}")
            return True
        except Exception as exc:
            logger.warning("broker LISTEN failed (%s); polling every %ss", exc, Conf.POLL)
            self._drop_listener()
            return False

    def _wait(self, timeout: float) -> None:
        """Until a job is notified or ``timeout`` seconds pass (a burst of notifications costs at
        most one empty read each)."""
        conn = self._listen_conn
        assert conn is not None
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0 and not self._stopping():
                for _ in conn.notifies(timeout=min(left, WAIT_SLICE), stop_after=1):
                    return
        except Exception as exc:
            logger.warning("broker LISTEN connection lost (%s); polling until it is back", exc)
            self._drop_listener()

    def _drop_listener(self) -> None:
        if self._listen_conn is not None:
            try:
                self._listen_conn.close()
            except Exception:
                pass
        self._listen_conn = None
        self._listen_retry_at = time.monotonic() + 5.0
