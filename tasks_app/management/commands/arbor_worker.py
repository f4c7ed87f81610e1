"""The ``worker`` role: a django-q2 cluster plus Arbor's reaper and watchdog.

* runs ``manage.py qcluster`` as a child in its own session (a signal to our process group never
  reaches it directly: django-q2 deadlocks when its whole group is signalled);
* every ``ARBOR_REAPER_INTERVAL`` seconds: reaps expired leases and wakes workers when claimable
  work waits;
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
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

logger = logging.getLogger("arbor.worker")


class Command(BaseCommand):
    help = "Run the worker role: django-q2 cluster + reaper + watchdog (foreground)."

    def add_arguments(self, parser):
        parser.add_argument("--no-cluster", action="store_true", help="only run the reaper loop")

    def handle(self, *args, **opts):
        self.signals = 0
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        var = Path(settings.VAR_DIR)
        var.mkdir(parents=True, exist_ok=True)
        self.stop_file = var / f"worker-{os.getpid()}.stop"
        self.stop_file.unlink(missing_ok=True)
        self.cluster = None if opts["no_cluster"] else self._start_cluster()
        self.stdout.write(f"arbor worker {os.getpid()}: cluster pid {getattr(self.cluster, 'pid', None)}")
        self.stdout.flush()
        last_tick = 0.0
        try:
            while not self.signals:
                now = time.monotonic()
                if now - last_tick >= settings.ARBOR_REAPER_INTERVAL:
                    last_tick = now
                    self._tick()
                time.sleep(0.05)
        finally:
            self._shutdown()

    def _on_signal(self, signum, frame):
        self.signals += 1
        if self.signals == 1:
            self.stop_file.touch()
        elif self.cluster is not None:
            self._kill_cluster()
            sys.exit(1)

    def _start_cluster(self):
        env = {**os.environ, "ARBOR_STOP_FILE": str(self.stop_file)}
        self.cluster_started = time.monotonic()
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"],
            env=env,
            start_new_session=True,
        )

    def _kill_cluster(self):
        try:
            os.killpg(self.cluster.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.cluster.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _stop_cluster(self, grace: float):
        if self.cluster is None or self.cluster.poll() is not None:
            return
        self.cluster.send_signal(signal.SIGTERM)  # the main qcluster pid only (django-q2 pitfall)
        try:
            self.cluster.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning("cluster did not stop within %.0fs; killing it", grace)
            self._kill_cluster()

    def _tick(self):
        from tasks_app.models import Attempt
        from tasks_app.services import reaper, runs

        try:
            close_old_connections()
            reaper.reap()
            if self.cluster is None:
                return
            if self.cluster.poll() is not None:
                logger.warning("cluster exited with %s; restarting it", self.cluster.returncode)
                self.cluster = self._start_cluster()
                return
            stall = settings.ARBOR_WATCHDOG_STALL_SECONDS
            if time.monotonic() - self.cluster_started < stall:
                return
            cutoff = timezone.now() - dt.timedelta(seconds=stall)
            waiting = runs.ready_queue(timezone.now()).filter(ready_at__lt=cutoff).exists()
            if waiting and not Attempt.objects.filter(started_at__gte=cutoff).exists():
                logger.error("watchdog: claimable work waited %.0fs with no claim; restarting the cluster", stall)
                self._stop_cluster(grace=5)
                self.cluster = self._start_cluster()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("reaper: database unavailable (%s)", exc)
            close_old_connections()

    def _shutdown(self):
        self.stop_file.touch()
        self._stop_cluster(grace=settings.ARBOR_SHUTDOWN_GRACE + 10)
        self.stop_file.unlink(missing_ok=True)
