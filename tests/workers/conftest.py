import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """A DATABASE_URL that points a subprocess at the running test database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = urllib.parse.quote(db.get("HOST") or "", safe="")
    port = db.get("PORT") or ""
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def subprocess_env(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test",
        "ARBOR_DISPATCH": "q2",
        "ARBOR_VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    return env


class Processes:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, args, env, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, start_new_session=True, **kw
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout: float = 30.0) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        return proc.returncode

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)


@pytest.fixture
def processes():
    p = Processes()
    yield p
    p.cleanup()
