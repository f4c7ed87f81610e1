"""Fixtures of the REST API tests: token-authenticated clients per persona and tree builders."""

import pytest
from rest_framework.test import APIClient

from tasks_app.models import ApiToken


def token_for(user, name="tests") -> str:
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, name=name, key_prefix=raw[:10], digest=ApiToken.hash(raw))
    return raw


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def other_api(other_user):
    return client_for(other_user)


@pytest.fixture
def staff_api(staff_user):
    return client_for(staff_user)


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


@pytest.fixture
def make_tree(api):
    """POST a task array as ``api``'s user; returns the tree detail and ``{name: task}``."""

    def _make(tasks=None, client=None, **body):
        tasks = (
            tasks
            if tasks is not None
            else [t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])]
        )
        resp = (client or api).post(
            "/api/v1/trees/", {"tasks": tasks, **body} if body else tasks, format="json"
        )
        assert resp.status_code == 201, resp.json()
        data = resp.json()
        return data, {task["name"]: task for task in data["tasks"]}

    return _make


@pytest.fixture
def drain():
    from tasks_app.worker.loop import run_until_idle

    def _drain():
        run_until_idle(hard_kill=False, timeout=30)

    return _drain
