"""JSON-RPC: apflow's schedule fields on tasks.create, tasks.scheduled.list and tasks.scheduled.due."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tasks_app.models import Schedule, Tree
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2027, 3, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def rpc(client, method, params):
    r = client.post("/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, format="json")
    return r.json()


def create(api, name="nightly", **fields):
    return rpc(
        api,
        "tasks.create",
        [
            {"id": "r", "name": name, "executor": "noop", **fields},
            {"id": "c", "name": f"{name}-child", "executor": "noop", "parent_id": "r"},
        ],
    )


def test_tasks_create_accepts_apflow_schedule_fields(api):
    body = create(api, schedule_type="daily", schedule_expression="09:00", schedule_enabled=True, max_runs=5)
    root = next(t for t in body["result"] if t["name"] == "nightly")
    assert root["schedule_type"] == "daily" and root["next_run_at"] == "2027-03-01T09:00:00Z"
    schedule = Schedule.objects.get()
    assert (schedule.kind, schedule.expression, schedule.max_runs) == ("daily", "09:00", 5)
    assert str(schedule.tree_id) == root["id"]


def test_a_bad_schedule_creates_nothing(api):
    body = create(api, schedule_type="cron", schedule_expression="0 9 * *")
    assert body["error"]["code"] == -32602
    assert body["error"]["message"].startswith("expression:")
    assert not Tree.objects.exists() and not Schedule.objects.exists()


def test_empty_schedule_columns_are_ignored(api):
    body = create(api, schedule_type=None, schedule_enabled=False)
    assert "error" not in body
    assert not Schedule.objects.exists()


def test_scheduled_list_and_due(api, clock, other_user):
    create(api, "a", schedule_type="interval", schedule_expression="60")
    create(api, "b", schedule_type="cron", schedule_expression="0 12 * * *")
    create(api, "c", schedule_type="daily", schedule_expression="10:00", schedule_enabled=False)
    listed = rpc(api, "tasks.scheduled.list", {})["result"]
    assert [t["name"] for t in listed] == ["a", "b"]
    assert [t["name"] for t in rpc(api, "tasks.scheduled.list", {"enabled_only": False})["result"]] == [
        "a",
        "c",
        "b",
    ]
    assert [t["name"] for t in rpc(api, "tasks.scheduled.list", {"schedule_type": "cron"})["result"]] == ["b"]
    assert rpc(api, "tasks.scheduled.due", {})["result"] == []
    due = rpc(api, "tasks.scheduled.due", {"before": "2027-03-01T08:01:00Z"})["result"]
    assert [t["name"] for t in due] == ["a"]
    assert rpc(client_for(other_user), "tasks.scheduled.list", {})["result"] == []


def test_methods_catalogue_lists_the_scheduled_methods(api):
    names = {m["name"] for m in api.get("/tasks/methods").json()["methods"]}
    assert {"tasks.scheduled.list", "tasks.scheduled.due"} <= names
