"""Fixtures for the admin tests: a logged-in operator and trees in known states."""

import os
import socket

import pytest

from .utils import t

LIVE_SERVER_PORTS = range(58600, 58700)  # this suite's share of the machine's ports


def _free_port(ports) -> int:
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, on a port from this suite's range unless one is configured."""
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
    server = LiveServer(addr or f"127.0.0.1:{_free_port(LIVE_SERVER_PORTS)}")
    yield server
    server.stop()


@pytest.fixture
def operator(staff_user, client):
    """A superuser logged in to the admin."""
    client.force_login(staff_user)
    return staff_user


@pytest.fixture
def failed_tree(run_tree):
    """root -> flaky (fails) -> after (cancelled as upstream_failed); side completes."""
    return run_tree(
        [
            t("root"),
            t("flaky", "fail", parent_id="root", inputs={"message": "boom"}, tags=["nightly", "etl"]),
            t("after", parent_id="root", dependencies=["flaky"]),
            t("side", "echo", parent_id="root", inputs={"x": 1}),
        ]
    )


@pytest.fixture
def pending_tree(tm):
    """A tree that was created but never executed: every task pending."""
    from tasks_app.models import Task

    tree = tm.create_tree(
        [t("proot"), t("p1", parent_id="proot"), t("p2", parent_id="proot", dependencies=["p1"])]
    )
    return tree, {x.name: x for x in Task.objects.filter(tree=tree)}
