"""Adapter that points apflow's own JSON-RPC test module (copied from its sdist at run time, not
edited) at a served Arbor: its ``TestClient(app)`` becomes an HTTP client with the base URL and a
Bearer token, its in-process server is not built, and its database fixture is a no-op.

Environment: ARBOR_URL, ARBOR_TOKEN."""

import os

import apflow.api.a2a.server as a2a_server
import httpx
import pytest
import starlette.testclient

BASE_URL = os.environ["ARBOR_URL"]
TOKEN = os.environ["ARBOR_TOKEN"]


class _NoServer:
    def build(self):
        return None


def _client_for(app=None, *args, **kwargs):
    return httpx.Client(base_url=BASE_URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)


a2a_server.create_a2a_server = lambda *a, **k: _NoServer()
starlette.testclient.TestClient = _client_for


@pytest.fixture
def use_test_db_session():
    yield None
