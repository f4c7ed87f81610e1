"""Fixtures for the browser tests: a Daphne server (HTTP + websockets) on the test database, workers
in a background thread, and logged-in pages.

The server is channels' ``DaphneProcess`` (what ``ChannelsLiveServerTestCase`` runs) in a child
process; it reads the same file-backed test database, and its live hub tails the event table, so
events written by the workers in this process reach the browser over the websocket.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import partial
from pathlib import Path

import pytest

UI_PORTS = range(58410, 58490)  # this suite's share of the machine's ports
# tests/artifacts/screenshots by default; ARBOR_UPDATE_SCREENSHOTS=1 refreshes the README's pictures
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = _ROOT / (
    "docs/screenshots" if os.environ.get("ARBOR_UPDATE_SCREENSHOTS") else "tests/artifacts/screenshots"
)
VIEWPORT = {"width": 1280, "height": 720}


def _free_port(ports) -> int:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


def _server_setup() -> None:
    """In the Daphne child: use the test database and print server errors to stderr."""
    import logging

    from channels.testing.live import set_database_connection

    set_database_connection()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[arbor-server] %(levelname)s %(name)s: %(message)s"))
    for name in ("django.request", "django.server", "tasks_app", "daphne"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def arbor_server(django_db_setup, django_db_blocker):
    """Base URL of a Daphne process serving Arbor (pages, API, websockets, static files)."""
    from channels.testing.live import make_application
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.db import connections

    connections.close_all()  # the child must not share this process's open connections
    port = _free_port(UI_PORTS)
    process = DaphneProcess(
        "127.0.0.1",
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=_server_setup,
        port=port,
    )
    with django_db_blocker.unblock():  # the forked child keeps the unblocked state
        process.start()
    if not process.ready.wait(timeout=30):
        process.terminate()
        raise RuntimeError("Daphne did not start")
    yield f"http://127.0.0.1:{process.port.value}"
    process.terminate()
    process.join(10)


WORKER_THREADS = 3


@pytest.fixture
def workers(transactional_db):
    """Workers draining the queue in background threads while the test drives the browser (one
    task at a time per thread, like the worker processes of a cluster)."""
    from django.db import connections

    from tasks_app.worker import loop as worker

    stop = threading.Event()

    def loop():
        try:
            while not stop.is_set():
                worker.run_until_idle(hard_kill=False, timeout=5)
                stop.wait(0.05)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=loop, name=f"ui-test-worker-{i}", daemon=True) for i in range(WORKER_THREADS)
    ]
    for thread in threads:
        thread.start()
    yield threads
    stop.set()
    for thread in threads:
        thread.join(30)


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


def login(page, base_url: str, user) -> None:
    """Log the page's context in by session cookie (the login form has its own test)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url},
        ]
    )


@pytest.fixture
def user_page(page, arbor_server, user):
    login(page, arbor_server, user)
    page.set_default_timeout(15_000)
    return page


def screenshot(page, name: str) -> None:
    """<SCREENSHOTS>/<name>-light.png and -dark.png of the page as it is now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(250)  # the canvas restyles on the media change
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"))
    page.emulate_media(color_scheme="light")
