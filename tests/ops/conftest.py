"""Helpers for the operations tests: subprocess environments, process control, a metrics parser."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def database_url() -> str:
    """A DATABASE_URL pointing a subprocess at this run's test database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = urllib.parse.quote(db.get("HOST") or "", safe="")
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host}:{db.get('PORT') or ''}/{db['NAME']}"


def parse_metrics(text: str) -> dict:
    """{(name, frozenset(labels.items())): float}; fails on any malformed line."""
    samples: dict = {}
    typed: set = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in {"gauge", "counter", "summary", "histogram", "untyped"}, line
            assert name not in typed, f"duplicate TYPE for {name}"
            typed.add(name)
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        match = SAMPLE.match(line)
        assert match, f"malformed sample line: {line!r}"
        labels = frozenset(LABEL.findall(match["labels"] or ""))
        value = match["value"]
        samples[(match["name"], labels)] = float("nan") if value == "NaN" else float(value)
    return samples


def metric(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset((k, str(v)) for k, v in labels.items()))]


class Processes:
    """Start role processes in their own sessions; stop each with one SIGTERM to its main pid
    (django-q2 deadlocks if its whole group is signalled), SIGKILL the group after a timeout."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
        proc.log_file = log
        self.procs.append((name, proc))
        return proc

    def manage(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        return self.start(name, [sys.executable, str(ROOT / "manage.py"), *args], env)

    def daphne(self, name: str, port: int, env: dict) -> subprocess.Popen:
        return self.start(
            name,
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "orchestrator_site.asgi:application",
            ],
            env,
        )

    def stop(self, proc: subprocess.Popen, timeout: float = 30.0) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(proc)
                proc.wait(timeout=10)
        proc.log_file.close()
        return proc.returncode

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def cleanup(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                _killpg(proc)
                proc.wait(timeout=10)
            proc.log_file.close()


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.cleanup()


def http_get(url: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""
