"""tasks.execute over JSON-RPC: returns at once, waits on request, copies first, streams.

Workers: most tests run them in-process after the call (``run_until_idle``), which is how the
"returns at once" contract is observed. The ``wait: true`` test needs a worker running *while* the
request waits, so it uses a background thread draining the queue against the same (transactional,
committed) test database; ARBOR_DISPATCH stays "none" so the request itself never runs tasks.
"""

import json
import threading
import time
import uuid

import pytest
from django.db import connection

from tasks_app.models import Attempt, Task, Tree
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def rpc(client, method, params=None, rpc_id=1):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return client.post("/tasks", body, format="json")


def result_of(resp):
    assert resp.status_code == 200, resp.json()
    return resp.json()["result"]


TREE = [
    t("root"),
    t("a", "echo", parent_id="root", inputs={"v": 1}),
    t("b", "echo", parent_id="root", dependencies=["a"]),
]


def test_execute_returns_at_once_with_the_current_status(api):
    tasks = result_of(rpc(api, "tasks.create", TREE))
    started = result_of(rpc(api, "tasks.execute", {"task_id": tasks[0]["id"]}))
    assert started == {
        "success": True,
        "protocol": "jsonrpc",
        "root_task_id": tasks[0]["id"],
        "task_id": tasks[0]["id"],
        "status": "in_progress",
        "message": "execution started",
    }
    assert not Attempt.objects.exists()  # nothing ran inside the request
    run_until_idle(hard_kill=False, timeout=30)
    root = result_of(rpc(api, "tasks.get", {"task_id": tasks[0]["id"]}))
    assert root["status"] == "completed"
    assert Tree.objects.get(id=tasks[0]["id"]).status == "completed"


def test_execute_a_task_array_creates_then_runs_it(api):
    started = result_of(rpc(api, "tasks.execute", {"tasks": TREE}))
    assert started["root_task_id"] == started["task_id"] and started["status"] == "in_progress"
    as_array = result_of(rpc(api, "tasks.execute", [t("solo")]))
    assert Task.objects.get(id=as_array["task_id"]).name == "solo"
    run_until_idle(hard_kill=False, timeout=30)
    assert set(Tree.objects.values_list("status", flat=True)) == {"completed"}


def test_execute_a_child_runs_it_with_its_upstream_only(api):
    tasks = {task["name"]: task for task in result_of(rpc(api, "tasks.create", TREE))}
    started = result_of(rpc(api, "tasks.execute", {"task_id": tasks["b"]["id"]}))
    assert (started["root_task_id"], started["task_id"]) == (tasks["root"]["id"], tasks["b"]["id"])
    run_until_idle(hard_kill=False, timeout=30)
    statuses = dict(Task.objects.values_list("name", "status"))
    assert statuses == {"root": "pending", "a": "completed", "b": "completed"}


def test_wait_times_out_with_the_current_status(api):
    tasks = result_of(rpc(api, "tasks.create", TREE))
    waited = result_of(rpc(api, "tasks.execute", {"task_id": tasks[0]["id"], "wait": True, "timeout": 0.2}))
    assert (waited["status"], waited["final"]) == ("in_progress", False)
    assert waited["message"] == "still in_progress after 0.2s"


@pytest.mark.django_db(transaction=True)
def test_wait_returns_the_final_status(api):
    tasks = result_of(rpc(api, "tasks.create", TREE + [t("boom", "fail", parent_id="root")]))
    tree_id = tasks[0]["id"]
    done = threading.Event()

    def worker():
        try:
            deadline = time.monotonic() + 30
            while not done.is_set() and time.monotonic() < deadline:
                run_until_idle(hard_kill=False, timeout=30)
                if Tree.objects.filter(id=tree_id, status__in=["completed", "failed", "cancelled"]).exists():
                    return
                done.wait(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        waited = result_of(rpc(api, "tasks.execute", {"task_id": tree_id, "wait": True, "timeout": 30}))
    finally:
        done.set()
        thread.join(30)
    assert (waited["status"], waited["final"], waited["message"]) == ("failed", True, "execution finished")
    assert dict(Task.objects.filter(tree_id=tree_id).values_list("name", "status")) == {
        "root": "completed",
        "a": "completed",
        "b": "completed",
        "boom": "failed",
    }


def test_copy_execution_runs_a_copy_and_leaves_the_original_alone(api):
    tasks = {task["name"]: task for task in result_of(rpc(api, "tasks.create", TREE))}
    started = result_of(
        rpc(
            api, "tasks.execute", {"task_id": tasks["a"]["id"], "copy_execution": True, "copy_children": True}
        )
    )
    assert started["original_task_id"] == tasks["a"]["id"]
    assert started["task_id"] != tasks["a"]["id"] and started["root_task_id"] != tasks["root"]["id"]
    copy = Task.objects.get(id=started["task_id"])
    assert (str(copy.original_task_id), copy.origin_type, copy.name) == (tasks["a"]["id"], "copy", "a")
    run_until_idle(hard_kill=False, timeout=30)
    assert Tree.objects.get(id=started["root_task_id"]).status == "completed"
    # a's dependent b was copied along and ran; the original tree never ran
    assert set(Task.objects.filter(tree_id=started["root_task_id"]).values_list("name", "status")) == {
        ("root", "completed"),
        ("a", "completed"),
        ("b", "completed"),
    }
    assert set(Task.objects.filter(tree_id=tasks["root"]["id"]).values_list("status", flat=True)) == {
        "pending"
    }


def test_streaming_falls_back_to_the_plain_answer_without_sse(api, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sse(name, *args, **kwargs):
        if name == "tasks_app.live.sse":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sse)
    started = result_of(rpc(api, "tasks.execute", {"tasks": TREE, "use_streaming": True}))
    assert started["streaming"] is False and started["status"] == "in_progress"


def test_streaming_is_ignored_inside_a_batch(api):
    answers = api.post(
        "/tasks",
        [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tasks.execute",
                "params": {"tasks": TREE, "use_streaming": True},
            }
        ],
        format="json",
    ).json()
    assert answers[0]["result"]["status"] == "in_progress" and "streaming" not in answers[0]["result"]


def test_streaming_answers_with_an_event_stream_starting_with_the_result(api):
    resp = rpc(api, "tasks.execute", {"tasks": TREE, "use_streaming": True}, rpc_id="s1")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    run_until_idle(hard_kill=False, timeout=30)  # the stream ends once the tree is terminal
    body = b"".join(resp.streaming_content).decode()
    resp.close()
    first = json.loads(body.split("\n\n")[0].removeprefix("data: "))
    assert first["id"] == "s1" and first["result"]["streaming"] is True
    assert first["result"]["status"] == "in_progress"
    assert '"type":"final","status":"completed"' in body and body.rstrip().endswith("event: end\ndata: {}")


def test_execute_with_tasks_creates_and_starts_in_one_go(api):
    started = result_of(rpc(api, "tasks.execute", {"tasks": TREE, "use_demo": True}))
    tree = Tree.objects.get(id=started["root_task_id"])
    assert started["status"] == "in_progress" and tree.run_count == 1
    assert all(t.params.get("use_demo") for t in Task.objects.filter(tree=tree))


@pytest.mark.parametrize(
    "params",
    [
        {"tasks": TREE, "use_demo": "yes"},  # refused before anything is created
        {"tasks": TREE, "use_streaming": True, "event_format": "xml"},
    ],
)
def test_a_refused_execute_with_tasks_creates_nothing(api, params):
    resp = rpc(api, "tasks.execute", params)
    assert "error" in resp.json()
    assert not Tree.objects.exists()


def test_a_refused_run_rolls_the_created_tree_back(api, monkeypatch):
    from tasks_app.exceptions import InvalidTransition
    from tasks_app.services import control

    def refuse(**kwargs):
        raise InvalidTransition("refused for the test")

    monkeypatch.setattr(control, "tree_execute", refuse)
    for params in ({"tasks": TREE}, {"tasks": TREE, "copy_execution": True}):
        resp = rpc(api, "tasks.execute", params)
        assert resp.json()["error"]["message"] == "refused for the test"
        assert not Tree.objects.exists()


def test_create_answers_exactly_what_a_read_answers(api, user):
    """tasks.create renders the tree from the rows it wrote (REST's fast path); it must equal the
    apflow dicts read back from the database, in the same pre-order, field for field."""
    from tasks_app.api.rpc.render import _preorder, task_dicts
    from tasks_app.selectors import tree_tasks

    client_id = "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5"
    created = result_of(
        rpc(
            api,
            "tasks.create",
            [
                t(
                    "root",
                    inputs={"b": 1, "aa": [1.5, None, "\u2028"]},
                    tags=["x"],
                    metadata={"k": {"v": True}},
                ),
                t("x", parent_id="root", priority=3),
                {"id": client_id, "name": "a", "executor": "echo", "parent_id": "root", "priority": 0},
                t("a2", parent_id=client_id),
                t("b", parent_id="root", dependencies=["x", {"name": "a", "required": False}]),
            ],
        )
    )
    root_id = uuid.UUID(created[0]["id"])
    read = task_dicts(_preorder(tree_tasks(root_id), root_id))
    assert json.loads(json.dumps(created)) == json.loads(json.dumps(read))
    assert [d["name"] for d in created] == [d["name"] for d in read]
    assert next(d for d in created if d["id"] == client_id)["has_children"] is True


@pytest.mark.django_db(transaction=True)
def test_a_committed_create_answers_exactly_what_a_read_answers(api, user):
    """As above, outside a test transaction: the create commits itself and builds its answer on a
    helper thread during the commit (round 4 of issue 18)."""
    from rest_framework.renderers import JSONRenderer

    from tasks_app.api.rpc.render import _preorder, task_dicts
    from tasks_app.selectors import tree_tasks

    from .test_trees_api import EVERY_FIELD_KIND

    resp = rpc(api, "tasks.create", EVERY_FIELD_KIND)
    created = result_of(resp)
    root_id = uuid.UUID(created[0]["id"])
    read = task_dicts(_preorder(tree_tasks(root_id), root_id))
    assert json.loads(json.dumps(created)) == json.loads(json.dumps(read))
    assert [d["name"] for d in created] == ["root", "a", "b", "c"]
    assert resp.content == JSONRenderer().render(resp.data, "application/json", {})


def test_a_create_keeps_the_cyclic_gc_paused_from_its_parse_to_its_answer(api, monkeypatch):
    """Each re-enable between parsing a 10,000-task body and answering it set off a collection over
    the whole parsed tree (docs/performance.md, "Creating 10,000 tasks (round 4)"): ``tasks.create``
    runs paused throughout, any other method only while its body is parsed."""
    import gc

    from tasks_app.api.rpc import methods

    seen = {}
    real_check, real_task = methods._check_user_ids, methods._task

    def check_user_ids(call, params):
        seen["tasks.create"] = gc.isenabled()
        return real_check(call, params)

    def task(call, params, *keys, **kw):
        seen["tasks.get"] = gc.isenabled()
        return real_task(call, params, *keys, **kw)

    monkeypatch.setattr(methods, "_check_user_ids", check_user_ids)
    monkeypatch.setattr(methods, "_task", task)
    created = result_of(rpc(api, "tasks.create", {"tasks": TREE}))
    assert seen == {"tasks.create": False} and gc.isenabled()
    result_of(rpc(api, "tasks.get", {"task_id": created[0]["id"]}))
    assert seen == {"tasks.create": False, "tasks.get": True} and gc.isenabled()
