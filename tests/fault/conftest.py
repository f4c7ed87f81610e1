"""Harness for the fault suite: real ``manage.py arbor_worker`` processes (django-q2 cluster +
reaper + watchdog) against the PostgreSQL test database, real signals, bounded waits, and a table
of measured recovery times and extra executions printed at the end of the run.

PostgreSQL only: SQLite has no row locks, and the promises under faults are only made there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.db import close_old_connections

from tests.fault_executors import FAULT_EXECUTORS, read_log
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[dict] = []
FAULT_PG_PORT = "15433"  # the private server the DB-restart scenario may stop (scripts/pg.sh)


def pytest_collection_modifyitems(config, items):
    here = str(Path(__file__).parent)
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    skip = pytest.mark.skip(reason="fault tests need PostgreSQL (set DATABASE_URL; see scripts/test.sh)")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.fault)
            item.add_marker(pytest.mark.django_db(transaction=True))
            if sqlite:
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    terminalreporter.section("fault scenarios: recovery and extra executions")
    terminalreporter.write_line(f"{'scenario':<8} {'recovery':>9} {'extra':>6}  what")
    for r in RESULTS:
        rec = "-" if r["recovery"] is None else f"{r['recovery']:.2f}s"
        terminalreporter.write_line(
            f"{r['id']:<8} {rec:>9} {r['extra']:>6}  {r['title']}  {r.get('note', '')}"
        )
    out = ROOT / "tests" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault-results.json").write_text(json.dumps(RESULTS, indent=2))


def report(scenario: str, title: str, recovery: float | None, extra: int, note: str = "") -> None:
    RESULTS.append(
        {
            "id": scenario,
            "title": title,
            "recovery": None if recovery is None else round(recovery, 2),
            "extra": extra,
            "note": note,
        }
    )
    rec = "-" if recovery is None else f"{recovery:.2f}s"
    print(f"\n[{scenario}] {title}: recovery {rec}, extra executions {extra} {note}")


def database_url() -> str:
    db = settings.DATABASES["default"]
    host = urllib.parse.quote(db.get("HOST") or "", safe="")
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host}:{db.get('PORT') or ''}/{db['NAME']}"


class Cluster:
    """One ``manage.py arbor_worker`` with its django-q2 cluster, logging to a file."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log_path = env, log
        self.proc: subprocess.Popen | None = None
        self.known: set[int] = set()

    def start(self, workers: int = 2, ready: bool = True, **env) -> Cluster:
        full = {**self.env, "ARBOR_WORKERS": str(workers), **{k: str(v) for k, v in env.items()}}
        self.workers = workers
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the process lifetime
        self.offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "arbor_worker"],
            env=full,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if ready:
            wait_for(
                lambda: len(self.ready_pids()) >= workers, 30, 0.1, "django-q2 workers ready", reconnect=True
            )
        return self

    def text(self) -> str:
        return self.log_path.read_bytes()[self.offset :].decode(errors="replace")

    def ready_pids(self) -> list[int]:
        """Worker pids in the order django-q2 reported them ready (this start only)."""
        return [int(p) for p in re.findall(r"ready for work at (\d+)", self.text())]

    def descendants(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            found = []
        self.known.update(p.pid for p in found)
        return found

    def qcluster_pid(self) -> int:
        return next(p.pid for p in self.descendants() if p.ppid() == self.proc.pid)

    def signal(self, sig=signal.SIGTERM) -> float:
        self.descendants()
        self.proc.send_signal(sig)
        return time.monotonic()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL everything this cluster started (several sessions: the qcluster has its own)."""
        if self.proc is None:
            return
        self.descendants()
        pids = {self.proc.pid, *self.known}
        for pid in pids:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def worker_pid(attempt) -> int:
    return int(attempt.worker.rsplit(":", 1)[1])


@pytest.fixture
def fault(settings, tmp_path):
    """Everything a scenario needs: env, clusters, the executor log."""
    settings.ARBOR_EXECUTORS = {**settings.ARBOR_EXECUTORS, **FAULT_EXECUTORS}
    settings.ARBOR_DISPATCH = "q2"  # this process wakes the cluster like the API would

    class Fault:
        log = str(tmp_path / "executions.jsonl")
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test",
            "ARBOR_DISPATCH": "q2",
            "ARBOR_TEST_EXECUTORS": "1",
            "ARBOR_TEST_Q_LOG": "1",
            "ARBOR_VAR_DIR": str(tmp_path),
            "ARBOR_WATCHDOG_STALL_SECONDS": "4",
            "PYTHONUNBUFFERED": "1",
        }
        clusters: list[Cluster] = []

        def cluster(self, workers: int = 2, ready: bool = True, **env) -> Cluster:
            c = Cluster(self.env, tmp_path / f"cluster-{len(self.clusters)}.log")
            self.clusters.append(c)
            return c.start(workers, ready=ready, **env)

        def executions(self) -> list[dict]:
            return read_log(self.log)

        def starts(self, task_name=None) -> list[dict]:
            return [
                e
                for e in self.executions()
                if e["event"] == "start" and (task_name is None or e["task"] == task_name)
            ]

    f = Fault()
    yield f
    for c in f.clusters:
        c.kill()
    for e in f.executions():  # orphans of executors that spawned children
        if e.get("child"):
            try:
                os.kill(e["child"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    close_old_connections()
