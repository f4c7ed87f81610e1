"""``make run``: Daphne and the worker role together in the foreground; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from tasks_app import conf


class Command(BaseCommand):
    help = "Serve Arbor (Daphne) and run the worker role together; Ctrl-C stops both cleanly."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=conf.env("ARBOR_HOST"))
        parser.add_argument("--port", type=int, default=conf.env("ARBOR_PORT"))

    def handle(self, *args, **opts):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        self.children = [
            (
                "web",
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        opts["host"],
                        "-p",
                        str(opts["port"]),
                        "--websocket_timeout",
                        "86400",
                        "orchestrator_site.asgi:application",
                    ],
                    start_new_session=True,
                ),
            ),
            ("worker", subprocess.Popen([sys.executable, manage, "arbor_worker"], start_new_session=True)),
        ]
        self.stopping = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        url = f"http://{opts['host']}:{opts['port']}/"
        self.stdout.write(
            self.style.SUCCESS(f"\nArbor is running at {url}  (Ctrl-C stops web and workers)\n")
        )
        self.stdout.flush()
        code = 0
        while not self.stopping:
            for name, proc in self.children:
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping")
                    code = proc.returncode or 1
                    self.stopping = True
            time.sleep(0.2)
        self._stop_all()
        sys.exit(code)

    def _on_signal(self, signum, frame):
        if self.stopping:  # second Ctrl-C: no more waiting
            for _, proc in self.children:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sys.exit(1)
        self.stopping = True

    def _stop_all(self):
        for _, proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.ARBOR_SHUTDOWN_GRACE + 15
        for name, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop; killing it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.stdout.write("Arbor stopped.")
