"""/api/v1/trees/: create from an array, list, detail, delete, execute/cancel/retry, events, attempts."""

import pytest

from tasks_app.models import Event, Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db


def err(resp):
    return resp.json()["error"]


# --- create --------------------------------------------------------------------------------------


def test_create_from_bare_array_answers_the_tree_detail(api, make_tree):
    tree, tasks = make_tree()
    assert tree["status"] == "pending"
    assert tree["task_count"] == 3
    assert tree["owner"] == "alice" and tree["last_seq"] == 1  # the tree.created event
    assert tree["counts"] == {"pending": 3, "in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0}
    assert tree["id"] == tasks["root"]["id"]
    assert tasks["b"]["dependencies"] == [{"id": tasks["a"]["id"], "name": "a", "required": True}]
    assert tasks["a"]["parent"] == tree["id"] and tasks["root"]["is_root"] is True
    assert tasks["a"]["ref"] == "a"


def test_create_answers_exactly_what_a_read_answers(api, make_tree):
    """The create response is rendered from the rows just written (no read-back): it must equal a
    GET of the tree, field for field, client UUID ids, optional dependencies and JSON included."""
    client_id = "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5"
    tree, _ = make_tree(
        [
            t(
                "root",
                inputs={"b": 1, "aa": [1.5, None, "\u2028"]},
                tags=["x"],
                priority=0,
                timeout=3,
                max_retries=2,
                retry_delay=0.5,
                metadata={"k": {"v": True}},
                resources=[{"type": "db", "identifier": "main", "mode": "read"}],
            ),
            {"id": client_id, "name": "a", "executor": "echo", "parent_id": "root"},
            t("b", parent_id="root", dependencies=["a", {"name": "root", "required": False}]),
        ]
    )
    assert tree == api.get(f"/api/v1/trees/{tree['id']}/").json()
    assert [task["id"] for task in tree["tasks"]][1] == client_id


EVERY_FIELD_KIND = [
    t(
        "root",
        inputs={"b": 1, "aa": [1.5, None, "\u2028", 1e-05]},
        params={"x": {"y": [1, 2]}},
        schemas={"method": "noop"},
        tags=["x", "é"],
        priority=0,
        timeout=3,
        max_retries=2,
        retry_delay=0.5,
        metadata={"k": {"v": True}, "n": 12345678901234567890},
        resources=[{"type": "db", "identifier": "main", "mode": "read"}],
    ),
    {"id": "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5", "name": "a", "executor": "echo", "parent_id": "root"},
    t("b", parent_id="root", dependencies=["a", {"name": "root", "required": False}]),
    {"name": "c", "executor": "noop", "parent_id": "b", "dependencies": ["b"]},
]


@pytest.mark.django_db(transaction=True)
def test_a_committed_create_answers_what_a_read_answers_byte_for_byte(api):
    """Outside a test transaction the create commits itself and renders its tasks on a helper
    thread during the commit (round 4 of issue 18): the answer must still equal a GET field for
    field, and its bytes must be what DRF's own renderer writes for it."""
    from rest_framework.renderers import JSONRenderer

    resp = api.post("/api/v1/trees/", EVERY_FIELD_KIND, format="json")
    assert resp.status_code == 201, resp.json()
    assert resp.json() == api.get(f"/api/v1/trees/{resp.json()['id']}/").json()
    assert resp.content == JSONRenderer().render(resp.data, "application/json", {})
    assert b"1e-05" in resp.content  # Python's spelling, not orjson's


def test_tasks_of_a_tree_share_created_at_and_list_newest_first_by_position(api, make_tree):
    make_tree([t("old")])
    tree, tasks = make_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root")])
    assert len({task["created_at"] for task in tree["tasks"]}) == 1
    listed = api.get("/api/v1/tasks/").json()["results"]
    assert [task["name"] for task in listed] == ["b", "a", "root", "old"]
    oldest = api.get("/api/v1/tasks/?ordering=created_at").json()["results"]
    assert [task["name"] for task in oldest] == ["old", "root", "a", "b"]


def test_create_with_execute_starts_the_run(api, make_tree, drain):
    tree, _ = make_tree([t("root"), t("a", parent_id="root")], execute=True)
    assert tree["status"] == "in_progress"
    drain()
    assert api.get(f"/api/v1/trees/{tree['id']}/").json()["status"] == "completed"


@pytest.mark.parametrize(
    ("tasks", "code", "fragment"),
    [
        (
            [t("root"), t("a", parent_id="root", dependencies=["ghost"])],
            "invalid_reference",
            "task 'a' depends on unknown task 'ghost'",
        ),
        (
            [t("root", dependencies=["a"]), t("a", parent_id="root", dependencies=["root"])],
            "circular_dependency",
            "circular dependency: ",
        ),
        (
            [t("root"), t("a", parent_id="root", status="completed")],
            "tree_validation",
            "task 'a': status must be 'pending' at creation (got 'completed')",
        ),
        ([t("root"), t("a", parent_id="root", priority=9)], "tree_validation", "task 'a': priority must be"),
        (
            [t("root"), t("a", "no_such_executor", parent_id="root")],
            "executor_not_found",
            "task 'a': unknown executor 'no_such_executor'",
        ),
        ([t("root"), t("root2")], "tree_validation", "exactly one task must have no parent"),
        ([], "tree_validation", "non-empty array"),
    ],
)
def test_create_refuses_invalid_trees_naming_the_task(api, tasks, code, fragment):
    resp = api.post("/api/v1/trees/", tasks, format="json")
    assert resp.status_code == 400, resp.json()
    assert err(resp)["code"] == code
    assert fragment in err(resp)["message"]
    assert not Tree.objects.exists()


@pytest.mark.parametrize("body", ["just a string", 42, {"tasks": "nope"}, {"no_tasks": []}])
def test_create_refuses_bodies_of_the_wrong_shape(api, body):
    resp = api.post("/api/v1/trees/", body, format="json")
    assert resp.status_code == 400
    assert err(resp)["code"] in {"validation", "tree_validation"}


def test_create_refuses_malformed_json(api):
    resp = api.post("/api/v1/trees/", "[{", content_type="application/json")
    assert resp.status_code == 400
    assert err(resp)["code"] == "parse_error"


def test_create_accepts_json_only(api):
    resp = api.post("/api/v1/trees/", {"name": "x"}, format="multipart")
    assert resp.status_code == 415


# --- list, detail, delete ------------------------------------------------------------------------


def test_list_filters_searches_orders_and_paginates(api, make_tree, drain):
    first, _ = make_tree([t("alpha")])
    second, _ = make_tree([t("beta")], execute=True)
    drain()
    resp = api.get("/api/v1/trees/")
    body = resp.json()
    assert body["count"] == 2
    assert [r["name"] for r in body["results"]] == ["beta", "alpha"]  # newest first
    assert body["results"][0]["counts"]["completed"] == 1
    assert [r["name"] for r in api.get("/api/v1/trees/?status=completed").json()["results"]] == ["beta"]
    assert [r["name"] for r in api.get("/api/v1/trees/?search=alp").json()["results"]] == ["alpha"]
    assert [r["name"] for r in api.get("/api/v1/trees/?ordering=name").json()["results"]] == ["alpha", "beta"]
    page = api.get("/api/v1/trees/?limit=1&offset=1").json()
    assert [r["name"] for r in page["results"]] == ["alpha"] and page["previous"]
    assert api.get("/api/v1/trees/?status=bogus").status_code == 400


def test_detail_has_every_task_and_counts(api, make_tree):
    tree, _ = make_tree()
    detail = api.get(f"/api/v1/trees/{tree['id']}/").json()
    assert [task["name"] for task in detail["tasks"]] == ["root", "a", "b"]
    assert detail["counts"]["pending"] == 3


@pytest.mark.parametrize("tree_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_detail_of_a_missing_tree_is_404(api, tree_id):
    resp = api.get(f"/api/v1/trees/{tree_id}/")
    assert resp.status_code == 404
    assert err(resp) == {"code": "not_found", "message": f"tree '{tree_id}' not found"}


def test_delete_removes_the_whole_tree(api, make_tree):
    tree, _ = make_tree()
    resp = api.delete(f"/api/v1/trees/{tree['id']}/")
    assert resp.status_code == 200
    assert resp.json()["tree_deleted"] is True and len(resp.json()["deleted"]) == 3
    assert not Tree.objects.exists() and not Task.objects.exists() and not Event.objects.exists()
    assert api.get(f"/api/v1/trees/{tree['id']}/").status_code == 404


def test_delete_is_refused_while_the_tree_runs(api, make_tree):
    tree, _ = make_tree(execute=True)
    resp = api.delete(f"/api/v1/trees/{tree['id']}/")
    assert resp.status_code == 409
    assert err(resp)["code"] == "cannot_delete"
    assert "in progress" in err(resp)["message"]


def test_archived_tree_refuses_writes(api, make_tree):
    tree, _ = make_tree()
    Tree.objects.filter(id=tree["id"]).update(archived=True)
    for resp in (
        api.delete(f"/api/v1/trees/{tree['id']}/"),
        api.post(f"/api/v1/trees/{tree['id']}/execute/"),
    ):
        assert resp.status_code == 409
        assert err(resp)["code"] == "archived"
        assert "archived and read-only" in err(resp)["message"]


# --- actions -------------------------------------------------------------------------------------


def test_execute_runs_the_tree_and_a_second_execute_is_refused(api, make_tree, drain):
    tree, _ = make_tree()
    resp = api.post(f"/api/v1/trees/{tree['id']}/execute/")
    assert resp.status_code == 200
    assert resp.json()["status"] == "in_progress" and resp.json()["run_count"] == 1
    again = api.post(f"/api/v1/trees/{tree['id']}/execute/")
    assert again.status_code == 409 and err(again)["code"] == "already_executing"
    drain()
    done = api.post(f"/api/v1/trees/{tree['id']}/execute/")
    assert done.status_code == 409 and err(done)["code"] == "invalid_transition"
    assert "nothing to run" in err(done)["message"]


def test_cancel_cancels_every_unfinished_task(api, make_tree):
    tree, _ = make_tree(execute=True)
    resp = api.post(f"/api/v1/trees/{tree['id']}/cancel/")
    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["counts"]["cancelled"] == 3
    again = api.post(f"/api/v1/trees/{tree['id']}/cancel/")
    assert again.status_code == 409 and err(again)["code"] == "invalid_transition"


def test_retry_resumes_failed_tasks_in_place(api, make_tree, drain):
    tree, tasks = make_tree(
        [t("root"), t("bad", "fail", parent_id="root"), t("after", parent_id="root", dependencies=["bad"])],
        execute=True,
    )
    drain()
    assert api.get(f"/api/v1/trees/{tree['id']}/").json()["status"] == "failed"
    resp = api.post(f"/api/v1/trees/{tree['id']}/retry/")
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"
    statuses = {x["name"]: x["status"] for x in api.get(f"/api/v1/trees/{tree['id']}/").json()["tasks"]}
    assert statuses == {"root": "completed", "bad": "pending", "after": "pending"}
    drain()
    attempts = api.get(f"/api/v1/tasks/{tasks['bad']['id']}/attempts/").json()
    assert [a["number"] for a in attempts["results"]] == [1, 2]


def test_retry_without_failures_is_refused(api, make_tree, drain):
    tree, _ = make_tree(execute=True)
    drain()
    resp = api.post(f"/api/v1/trees/{tree['id']}/retry/")
    assert resp.status_code == 409
    assert "no failed or cancelled task" in err(resp)["message"]


# --- events and attempts -------------------------------------------------------------------------


def test_events_are_ordered_by_seq_and_resume_after_seq(api, make_tree, drain):
    tree, _ = make_tree(execute=True)
    drain()
    everything = api.get(f"/api/v1/trees/{tree['id']}/events/").json()
    seqs = [e["seq"] for e in everything["results"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert everything["last_seq"] == seqs[-1] and everything["next"] is None
    assert everything["results"][0]["kind"] == "tree.created"
    assert everything["results"][0]["actor"] == "alice" and everything["results"][0]["source"] == "api"
    # the websocket's form (docs/live.md): "type" and "at", actor by username
    assert set(everything["results"][0]) == {
        "type",
        "tree",
        "seq",
        "kind",
        "task",
        "data",
        "actor",
        "source",
        "at",
    }
    page = api.get(f"/api/v1/trees/{tree['id']}/events/?after_seq=2&limit=3").json()
    assert [e["seq"] for e in page["results"]] == [3, 4, 5]
    assert "after_seq=5" in page["next"]
    follow = api.get(page["next"]).json()
    assert follow["results"][0]["seq"] == 6
    assert api.get(f"/api/v1/trees/{tree['id']}/events/?after_seq={seqs[-1]}").json()["results"] == []


@pytest.mark.parametrize("query", ["after_seq=-1", "after_seq=x", "limit=0", "limit=501"])
def test_events_refuse_bad_query_parameters(api, make_tree, query):
    tree, _ = make_tree()
    resp = api.get(f"/api/v1/trees/{tree['id']}/events/?{query}")
    assert resp.status_code == 400 and err(resp)["code"] == "validation"


def test_tree_attempts_list_every_attempt(api, make_tree, drain):
    tree, tasks = make_tree(execute=True)
    drain()
    body = api.get(f"/api/v1/trees/{tree['id']}/attempts/").json()
    assert body["count"] == 3
    first = body["results"][0]
    assert set(first) == {
        "id",
        "task",
        "run",
        "number",
        "outcome",
        "executor",
        "effective_inputs",
        "result",
        "error",
        "error_type",
        "worker",
        "started_at",
        "finished_at",
        "duration",
        "logs",
    }
    assert {a["outcome"] for a in body["results"]} == {"completed"}
    assert {a["task"] for a in body["results"]} == {x["id"] for x in tasks.values()}
