"""End-to-end helpers: Daphne and qcluster subprocesses, a websocket client, SSE over HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from tests.workers.conftest import Processes
from tests.workers.conftest import test_database_url as database_url_for_subprocess

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(58300, 58400)
MAX_MESSAGE = 64 * 1024  # the consumers' inbound limit (close 4009)
DAPHNE_MAX_MESSAGE = 1024 * 1024  # Daphne's own default (close 1009)


def free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 58300-58399")


class LiveStack:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs = Processes()
        self.port: int | None = None
        self.daphne = None
        self.cluster = None
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test",
            "ARBOR_DISPATCH": "q2",
            "ARBOR_VAR_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
        }

    # --- processes ------------------------------------------------------------------------------

    def start_daphne(self, **extra_env) -> int:
        self.port = free_port()
        log = open(self.tmp_path / "daphne.log", "w")  # noqa: SIM115 - closed with the process
        self.daphne = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "orchestrator_site.asgi:application",
            ],
            env={**self.env, **extra_env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.procs.append(self.daphne)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.daphne.poll() is not None:
                raise RuntimeError("daphne exited: " + (self.tmp_path / "daphne.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self.port
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("daphne did not start")

    def start_workers(self, **extra_env):
        log = open(self.tmp_path / "qcluster.log", "w")  # noqa: SIM115 - closed with the process
        self.cluster = self.procs.start(
            ["qcluster"], {**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT
        )
        return self.cluster

    def stop(self) -> None:
        for proc in (self.cluster, self.daphne):
            if proc is not None:
                self.procs.stop(proc, timeout=20)  # one SIGTERM to the main pid, then SIGKILL
        self.procs.cleanup()
        for name in ("daphne.log", "qcluster.log"):  # shown by pytest when the test failed
            path = self.tmp_path / name
            if path.exists() and path.stat().st_size:
                print(f"--- {name}\n{path.read_text()[-5000:]}")

    # --- clients --------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, path: str, *, cookie: str | None = None, token: str | None = None):
        from websockets.asyncio.client import connect

        headers = {}
        if cookie:
            headers["Cookie"] = f"sessionid={cookie}"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            origin=self.origin,
            additional_headers=headers,
            max_size=None,
            max_queue=None,
            proxy=None,
            open_timeout=20,
            close_timeout=2,
        )

    def sse_post(self, path: str, body: dict, *, token: str, timeout: float = 60.0):
        """POST and read a text/event-stream to its end: ``(status, [messages])``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Origin": self.origin,
            },
        )
        resp = conn.getresponse()
        messages, block = [], []
        while True:
            line = resp.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line:
                block.append(line)
                continue
            msg = {}
            for item in block:
                if item.startswith(":"):
                    msg["comment"] = item[1:].strip()
                else:
                    key, _, value = item.partition(": ")
                    msg[key] = json.loads(value) if key == "data" else value
            block = []
            messages.append(msg)
            if msg.get("event") == "end":
                break
        conn.close()
        return resp.status, messages


async def recv_json(ws, timeout: float = 30.0) -> dict:
    """The next frame; a snapshot in parts comes back whole."""
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    while frame.get("type") == "snapshot" and frame.get("more"):
        part = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        assert part["type"] == "snapshot.more" and part["seq"] == frame["seq"]
        frame = {**frame, "tasks": frame["tasks"] + part["tasks"], "more": part["more"]}
    return frame


def run_client(coro_fn):
    """``asyncio.run`` for a client body that also uses the ORM: inside the loop Django keeps a
    separate connection (per context), closed here so that the test database can be dropped."""
    from django.db import connections

    async def main():
        try:
            return await coro_fn()
        finally:
            connections.close_all()

    return asyncio.run(main())


def db_is_sqlite() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
