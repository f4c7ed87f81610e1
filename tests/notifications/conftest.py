"""Fixtures of the trigger and notification tests: API clients, a local webhook receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from tests.api.conftest import api, client_for, drain, make_tree, other_api, staff_api, t, token_for  # noqa: F401


@pytest.fixture(autouse=True)
def _clear_throttles():
    cache.clear()
    yield
    cache.clear()


class Receiver(ThreadingHTTPServer):
    """Answers each request with the next status of ``statuses`` (the last one repeats) and
    keeps what it received."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = [200]
        self.received: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server = self.server
        server.received.append({"headers": dict(self.headers.items()), "body": body, "method": self.command})
        code = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"ok": code < 400}).encode())

    do_PUT = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
