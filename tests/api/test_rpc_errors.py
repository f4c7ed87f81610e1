"""JSON-RPC errors (every code, with its HTTP status), authentication, CSRF, batches and limits."""

import json
import random

import pytest
from django.middleware.csrf import _get_new_csrf_string
from rest_framework.test import APIClient

from tasks_app.api import rpc as rpc_module
from tasks_app.models import Tree
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def rpc(client, method, params=None, rpc_id=1):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return client.post("/tasks", body, format="json")


def raw(client, body: str):
    return client.generic("POST", "/tasks", body, content_type="application/json")


def error_of(resp, http_status, code, rpc_id=1):
    data = resp.json()
    assert resp.status_code == http_status, data
    assert data["jsonrpc"] == "2.0" and data["id"] == rpc_id and "result" not in data
    error = data["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "data"} and set(error["data"]) == {"type", "details"}
    assert "Traceback" not in json.dumps(data)
    return error


def created(client, tasks):
    resp = rpc(client, "tasks.create", tasks)
    assert resp.status_code == 200, resp.json()
    result = resp.json()["result"]
    return result if isinstance(result, list) else [result]


# --- protocol errors -----------------------------------------------------------------------------


def test_parse_error(api):
    error = error_of(raw(api, '{"jsonrpc": "2.0", "method": '), 400, -32700, rpc_id=None)
    assert error["message"].startswith("Parse error")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (42, "expected a JSON-RPC 2.0 request object"),
        ({"id": 1, "method": "tasks.list"}, "'jsonrpc' must be \"2.0\""),
        ({"jsonrpc": "1.0", "id": 1, "method": "tasks.list"}, "'jsonrpc' must be \"2.0\""),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, "'method' must be a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "tasks.list", "params": "x"}, "'params' must be an object"),
    ],
)
def test_invalid_request(api, body, fragment):
    error = error_of(
        api.post("/tasks", body, format="json"),
        400,
        -32600,
        rpc_id=body.get("id") if isinstance(body, dict) else None,
    )
    assert fragment in error["message"]


def test_invalid_id_type_answers_with_null_id(api):
    resp = api.post("/tasks", {"jsonrpc": "2.0", "id": {"x": 1}, "method": "tasks.list"}, format="json")
    assert (
        error_of(resp, 400, -32600, rpc_id=None)["message"]
        == "Invalid Request: 'id' must be a string, a number or null"
    )


def test_unknown_method(api):
    error = error_of(rpc(api, "tasks.explode"), 404, -32601)
    assert error["message"] == "Method not found: tasks.explode"
    assert error["data"] == {"type": "method_not_found", "details": {"method": "tasks.explode"}}


def test_invalid_params(api):
    error = error_of(rpc(api, "tasks.get", {}), 400, -32602)
    assert error["message"] == "Invalid params: 'task_id' is required"
    error_of(rpc(api, "tasks.list", {"limit": "ten"}), 400, -32602)
    error_of(rpc(api, "tasks.get", ["not", "named"]), 400, -32602)
    error_of(
        rpc(api, "tasks.execute", {"tasks": [t("r")], "webhook_config": {"url": "http://x"}}), 400, -32602
    )
    root = created(api, [t("r")])[0]
    error = error_of(rpc(api, "tasks.copy", {"task_id": root["id"], "copy_mode": "weird"}), 400, -32602)
    assert error["data"]["type"] == "validation"


def test_id_type_is_preserved(api):
    resp = rpc(api, "tasks.count", rpc_id="abc-1")
    assert resp.json()["id"] == "abc-1"
    assert rpc(api, "tasks.count", rpc_id=7.5).json()["id"] == 7.5
    null = api.post("/tasks", {"jsonrpc": "2.0", "id": None, "method": "tasks.count"}, format="json")
    assert null.status_code == 200 and null.json()["id"] is None


# --- domain errors -------------------------------------------------------------------------------


def test_task_not_found(api):
    error = error_of(rpc(api, "tasks.get", {"task_id": "00000000-0000-0000-0000-000000000000"}), 404, -32001)
    assert error["data"]["type"] == "not_found"
    error_of(rpc(api, "tasks.get", {"task_id": "not-a-uuid"}), 404, -32001)


def test_circular_dependency(api):
    error = error_of(
        rpc(api, "tasks.create", [t("r", dependencies=["b"]), t("b", parent_id="r", dependencies=["r"])]),
        400,
        -32002,
    )
    assert error["data"]["type"] == "circular_dependency"
    assert "circular dependency" in error["message"]


def test_executor_not_found(api):
    error = error_of(rpc(api, "tasks.create", [t("r", "warp_drive")]), 400, -32003)
    assert error["message"].startswith("task 'r': unknown executor 'warp_drive' (available: ")


def test_invalid_transition_and_archived(api):
    root = created(api, [t("r")])[0]
    rpc(api, "tasks.execute", {"task_id": root["id"]})
    run_until_idle(hard_kill=False, timeout=30)
    error = error_of(rpc(api, "tasks.execute", {"task_id": root["id"]}), 409, -32006)
    assert "nothing to run" in error["message"]
    archive = rpc(api, "tasks.clone", {"task_id": root["id"], "origin_type": "archive"}).json()["result"]
    error = error_of(rpc(api, "tasks.execute", {"task_id": archive["id"]}), 409, -32006)
    assert error["data"]["type"] == "archived"


def test_already_executing(api):
    root = created(api, [t("r"), t("s", parent_id="r")])[0]
    assert rpc(api, "tasks.execute", {"task_id": root["id"]}).status_code == 200
    error = error_of(rpc(api, "tasks.execute", {"task_id": root["id"]}), 409, -32008)
    assert error["message"] == "tree 'r' is already executing"


def test_cannot_delete(api):
    tasks = created(api, [t("r"), t("a", parent_id="r"), t("b", parent_id="r", dependencies=["a"])])
    error = error_of(rpc(api, "tasks.delete", {"task_id": tasks[1]["id"]}), 409, -32009)
    assert error["message"] == "cannot delete: task 'a' needed by 'b' outside the deleted tasks"


def test_invalid_dependency_reference(api):
    error = error_of(rpc(api, "tasks.create", [t("r", dependencies=["ghost"])]), 400, -32011)
    assert "ghost" in error["message"]


def test_tree_validation(api):
    error = error_of(
        rpc(api, "tasks.create", [t("r"), {"name": "r", "executor": "noop", "parent_id": "r"}]), 400, -32012
    )
    assert error["data"]["type"] == "tree_validation" and error["data"]["details"]["errors"]


def test_internal_error_has_no_stack_trace(api, monkeypatch):
    def explode(call, params):
        raise RuntimeError("secret internals")

    monkeypatch.setitem(
        rpc_module.METHODS,
        "tasks.count",
        rpc_module.METHODS["tasks.count"].__class__("tasks.count", explode, "crud", "boom"),
    )
    resp = rpc(api, "tasks.count")
    error = error_of(resp, 500, -32603)
    assert error == {"code": -32603, "message": "Internal error", "data": {"type": "internal", "details": {}}}
    assert "secret" not in resp.content.decode()


# --- authentication ------------------------------------------------------------------------------


def test_unauthenticated_and_bad_tokens_answer_in_jsonrpc_shape():
    anonymous = APIClient()
    resp = rpc(anonymous, "tasks.list")
    error = error_of(resp, 401, -32004, rpc_id=None)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert error["data"]["type"] == "unauthorized"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer arb_nope")
    assert "invalid or expired token" in error_of(rpc(bad, "tasks.list"), 401, -32004, rpc_id=None)["message"]
    error_of(anonymous.get("/tasks/methods"), 401, -32004, rpc_id=None)


def test_session_callers_need_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    error = error_of(rpc(client, "tasks.count"), 403, -32004, rpc_id=None)
    assert "CSRF" in error["message"]
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    resp = client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": "tasks.count"}, format="json", HTTP_X_CSRFTOKEN=secret
    )
    assert resp.status_code == 200 and resp.json()["result"]["total"] == 0


def test_token_callers_need_no_csrf_token(user):
    from tests.api.conftest import token_for

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    assert rpc(client, "tasks.count").status_code == 200


# --- batches -------------------------------------------------------------------------------------


def test_batch_answers_each_request_with_an_id(api):
    batch = [
        {"jsonrpc": "2.0", "id": "c", "method": "tasks.create", "params": [t("r")]},
        {"jsonrpc": "2.0", "id": 2, "method": "tasks.get", "params": {"task_id": "ghost"}},
        {"jsonrpc": "2.0", "method": "tasks.create", "params": [t("quiet")]},  # notification: runs, no entry
        {"jsonrpc": "2.0", "id": 4, "method": "tasks.nope"},
        17,
    ]
    resp = api.post("/tasks", batch, format="json")
    assert resp.status_code == 200
    answers = resp.json()
    assert [a["id"] for a in answers] == ["c", 2, 4, None]
    assert answers[0]["result"]["name"] == "r"
    assert [a.get("error", {}).get("code") for a in answers] == [None, -32001, -32601, -32600]
    assert Tree.objects.filter(name="quiet").exists()


def test_batch_calls_are_each_authorised(api, other_api):
    theirs = created(other_api, [t("theirs")])[0]
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tasks.create", "params": [t("mine")]},
        {"jsonrpc": "2.0", "id": 2, "method": "tasks.delete", "params": {"task_id": theirs["id"]}},
    ]
    answers = api.post("/tasks", batch, format="json").json()
    assert "result" in answers[0] and answers[1]["error"]["code"] == -32001
    assert Tree.objects.filter(id=theirs["id"]).exists()


def test_batch_limit_and_empty_batch(api, settings):
    settings.ARBOR_LIMITS = {**settings.ARBOR_LIMITS, "max_batch_size": 2}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tasks.count"}
    assert len(api.post("/tasks", [call, call], format="json").json()) == 2
    error = error_of(api.post("/tasks", [call, call, call], format="json"), 400, -32600, rpc_id=None)
    assert error["message"] == "Invalid Request: batch of 3 requests; the limit is 2 (max_batch_size)"
    assert error["data"]["details"] == {"limit": "max_batch_size", "value": 2}
    assert error_of(api.post("/tasks", [], format="json"), 400, -32600, rpc_id=None)["message"].endswith(
        "empty batch"
    )


def test_notifications_get_no_answer(api):
    resp = api.post("/tasks", {"jsonrpc": "2.0", "method": "tasks.create", "params": [t("n")]}, format="json")
    assert resp.status_code == 204 and resp.content == b""
    assert Tree.objects.filter(name="n").exists()
    only = [{"jsonrpc": "2.0", "method": "tasks.count"}, {"jsonrpc": "2.0", "method": "tasks.nope"}]
    assert api.post("/tasks", only, format="json").status_code == 204


# --- limits and idempotency ----------------------------------------------------------------------


def test_body_and_nesting_limits(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    error = error_of(rpc(api, "tasks.create", [t("r", inputs={"blob": "x" * 500})]), 413, -32600, rpc_id=None)
    assert error["data"]["details"]["limit"] == "max_body_bytes"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
    deep = "[" * 100_000 + "]" * 100_000
    error = error_of(raw(api, deep), 400, -32600, rpc_id=None)
    assert error["data"]["details"]["limit"] == "max_json_depth"
    nested: dict = {}
    cursor = nested
    for _ in range(40):
        cursor["k"] = {}
        cursor = cursor["k"]
    error = error_of(rpc(api, "tasks.create", [t("r", inputs=nested)]), 400, -32600, rpc_id=None)
    assert "max_json_depth" in error["message"]


def test_too_many_tasks_names_the_limit(api, settings):
    settings.ARBOR_LIMITS = {**settings.ARBOR_LIMITS, "max_tasks_per_tree": 2}
    error = error_of(
        rpc(api, "tasks.create", [t("r"), t("a", parent_id="r"), t("b", parent_id="r")]), 400, -32602
    )
    assert error["data"]["type"] == "limit_exceeded" and "max_tasks_per_tree" in error["message"]


def test_idempotency_key_replays_the_first_answer(api):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks.create", "params": [t("once")]}
    first = api.post("/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/tasks", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    assert Tree.objects.filter(name="once").count() == 1
    other = api.post("/tasks", {**body, "id": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422


ODD_VALUES = [
    None,
    True,
    -1,
    2**70,
    1.5,
    "x",
    "00000000-0000-0000-0000-000000000000",
    [1, "a"],
    {"a": {}},
    "a,b,,c",
]
ALIASES = {
    "task_id": ["id", "root_id"],
    "task_ids": ["context_ids"],
    "parent_id": ["task_id"],
    "statuses": ["status"],
}


def test_no_method_answers_5xx_to_odd_params(api):
    """A small bounded fuzz over each method's own params (schemathesis does the same from the
    schema): a fixed sample of (method, param, odd value) combinations."""
    root = created(api, [t("r"), t("s", parent_id="r")])[0]
    combos = []
    for method in rpc_module.METHODS.values():
        keys = {p["name"] for p in method.params if " " not in p["name"]} | {"task_id"}
        keys |= {alias for key in list(keys) for alias in ALIASES.get(key, [])}
        if method.name == "tasks.update":
            keys |= {"priority", "dependencies", "parent_id", "name", "inputs"}
        for key in sorted(keys - {"wait"}):
            for value in ODD_VALUES:
                combos += [(method.name, {key: value}), (method.name, {"task_id": root["id"], key: value})]
    for name, params in random.Random(4).sample(combos, 150):
        resp = rpc(api, name, params)
        assert resp.status_code < 500, (name, params, resp.json())
    for method in rpc_module.METHODS:
        for params in ([], [1, 2], ["x"], [{"name": 1}]):
            assert rpc(api, method, params).status_code < 500, (method, params)
