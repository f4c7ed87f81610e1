"""JSON-RPC 2.0 at POST /tasks: every method with apflow's names and params (apflow.md §4.3)."""

import pytest

from tasks_app.models import Attempt, Task, Tree
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def rpc(client, method, params=None, rpc_id=1, **extra):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return client.post("/tasks", body, format="json", **extra)


def ok(client, method, params=None):
    resp = rpc(client, method, params)
    data = resp.json()
    assert resp.status_code == 200, data
    assert set(data) == {"jsonrpc", "id", "result"} and data["jsonrpc"] == "2.0" and data["id"] == 1
    return data["result"]


TREE = [
    t("root"),
    t("a", "echo", parent_id="root", inputs={"x": 1}, priority=3),
    t("b", "echo", parent_id="root", dependencies=["a"], priority=0),
    t("b1", parent_id="b"),
]


@pytest.fixture
def tree(api):
    created = ok(api, "tasks.create", TREE)
    return {task["name"]: task for task in created}


def drain():
    run_until_idle(hard_kill=False, timeout=30)


# --- tasks.create --------------------------------------------------------------------------------


def test_create_params_as_array_returns_the_list_in_preorder(api, user):
    created = ok(api, "tasks.create", TREE)
    assert [task["name"] for task in created] == ["root", "a", "b", "b1"]
    root = created[0]
    assert root["task_tree_id"] == root["id"] == root["tree"]
    assert root["user_id"] == user.username and root["has_children"] is True
    b = created[2]
    assert b["parent_id"] == root["id"] and b["dependencies"] == [
        {"id": created[1]["id"], "name": "a", "required": True}
    ]
    assert (b["status"], b["origin_type"], b["original_task_id"]) == ("pending", "create", None)
    assert Tree.objects.get(id=root["id"]).owner == user


def test_create_accepts_one_task_dict_or_a_tasks_key(api):
    single = ok(api, "tasks.create", {"name": "alone", "executor": "noop", "user_id": "alice"})  # the caller
    assert single["name"] == "alone" and single["has_children"] is False
    many = ok(api, "tasks.create", {"tasks": [t("r"), t("s", parent_id="r")]})
    assert [task["name"] for task in many] == ["r", "s"]


def test_create_accepts_apflow_executor_aliases(api):
    task = ok(api, "tasks.create", [{"name": "x", "schemas": {"method": "aggregate_results_executor"}}])
    assert task["executor"] == "aggregate_results_executor"  # a built-in with apflow's result shape


def test_create_accepts_the_system_info_alias_for_staff(staff_api):
    task = ok(staff_api, "tasks.create", [{"name": "x", "schemas": {"method": "system_info_executor"}}])
    assert task["executor"] == "system_info"


# --- reads ---------------------------------------------------------------------------------------


def test_get_and_detail_include_attempts(api, tree):
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    drain()
    got = ok(api, "tasks.get", {"task_id": tree["a"]["id"]})
    assert got["status"] == "completed" and got["result"] == {"x": 1}
    assert [(a["number"], a["outcome"], a["result"]) for a in got["attempts"]] == [(1, "completed", {"x": 1})]
    assert got["attempts"][0]["effective_inputs"] == {"x": 1}
    assert ok(api, "tasks.detail", {"task_id": tree["a"]["id"]}) == got
    assert ok(api, "tasks.get", {"id": tree["a"]["id"]})["id"] == tree["a"]["id"]


def test_tree_is_the_subtree_rooted_at_the_task(api, tree):
    whole = ok(api, "tasks.tree", {"task_id": tree["root"]["id"]})
    assert whole["task"]["name"] == "root"
    assert [c["task"]["name"] for c in whole["children"]] == ["a", "b"]
    assert [c["task"]["name"] for c in whole["children"][1]["children"]] == ["b1"]
    sub = ok(api, "tasks.tree", {"root_id": tree["b"]["id"]})
    assert sub["task"]["name"] == "b" and [c["task"]["name"] for c in sub["children"]] == ["b1"]


def test_children_ordered_by_priority(api, tree):
    children = ok(api, "tasks.children", {"parent_id": tree["root"]["id"]})
    assert [c["name"] for c in children] == ["b", "a"]  # priority 0 before 3
    assert ok(api, "tasks.children", {"task_id": tree["b1"]["id"]}) == []


def test_list_roots_newest_first_with_filters_and_paging(api, other_api):
    first = ok(api, "tasks.create", [t("first")])
    second = ok(api, "tasks.create", [t("second"), t("kid", parent_id="second")])
    ok(other_api, "tasks.create", [t("theirs")])
    listed = ok(api, "tasks.list")
    assert [task["name"] for task in listed] == ["second", "first"]
    assert listed[0]["has_children"] is True
    everything = ok(api, "tasks.list", {"root_only": False})
    assert {task["name"] for task in everything} == {"first", "second", "kid"}
    assert [task["name"] for task in ok(api, "tasks.list", {"limit": 1, "offset": 1})] == ["first"]
    assert ok(api, "tasks.list", {"status": "completed"}) == []
    assert len(ok(api, "tasks.list", {"status": ["pending"], "limit": 10_000})) == 2  # limit capped at 500
    # user_id is ignored for non-staff callers
    assert {task["name"] for task in ok(api, "tasks.list", {"user_id": "mallory"})} == {"first", "second"}
    assert first["id"] != second[0]["id"]


def test_staff_lists_everyone_or_one_owner(api, other_api, staff_api):
    ok(api, "tasks.create", [t("mine")])
    ok(other_api, "tasks.create", [t("theirs")])
    assert {task["name"] for task in ok(staff_api, "tasks.list")} == {"mine", "theirs"}
    assert [task["name"] for task in ok(staff_api, "tasks.list", {"user_id": "mallory"})] == ["theirs"]
    counts = ok(staff_api, "tasks.count", {"user_id": "alice"})
    assert (counts["total"], counts["user_id"]) == (1, "alice")


def test_count_by_status(api, tree):
    counts = ok(api, "tasks.count")
    assert counts == {
        "pending": 4,
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 4,
        "root_only": False,
    }
    assert ok(api, "tasks.count", {"root_only": True})["total"] == 1
    assert ok(api, "tasks.count", {"statuses": ["completed"]})["total"] == 0


# --- writes --------------------------------------------------------------------------------------


def test_update_a_pending_task(api, tree):
    updated = ok(api, "tasks.update", {"task_id": tree["a"]["id"], "priority": 1, "inputs": {"x": 2}})
    assert (updated["priority"], updated["inputs"]) == (1, {"x": 2})
    assert Task.objects.get(id=tree["a"]["id"]).priority == 1


def test_update_refuses_status_and_results(api, tree):
    resp = rpc(api, "tasks.update", {"task_id": tree["a"]["id"], "status": "completed", "result": {"x": 1}})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert (
        error["code"] == -32602
        and "field 'result' is read-only; field 'status' is read-only" in error["message"]
    )
    assert Task.objects.get(id=tree["a"]["id"]).status == "pending"


def test_delete_a_subtree(api, tree):
    result = ok(api, "tasks.delete", {"task_id": tree["b1"]["id"]})
    assert result["success"] is True and result["task_id"] == tree["b1"]["id"]
    assert (result["deleted_count"], result["children_deleted"], result["tree_deleted"]) == (1, 0, False)
    assert not Task.objects.filter(id=tree["b1"]["id"]).exists()
    whole = ok(api, "tasks.delete", {"task_id": tree["root"]["id"]})
    assert (whole["deleted_count"], whole["children_deleted"], whole["tree_deleted"]) == (3, 2, True)


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_one_entry_per_task(api, tree):
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    result = ok(api, "tasks.cancel", {"task_ids": [tree["b1"]["id"]], "error_message": "no longer needed"})
    assert result == [
        {
            "task_id": tree["b1"]["id"],
            "status": "cancelled",
            "message": "cancelled",
            "force": False,
            "error": "no longer needed",
            "result": None,
        }
    ]
    # a terminal task is refused per task, with a message
    again = ok(api, "tasks.running.cancel", {"task_ids": tree["b1"]["id"], "force": True})
    assert again[0]["status"] == "failed" and "already cancelled" in again[0]["message"]
    assert again[0]["force"] is True


def test_cancel_a_root_cancels_the_whole_tree_and_accepts_context_ids(api, tree):
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    result = ok(api, "tasks.cancel", {"context_ids": f"{tree['root']['id']}, {tree['root']['id']}"})
    assert len(result) == 1 and result[0]["status"] == "cancelled"
    assert set(Task.objects.filter(tree_id=tree["root"]["id"]).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert Tree.objects.get(id=tree["root"]["id"]).status == "cancelled"


def test_cancel_reports_unknown_ids_per_entry(api, tree):
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    missing = "00000000-0000-0000-0000-000000000001"
    result = ok(api, "tasks.cancel", {"task_ids": [tree["a"]["id"], missing]})
    assert result[0]["status"] == "cancelled"
    assert result[1]["status"] == "error" and result[1]["error"]["code"] == -32001
    assert result[1]["error"]["data"]["type"] == "not_found"


# --- running.* -----------------------------------------------------------------------------------


def test_running_list_status_and_count_come_from_the_database(api, other_api, tree):
    ok(other_api, "tasks.execute", {"tasks": [t("theirs")]})
    assert ok(api, "tasks.running.count") == {"count": 0}
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    running = ok(api, "tasks.running.list")
    assert [task["id"] for task in running] == [tree["root"]["id"]]
    assert ok(api, "tasks.running.count") == {"count": 1}
    status = ok(api, "tasks.running.status", {"task_ids": [tree["a"]["id"], tree["root"]["id"]]})
    assert [(s["task_id"], s["context_id"], s["is_running"]) for s in status] == [
        (tree["a"]["id"], tree["root"]["id"], True),
        (tree["root"]["id"], tree["root"]["id"], True),
    ]
    drain()
    assert ok(api, "tasks.running.list") == []
    done = ok(api, "tasks.running.status", {"task_ids": tree["a"]["id"]})
    assert (done[0]["status"], done[0]["is_running"], done[0]["progress"]) == ("completed", False, 1.0)
    mixed = ok(api, "tasks.running.status", {"task_ids": [tree["a"]["id"], "nope"]})
    assert mixed[1] == {"task_id": "nope", "status": "not_found", "message": "task 'nope' not found"}


# --- copy and clone ------------------------------------------------------------------------------


def test_copy_returns_the_new_tree_and_records_lineage(api, tree):
    copied = ok(api, "tasks.copy", {"task_id": tree["a"]["id"]})
    # a's dependent b (and b's subtree) come along; root joins them
    assert copied["task"]["name"] == "root" and copied["task"]["id"] != tree["root"]["id"]
    assert [c["task"]["name"] for c in copied["children"]] == ["a", "b"]
    a_copy = copied["children"][0]["task"]
    assert (a_copy["origin_type"], a_copy["original_task_id"]) == ("copy", tree["a"]["id"])
    assert Task.objects.get(id=tree["a"]["id"]).copies.get().id == Task.objects.get(id=a_copy["id"]).id


def test_copy_save_false_returns_an_array_that_create_accepts(api, tree):
    before = Task.objects.count()
    preview = ok(api, "tasks.copy", {"task_id": tree["root"]["id"], "save": False})
    assert preview["saved"] is False and Task.objects.count() == before
    created = ok(api, "tasks.create", preview["tasks"])
    assert [task["name"] for task in created] == ["root", "a", "b", "b1"]


def test_copy_modes_and_reset_fields(api, tree):
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    drain()
    full = ok(api, "tasks.copy", {"task_id": tree["b"]["id"], "copy_mode": "full"})
    statuses = {full["task"]["name"]: full["task"]["status"]}
    for child in full["children"]:
        statuses[child["task"]["name"]] = child["task"]["status"]
    assert statuses == {"root": "completed", "a": "completed", "b": "pending"}
    custom = ok(
        api,
        "tasks.copy",
        {
            "task_id": tree["root"]["id"],
            "copy_mode": "custom",
            "custom_task_ids": [tree["b"]["id"]],
            "custom_include_children": True,
        },
    )
    assert custom["task"]["name"] == "root"  # b needs a: root joins them
    kept = ok(api, "tasks.copy", {"task_id": tree["a"]["id"], "reset_fields": ["status"], "save": True})
    a_copy = next(c["task"] for c in kept["children"] if c["task"]["name"] == "a")
    assert (a_copy["status"], a_copy["result"]) == ("pending", {"x": 1})


def test_clone_origin_types(api, tree):
    single = ok(api, "tasks.clone", {"task_id": tree["b1"]["id"], "recursive": False})
    assert isinstance(single, dict) and single["parent_id"] is None and single["origin_type"] == "copy"
    resp = rpc(api, "tasks.clone", {"task_id": tree["root"]["id"], "origin_type": "link"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == -32006
    ok(api, "tasks.execute", {"task_id": tree["root"]["id"]})
    drain()
    linked = ok(api, "tasks.clone", {"task_id": tree["b"]["id"], "origin_type": "link"})
    assert [(task["name"], task["origin_type"], task["status"]) for task in linked] == [
        ("b", "link", "completed"),
        ("b1", "link", "completed"),
    ]
    archive = ok(api, "tasks.clone", {"task_id": tree["root"]["id"], "origin_type": "archive"})
    assert {task["origin_type"] for task in archive} == {"archive"}
    assert Tree.objects.get(id=archive[0]["id"]).archived is True
    frozen = rpc(api, "tasks.update", {"task_id": archive[1]["id"], "priority": 0})
    assert frozen.status_code == 409
    assert frozen.json()["error"]["data"]["type"] == "archived"
    mixed = ok(
        api,
        "tasks.clone",
        {
            "task_id": tree["b"]["id"],
            "origin_type": "mixed",
            "link_task_ids": [tree["a"]["id"]],
            "reset_fields": {"priority": 1, "user_id": "alice"},
        },
    )
    by_name = {task["name"]: task for task in mixed}
    assert by_name["a"]["origin_type"] == "link" and by_name["b"]["origin_type"] == "copy"
    assert by_name["b"]["priority"] == 1 and by_name["a"]["priority"] == 3
    preview = ok(api, "tasks.clone", {"task_id": tree["b"]["id"], "save": False})
    assert [task["name"] for task in preview] == ["root", "a", "b", "b1"]  # apflow's list


def test_clone_links_never_cross_users(api, tree):
    resp = rpc(api, "tasks.clone", {"task_id": tree["a"]["id"], "reset_fields": {"user_id": "mallory"}})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"].startswith("links never cross users")


# --- discovery -----------------------------------------------------------------------------------


def test_methods_lists_every_method(api):
    resp = api.get("/tasks/methods")
    assert resp.status_code == 200
    data = resp.json()
    names = {m["name"] for m in data["methods"]}
    assert names == {
        "tasks.mark_success",
        "tasks.skip",
        "tasks.create",
        "tasks.get",
        "tasks.runs",
        "tasks.detail",
        "tasks.tree",
        "tasks.children",
        "tasks.list",
        "tasks.count",
        "tasks.update",
        "tasks.delete",
        "tasks.execute",
        "tasks.cancel",
        "tasks.running.cancel",
        "tasks.copy",
        "tasks.clone",
        "tasks.running.list",
        "tasks.running.status",
        "tasks.running.count",
        "tasks.webhook.trigger",
        "tasks.scheduled.list",
        "tasks.scheduled.due",
    }
    assert data["total"] == len(names) == sum(len(v) for v in data["categories"].values())
    assert all(m["description"] and isinstance(m["params"], list) for m in data["methods"])
    assert data["protocols"][0]["endpoint"] == "/tasks"


def test_attempt_history_survives_a_retry(api):
    created = ok(api, "tasks.create", [t("root"), t("boom", "fail", parent_id="root")])
    ok(api, "tasks.execute", {"task_id": created[0]["id"]})
    drain()
    boom = ok(api, "tasks.get", {"task_id": created[1]["id"]})
    assert boom["status"] == "failed" and len(boom["attempts"]) == 1
    assert Attempt.objects.filter(task_id=boom["id"]).count() == 1
