"""apflow's other endpoints: POST / (health check and A2A), POST /system, the agent card
(docs/apflow.md)."""

import pytest
from django.test import Client

from tasks_app.models import Task, Tree
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def a2a(client, method, params, rpc_id="r1"):
    return client.post(
        "/", {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}, format="json"
    )


def message(tasks=None, **metadata):
    parts = [{"kind": "data", "data": {"tasks": tasks}}] if tasks is not None else []
    return {"message": {"message_id": "m1", "role": "user", "parts": parts}, "metadata": metadata}


def test_health_check_of_the_cli_is_200_without_credentials_and_reveals_nothing():
    resp = Client(enforce_csrf_checks=True).post("/", {}, content_type="application/json")
    assert resp.status_code == 200
    assert resp.json() == {"status": "healthy"}


def test_health_check_with_a_token(api):
    resp = api.post("/", {}, format="json")
    assert resp.status_code == 200 and resp.json() == {"status": "healthy"}


def test_get_root_is_still_the_dashboard(user):
    client = Client()
    assert client.get("/").status_code == 302  # login first
    client.force_login(user)
    assert client.get("/").status_code == 200


def test_anonymous_a2a_call_is_refused():
    resp = Client(enforce_csrf_checks=True).post(
        "/",
        {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": message([{"name": "x"}])},
        content_type="application/json",
    )
    assert resp.status_code in (401, 403)
    assert resp.json()["error"]["code"] == -32004
    assert not Tree.objects.exists()


def test_session_without_csrf_cannot_write_through_root(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    resp = client.post(
        "/",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/send",
            "params": message([{"name": "x", "executor": "noop"}]),
        },
        content_type="application/json",
    )
    assert resp.status_code == 403
    assert "CSRF" in resp.json()["error"]["message"]
    assert not Tree.objects.exists()


def test_message_send_creates_and_runs_a_tree(api):
    resp = a2a(
        api,
        "message/send",
        message(
            [
                {
                    "id": "a2a-root",
                    "name": "root",
                    "executor": "aggregate_results_executor",
                    "dependencies": [{"id": "a2a-child", "required": True}],
                },
                {
                    "id": "a2a-child",
                    "name": "child",
                    "executor": "echo",
                    "parent_id": "a2a-root",
                    "inputs": {"v": 1},
                },
            ]
        ),
    )
    data = resp.json()
    assert resp.status_code == 200, data
    task = data["result"]
    assert data["id"] == "r1" and task["kind"] == "task"
    assert task["status"]["state"] in ("submitted", "working")
    assert task["metadata"]["protocol"] == "a2a"
    root = Task.objects.get(ref="a2a-root")
    assert task["id"] == str(root.id) == task["metadata"]["root_task_id"]
    run_until_idle(hard_kill=False, timeout=30)
    got = a2a(api, "tasks/get", {"id": "a2a-root"}).json()["result"]
    assert got["status"]["state"] == "completed"
    assert got["artifacts"][0]["parts"][0]["data"]["result"]["result_count"] == 1


def test_message_send_errors_and_unknown_methods(api):
    assert a2a(api, "invalid_method", {}).json()["error"]["code"] == -32601
    bad = a2a(api, "message/send", {"message": {"parts": [{"kind": "text", "text": "hi"}]}}).json()
    assert bad["error"]["code"] == -32602 and "tasks" in bad["error"]["message"]
    crud = a2a(api, "tasks.create", {}).json()
    assert crud["error"]["code"] == -32601 and "POST /tasks" in crud["error"]["message"]


def test_tasks_cancel_over_a2a(api):
    a2a(
        api,
        "message/send",
        message([{"id": "slow", "name": "slow", "executor": "sleep", "inputs": {"seconds": 30}}]),
    )
    result = a2a(api, "tasks/cancel", {"id": "slow"}).json()["result"]
    assert result["status"]["state"] == "canceled"


def test_system_health(api):
    for rpc_id in (50, "s-1"):
        data = api.post(
            "/system",
            {"jsonrpc": "2.0", "id": rpc_id, "method": "system.health", "params": {}},
            format="json",
        ).json()
        assert data["id"] == rpc_id and data["result"]["status"] == "healthy"
        assert data["result"]["running_tasks_count"] == 0
    data = api.post("/system", {"jsonrpc": "2.0", "method": "system.health"}, format="json")
    assert data.status_code == 200 and data.json()["id"] is None  # apflow answers a missing id with null


def test_system_needs_a_token():
    resp = Client().post(
        "/system", {"jsonrpc": "2.0", "id": 1, "method": "system.health"}, content_type="application/json"
    )
    assert resp.status_code == 401


def test_system_executors_names_the_apflow_ids(api):
    data = api.post(
        "/system", {"jsonrpc": "2.0", "id": 1, "method": "system.executors"}, format="json"
    ).json()
    result = data["result"]
    assert "aggregate_results_executor" in {e["id"] for e in result["executors"]}
    assert "llm_executor" in result["apflow_unsupported"]


def test_agent_card_is_public():
    for path in ("/.well-known/agent-card.json", "/.well-known/agent.json"):
        resp = Client().get(path)
        assert resp.status_code == 200
        card = resp.json()
        assert card["name"] == "Arbor" and card["url"].startswith("http")
        assert card["skills"] and card["security_schemes"]["bearer"]["scheme"] == "bearer"
