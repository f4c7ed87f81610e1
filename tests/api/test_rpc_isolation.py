"""Per-user isolation over JSON-RPC: another user's id answers exactly like a missing one
(-32001, HTTP 404) in every method, copy sources and clone/link targets included."""

import pytest

from tasks_app.models import Dependency, Task, Tree
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-0000000000ff"


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def rpc(client, method, params=None, rpc_id=1):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return client.post("/tasks", body, format="json")


@pytest.fixture
def theirs(other_api):
    """A completed tree of the other user: {name: task dict}."""
    resp = rpc(
        other_api,
        "tasks.create",
        [
            t("root"),
            t("a", "echo", parent_id="root", inputs={"v": 1}),
            t("b", parent_id="root", dependencies=["a"]),
        ],
    )
    tasks = {task["name"]: task for task in resp.json()["result"]}
    rpc(other_api, "tasks.execute", {"task_id": tasks["root"]["id"]})
    run_until_idle(hard_kill=False, timeout=30)
    return tasks


def calls(task_id):
    """Every method taking an id, with that id in each place an id goes."""
    return [
        ("tasks.get", {"task_id": task_id}),
        ("tasks.get", {"id": task_id}),
        ("tasks.detail", {"task_id": task_id}),
        ("tasks.tree", {"task_id": task_id}),
        ("tasks.tree", {"root_id": task_id}),
        ("tasks.children", {"parent_id": task_id}),
        ("tasks.update", {"task_id": task_id, "priority": 0}),
        ("tasks.delete", {"task_id": task_id}),
        ("tasks.execute", {"task_id": task_id}),
        ("tasks.execute", {"task_id": task_id, "copy_execution": True}),
        ("tasks.execute", {"task_id": task_id, "wait": True, "timeout": 0.1}),
        ("tasks.cancel", {"task_ids": [task_id]}),
        ("tasks.cancel", {"context_ids": task_id}),
        ("tasks.running.cancel", {"task_ids": task_id}),
        ("tasks.running.status", {"task_ids": [task_id]}),
        ("tasks.copy", {"task_id": task_id}),
        ("tasks.copy", {"task_id": task_id, "copy_mode": "full", "save": False}),
        ("tasks.clone", {"task_id": task_id}),
        ("tasks.clone", {"task_id": task_id, "origin_type": "link"}),
        ("tasks.clone", {"task_id": task_id, "origin_type": "archive"}),
        ("tasks.clone", {"task_id": task_id, "origin_type": "mixed", "link_task_ids": [task_id]}),
    ]


def rows():
    return (
        sorted(Tree.objects.values_list("id", "status", "last_seq", "archived")),
        sorted(Task.objects.values_list("id", "status", "priority", "updated_at")),
        Dependency.objects.count(),
    )


def test_every_method_answers_a_foreign_id_like_a_missing_one(api, theirs):
    before = rows()
    for task in theirs.values():
        for method, params in calls(task["id"]):
            resp = rpc(api, method, params)
            missing = rpc(
                api,
                method,
                {
                    k: (MISSING if v == task["id"] else [MISSING] if v == [task["id"]] else v)
                    for k, v in params.items()
                },
            )
            assert resp.status_code == missing.status_code == 404, (method, params, resp.json())
            error, missing_error = resp.json()["error"], missing.json()["error"]
            assert error["code"] == missing_error["code"] == -32001, (method, params)
            assert error["message"] == missing_error["message"].replace(MISSING, task["id"])
    assert rows() == before


def test_foreign_ids_in_copy_and_link_lists_are_not_found(api, theirs):
    mine = {
        task["name"]: task
        for task in rpc(api, "tasks.create", [t("r"), t("s", parent_id="r")]).json()["result"]
    }
    resp = rpc(
        api,
        "tasks.copy",
        {"task_id": mine["r"]["id"], "copy_mode": "custom", "custom_task_ids": [theirs["a"]["id"]]},
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == -32001
    resp = rpc(
        api,
        "tasks.clone",
        {"task_id": mine["r"]["id"], "origin_type": "mixed", "link_task_ids": [theirs["a"]["id"]]},
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == -32001


def test_foreign_dependency_targets_look_like_missing_ones(api, theirs):
    mine = {
        task["name"]: task
        for task in rpc(api, "tasks.create", [t("r"), t("s", parent_id="r")]).json()["result"]
    }
    foreign = rpc(api, "tasks.update", {"task_id": mine["s"]["id"], "dependencies": [theirs["a"]["id"]]})
    missing = rpc(api, "tasks.update", {"task_id": mine["s"]["id"], "dependencies": [MISSING]})
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == -32011
    created = rpc(api, "tasks.create", [t("x", dependencies=[theirs["a"]["id"]])])
    assert created.json()["error"]["code"] == -32011


def test_lists_counts_and_running_are_owner_scoped(api, other_api, theirs):
    assert rpc(api, "tasks.list", {"user_id": "mallory", "root_only": False}).json()["result"] == []
    counts = rpc(api, "tasks.count", {"user_id": "mallory"}).json()["result"]
    assert counts["total"] == 0 and "user_id" not in counts
    rpc(other_api, "tasks.execute", {"tasks": [t("running")]})
    assert rpc(api, "tasks.running.list").json()["result"] == []
    assert rpc(api, "tasks.running.count").json()["result"] == {"count": 0}
    assert rpc(other_api, "tasks.running.count").json()["result"] == {"count": 1}


def test_staff_reaches_every_users_tasks_and_copies_stay_with_the_owner(staff_api, theirs, other_user):
    got = rpc(staff_api, "tasks.get", {"task_id": theirs["a"]["id"]})
    assert got.status_code == 200 and got.json()["result"]["user_id"] == "mallory"
    copied = rpc(staff_api, "tasks.copy", {"task_id": theirs["a"]["id"]}).json()["result"]
    assert Tree.objects.get(id=copied["task"]["id"]).owner == other_user
