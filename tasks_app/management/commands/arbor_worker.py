"""The ``worker`` role: a django-q2 cluster plus Arbor's reaper and watchdog.

* runs ``manage.py qcluster`` as a child in its own session (a signal to our process group never
  reaches it directly: django-q2 deadlocks when its whole group is signalled);
* every ``ARBOR_REAPER_INTERVAL`` seconds: reaps expired leases and wakes workers when claimable
  work waits;
* every ``ARBOR_SCHEDULER_INTERVAL`` seconds: fires due schedules (``services.schedules``);
* notifications: sends due deliveries (``services.notifications.deliver_due``) in a background
  thread, one batch at a time, so a slow webhook never delays the reaper;
* watchdog: restarts the cluster if claimable work has waited ``ARBOR_WATCHDOG_STALL_SECONDS``
  with no attempt started (django-q2 can wedge when a worker dies, django-q2 #23), or if it died;
* SIGTERM/SIGINT: touches the stop file (workers stop claiming at once, let running attempts
  finish within ``ARBOR_SHUTDOWN_GRACE``, then mark them ``interrupted``), stops the cluster, and
  kills it after the grace period. A second signal kills at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from tasks_app.worker import broker

logger = logging.getLogger("arbor.worker")


class Command(BaseCommand):
    help = "Run the worker role: django-q2 cluster + reaper + watchdog (foreground)."

    def add_arguments(self, parser):
        parser.add_argument("--no-cluster", action="store_true", help="only run the reaper loop")

    def handle(self, *args, **opts):
        self.signals = 0
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.var = Path(settings.VAR_DIR)
        self.var.mkdir(parents=True, exist_ok=True)
        self.generation = 0
        self.retiring: list[tuple[subprocess.Popen, float, Path]] = []  # (cluster, kill at, stop file)
        self.db_error_at: float | None = None
        self.notifier: threading.Thread | None = None
        self.cluster = None if opts["no_cluster"] else self._start_cluster()
        self.stdout.write(f"arbor worker {os.getpid()}: cluster pid {getattr(self.cluster, 'pid', None)}")
        self.stdout.flush()
        last_tick = last_schedule_tick = 0.0
        try:
            while not self.signals:
                now = time.monotonic()
                if now - last_tick >= settings.ARBOR_REAPER_INTERVAL:
                    last_tick = now
                    self._tick()
                if now - last_schedule_tick >= settings.ARBOR_SCHEDULER_INTERVAL:
                    last_schedule_tick = now
                    self._schedule_tick()
                time.sleep(0.05)
        finally:
            self._shutdown()

    def _on_signal(self, signum, frame):
        self.signals += 1
        if self.signals == 1:
            if self.cluster is not None:
                self.stop_file.touch()  # workers stop claiming at once
        else:
            for proc in [self.cluster, *(r[0] for r in self.retiring)]:
                if proc is not None:
                    self._kill_cluster(proc)
            sys.exit(1)

    def _start_cluster(self):
        self.generation += 1
        self.stop_file = self.var / f"worker-{os.getpid()}-{self.generation}.stop"
        self.stop_file.unlink(missing_ok=True)
        env = {**os.environ, "ARBOR_STOP_FILE": str(self.stop_file)}
        self.cluster_started = time.monotonic()
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
            env=env,
            start_new_session=True,
        )

    @staticmethod
    def _kill_cluster(proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    @classmethod
    def _stop_cluster(cls, proc, grace: float):
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the main qcluster pid only (django-q2 pitfall)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning("cluster did not stop within %.0fs; killing it", grace)
            cls._kill_cluster(proc)

    def _retire_cluster(self):
        """Replace a wedged cluster without waiting for it: its workers stop claiming, running
        attempts get the shutdown grace (then ``interrupted``), and the process group is killed
        after that; the new cluster starts at once."""
        old, stop_file = self.cluster, self.stop_file
        assert old is not None  # only a running cluster is retired
        stop_file.touch()
        broker.wake_all()  # its pusher may be waiting on LISTEN: the sentinel waits for it
        try:
            old.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.retiring.append((old, time.monotonic() + settings.ARBOR_SHUTDOWN_GRACE + 3, stop_file))
        self.cluster = self._start_cluster()

    def _reap_retired(self):
        keep = []
        for proc, kill_at, stop_file in self.retiring:
            if proc.poll() is None and time.monotonic() >= kill_at:
                self._kill_cluster(proc)
            if proc.poll() is None:
                keep.append((proc, kill_at, stop_file))
            else:
                stop_file.unlink(missing_ok=True)
        self.retiring = keep

    def _cluster_workers(self) -> list[str]:
        """Worker ids (``host:pid``) of the current cluster's processes."""
        import psutil

        from tasks_app.worker.loop import worker_id

        assert self.cluster is not None  # asked while the cluster runs
        try:
            children = psutil.Process(self.cluster.pid).children(recursive=True)
        except psutil.Error:
            return []
        host = worker_id().rsplit(":", 1)[0]
        return [f"{host}:{child.pid}" for child in children]

    def _wedged(self) -> bool:
        """Claimable work has waited a whole stall period while this cluster had a free worker and
        started nothing (django-q2 #23: a worker killed while holding the queue lock)."""
        from tasks_app.engine.states import Outcome
        from tasks_app.models import Attempt
        from tasks_app.services import runs

        stall = settings.ARBOR_WATCHDOG_STALL_SECONDS
        if time.monotonic() - self.cluster_started < stall:
            return False
        now = timezone.now()
        cutoff = now - dt.timedelta(seconds=stall)
        if not runs.claimable_since(cutoff, now=now):
            return False
        ours = self._cluster_workers()
        busy = Attempt.objects.filter(outcome=Outcome.RUNNING.value, worker__in=ours).count()
        if busy >= settings.ARBOR_WORKERS:
            return False  # every worker is busy: full, not wedged
        return not Attempt.objects.filter(started_at__gte=cutoff, worker__in=ours).exists()

    def _tick(self):
        from tasks_app.ops import health as ops_health
        from tasks_app.services import reaper

        try:
            self._reap_retired()
            close_old_connections()
            # After our own database outage, give live workers one lease to renew before reaping.
            grace = (
                self.db_error_at is not None
                and time.monotonic() - self.db_error_at < settings.ARBOR_LEASE_SECONDS
            )
            # one statement when idle: nothing running, locked or ready means nothing to reap,
            # wake or find wedged (docs/performance.md, "Scale")
            busy = reaper.anything_to_do()
            if busy and grace:
                reaper.wake_if_ready()
            elif busy:
                reaper.reap(probe=False)
            ops_health.beat(cluster=self.cluster)  # ops: "workers alive" / "reaper alive" for /readyz
            self._notify()
            if self.cluster is None:
                return
            if self.cluster.poll() is not None:
                logger.warning("cluster exited with %s; restarting it", self.cluster.returncode)
                self.stop_file.unlink(missing_ok=True)
                self.cluster = self._start_cluster()
                return
            if busy and self._wedged():  # wedged needs claimable work: a pending, ready task
                logger.error(
                    "watchdog: claimable work waited %.0fs with no claim; restarting the cluster",
                    settings.ARBOR_WATCHDOG_STALL_SECONDS,
                )
                self._retire_cluster()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("reaper: database unavailable (%s)", exc)
            self.db_error_at = time.monotonic()
            close_old_connections()

    def _schedule_tick(self):
        """Fire due schedules (exactly once across every arbor_worker: see services.schedules)."""
        from tasks_app.services import schedules

        try:
            # no close_old_connections() here: the reaper tick does it every second (each one
            # costs a health-check statement); a database error below closes the connection
            schedules.scheduler_tick()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("scheduler: database unavailable (%s)", exc)
            close_old_connections()

    def _notify(self):
        """Send due notifications in a thread of their own (never two at once in this process)."""
        from tasks_app.services import notifications

        if self.notifier is not None and self.notifier.is_alive():
            return
        if not notifications.anything_due():  # one statement; no thread, no second connection
            return
        self.notifier = threading.Thread(
            target=notifications.deliver_due_in_thread, name="arbor-notify", daemon=True
        )
        self.notifier.start()

    def _shutdown(self):
        if self.cluster is not None:
            self.stop_file.touch()
        for _, _, stop_file in self.retiring:
            stop_file.touch()
        broker.wake_all()  # pushers waiting on LISTEN see the stop file now, not after a slice
        self._stop_cluster(self.cluster, grace=settings.ARBOR_SHUTDOWN_GRACE + 10)
        for proc, _, stop_file in self.retiring:
            self._stop_cluster(proc, grace=1)
            stop_file.unlink(missing_ok=True)
        if self.cluster is not None:
            self.stop_file.unlink(missing_ok=True)
        from tasks_app.ops import health as ops_health

        ops_health.forget()  # ops: a clean stop is not a dead worker
