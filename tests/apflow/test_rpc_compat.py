"""apflow's clients on POST /tasks: status pending and user_id at create, client ids in every
method, streaming in apflow's shape, use_demo, apflow's executor ids, clone save:false, error
messages (docs/apflow.md)."""

import json

import pytest

from tasks_app.models import Task
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def rpc(client, method, params=None, rpc_id=1, **extra):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return client.post("/tasks", body, format="json", **extra)


def ok(client, method, params=None, **extra):
    resp = rpc(client, method, params, **extra)
    data = resp.json()
    assert resp.status_code == 200, data
    return data["result"]


def err(client, method, params=None):
    resp = rpc(client, method, params)
    assert resp.status_code >= 400
    return resp.json()["error"]


def drain():
    run_until_idle(hard_kill=False, timeout=30)


TREE = [
    {
        "id": "task_1",
        "name": "root",
        "executor": "noop",
        "status": "pending",
        "user_id": "alice",
        "has_children": True,
    },
    {
        "id": "task_2",
        "name": "child",
        "executor": "echo",
        "parent_id": "task_1",
        "status": "pending",
        "inputs": {"x": 1},
    },
]


# --- create ------------------------------------------------------------------------------------------


def test_create_accepts_status_pending_has_children_and_own_user_id(api):
    created = ok(api, "tasks.create", TREE)
    assert [t["ref"] for t in created] == ["task_1", "task_2"]
    assert all(t["status"] == "pending" for t in created)


@pytest.mark.parametrize("status", ["completed", "in_progress", "failed", "cancelled"])
def test_create_refuses_any_other_status(api, status):
    error = err(api, "tasks.create", [{"name": "x", "executor": "noop", "status": status}])
    assert error["code"] == -32012
    assert "status must be 'pending'" in error["message"] and status in error["message"]


def test_create_refuses_another_users_user_id(api):
    error = err(api, "tasks.create", [{"name": "x", "executor": "noop", "user_id": "mallory"}])
    assert error["code"] == -32602 and "'mallory' is not you" in error["message"]


# --- client ids --------------------------------------------------------------------------------------


def test_client_ids_address_tasks_in_every_method(api):
    ok(api, "tasks.create", TREE)
    assert ok(api, "tasks.get", {"task_id": "task_2"})["name"] == "child"
    assert ok(api, "tasks.detail", {"task_id": "task_2"})["ref"] == "task_2"
    assert ok(api, "tasks.tree", {"task_id": "task_1"})["children"][0]["task"]["ref"] == "task_2"
    assert [c["ref"] for c in ok(api, "tasks.children", {"parent_id": "task_1"})] == ["task_2"]
    assert ok(api, "tasks.update", {"task_id": "task_2", "inputs": {"x": 2}})["inputs"] == {"x": 2}
    assert ok(api, "tasks.running.status", {"task_ids": ["task_2"]})[0]["name"] == "child"
    preview = ok(api, "tasks.clone", {"task_id": "task_1", "save": False})
    assert isinstance(preview, list) and len(preview) == 2
    started = ok(api, "tasks.execute", {"task_id": "task_1"})
    assert started["root_task_id"] == str(Task.objects.get(ref="task_1").id)
    drain()
    assert ok(api, "tasks.get", {"task_id": "task_2"})["status"] == "completed"
    ok(api, "tasks.create", [{"id": "c1", "name": "slow", "executor": "sleep", "inputs": {"seconds": 30}}])
    ok(api, "tasks.execute", {"task_id": "c1"})
    assert ok(api, "tasks.cancel", {"task_ids": ["c1"]})[0]["status"] == "cancelled"
    ok(api, "tasks.create", [{"id": "gone", "name": "gone", "executor": "noop"}])
    assert ok(api, "tasks.delete", {"task_id": "gone"})["success"] is True


def test_a_reused_client_id_resolves_to_the_newest_tree(api):
    first = ok(api, "tasks.create", [{"id": "dup", "name": "first", "executor": "noop"}])
    second = ok(api, "tasks.create", [{"id": "dup", "name": "second", "executor": "noop"}])
    assert first["id"] != second["id"]
    assert ok(api, "tasks.get", {"task_id": "dup"})["id"] == second["id"]
    assert ok(api, "tasks.get", {"task_id": first["id"]})["name"] == "first"  # the UUID still works


def test_client_ids_are_per_owner(api, other_api):
    ok(api, "tasks.create", [{"id": "mine", "name": "mine", "executor": "noop"}])
    assert err(other_api, "tasks.get", {"task_id": "mine"})["code"] == -32001
    ok(other_api, "tasks.create", [{"id": "mine", "name": "theirs", "executor": "noop"}])
    assert ok(api, "tasks.get", {"task_id": "mine"})["name"] == "mine"
    assert ok(other_api, "tasks.get", {"task_id": "mine"})["name"] == "theirs"


# --- streaming ---------------------------------------------------------------------------------------


def _events(resp) -> list[dict]:
    drain()
    body = b"".join(resp.streaming_content).decode()
    resp.close()
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def test_accept_event_stream_is_honoured_with_apflows_event_shape(api):
    ok(api, "tasks.create", TREE)
    resp = rpc(
        api,
        "tasks.execute",
        {"task_id": "task_1", "use_streaming": True},
        rpc_id="s1",
        HTTP_ACCEPT="text/event-stream",
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events = _events(resp)
    first = events[0]
    assert (
        first["id"] == "s1"
        and first["result"]["status"] == "started"
        and first["result"]["streaming"] is True
    )
    types = [e.get("type") for e in events[1:]]
    assert "task_start" in types and "task_completed" in types
    assert types[-2:] == ["final", "stream_end"]
    final = events[-2]
    assert final["final"] is True and final["status"] == "completed"
    assert final["task_id"] == first["result"]["root_task_id"]  # (the stream's close ended the DB connection)
    assert [e for e in events[1:-2] if e.get("final")] == []  # only the closing event is final
    assert all("task_id" in e and "status" in e for e in events[1:])


def test_failed_task_streams_task_failed(api):
    ok(api, "tasks.create", [{"id": "f", "name": "f", "executor": "fail"}])
    resp = rpc(api, "tasks.execute", {"task_id": "f", "use_streaming": True}, HTTP_ACCEPT="text/event-stream")
    events = _events(resp)
    failed = [e for e in events if e.get("type") == "task_failed"]
    assert failed and failed[0]["error"]
    assert events[-2]["type"] == "final" and events[-2]["status"] == "failed"


def test_arbor_event_form_without_the_accept_header(api):
    ok(api, "tasks.create", TREE)
    resp = rpc(api, "tasks.execute", {"task_id": "task_1", "use_streaming": True})
    events = _events(resp)
    assert events[0]["result"]["status"] == "in_progress"
    assert any(e.get("kind") == "task.status" for e in events)


def test_accept_event_stream_on_a_non_streaming_call_answers_json(api):
    resp = rpc(api, "tasks.list", {}, HTTP_ACCEPT="text/event-stream")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")


# --- use_demo and executors --------------------------------------------------------------------------


def test_use_demo_returns_the_declared_demo_result(staff_api):
    ok(staff_api, "tasks.create", [{"id": "d", "name": "d", "schemas": {"method": "system_info_executor"}}])
    ok(staff_api, "tasks.execute", {"task_id": "d", "use_demo": True})
    drain()
    task = ok(staff_api, "tasks.get", {"task_id": "d"})
    assert (
        task["status"] == "completed" and task["result"]["demo"] is True and task["result"]["host"] == "demo"
    )


def test_use_demo_skips_side_effects_of_shell_command(api, executor_grants, tmp_path):
    marker = tmp_path / "touched"
    ok(
        api,
        "tasks.create",
        [
            {
                "id": "s",
                "name": "s",
                "executor": "shell_command",
                "inputs": {"command": ["touch", str(marker)]},
            }
        ],
    )
    ok(api, "tasks.execute", {"task_id": "s", "use_demo": True})
    drain()
    assert ok(api, "tasks.get", {"task_id": "s"})["result"]["demo"] is True
    assert not marker.exists()


def test_executor_without_demo_runs_for_real(api):
    ok(api, "tasks.create", [{"id": "e", "name": "e", "executor": "echo", "inputs": {"v": 3}}])
    ok(api, "tasks.execute", {"task_id": "e", "use_demo": True})
    drain()
    assert ok(api, "tasks.get", {"task_id": "e"})["result"] == {"v": 3}


SERVED = {"aggregate_results_executor", "system_info_executor", "command_executor", "rest_executor"}
APFLOW_IDS = SERVED | {
    "websocket_executor",
    "grpc_executor",
    "mcp_executor",
    "ssh_executor",
    "docker_executor",
    "scrape_executor",
    "llm_executor",
    "crewai_executor",
    "batch_crewai_executor",
    "generate_executor",
    "send_email_executor",
    "apflow_api_executor",
}


@pytest.mark.parametrize("executor_id", sorted(APFLOW_IDS))
def test_each_apflow_executor_id_is_served_or_named_with_its_replacement(staff_api, executor_id):
    resp = rpc(staff_api, "tasks.create", [{"name": "x", "schemas": {"method": executor_id}}])
    data = resp.json()
    if executor_id in SERVED:
        assert resp.status_code == 200, data
    else:
        assert data["error"]["code"] == -32003
        message = data["error"]["message"]
        assert executor_id in message and "use " in message
        assert data["error"]["data"]["type"] == "executor_not_found"


def test_aggregate_results_executor_returns_apflows_shape(api):
    ok(
        api,
        "tasks.create",
        [
            {
                "id": "agg",
                "name": "agg",
                "schemas": {"method": "aggregate_results_executor"},
                "dependencies": [{"id": "a", "required": True}],
            },
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "agg", "inputs": {"v": 1}},
        ],
    )
    ok(api, "tasks.execute", {"task_id": "agg"})
    drain()
    result = ok(api, "tasks.get", {"task_id": "agg"})["result"]
    assert set(result) == {"summary", "timestamp", "results", "result_count"}
    assert result["result_count"] == 1 and result["results"] == {"a": {"v": 1}}


# --- clone, has_references, errors ------------------------------------------------------------------


def test_clone_save_false_returns_the_list_the_cli_reads(api):
    ok(api, "tasks.create", TREE)
    preview = ok(api, "tasks.clone", {"task_id": "task_1", "save": False})
    assert isinstance(preview, list) and [t["name"] for t in preview] == ["root", "child"]
    assert all("id" in t for t in preview)


def test_originals_report_has_references(api):
    ok(api, "tasks.create", TREE)
    assert ok(api, "tasks.get", {"task_id": "task_1"})["has_references"] is False
    ok(api, "tasks.clone", {"task_id": "task_1"})
    original = Task.objects.filter(ref="task_1").order_by("created_at").first()
    assert ok(api, "tasks.get", {"task_id": str(original.id)})["has_references"] is True


def test_error_message_says_everything_and_data_keeps_arbors_object(api):
    error = err(api, "tasks.get", {"task_id": "nope"})
    assert error["code"] == -32001 and "nope" in error["message"]
    assert set(error["data"]) >= {"type", "details"}
    error = err(api, "tasks.create", [{"name": "a", "executor": "noop"}, {"name": "b", "executor": "noop"}])
    assert error["data"]["type"] == "tree_validation"
    for problem in error["data"]["details"].get("errors", []):
        assert problem in error["message"]


def test_unknown_executor_message_lists_what_is_available(api):
    error = err(api, "tasks.create", [{"name": "x", "executor": "nope"}])
    assert error["code"] == -32003 and "'nope'" in error["message"] and "available: " in error["message"]
    assert "noop" in error["message"] and "noop" in error["data"]["details"]["available"]
