"""/api/v1/tasks/: list filters, detail, PATCH, DELETE, actions, attempts, events, lineage, dependencies."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app.models import Event, Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db


def err(resp):
    return resp.json()["error"]


def names(resp):
    assert resp.status_code == 200, resp.json()
    return sorted(r["name"] for r in resp.json()["results"])


# --- list ----------------------------------------------------------------------------------------


def test_list_filters(api, make_tree, drain):
    one, tasks = make_tree(
        [
            t("root"),
            t("a", "echo", parent_id="root", tags=["prod", "db"]),
            t("b", parent_id="root", tags=["production"], dependencies=["a"]),
        ],
        execute=True,
    )
    drain()
    two, _ = make_tree([t("other", tags=["prod"])])
    assert names(api.get("/api/v1/tasks/")) == ["a", "b", "other", "root"]
    assert names(api.get("/api/v1/tasks/?status=completed")) == ["a", "b", "root"]
    assert names(api.get("/api/v1/tasks/?status=pending")) == ["other"]
    assert names(api.get("/api/v1/tasks/?executor=echo")) == ["a"]
    assert names(api.get("/api/v1/tasks/?tag=prod")) == ["a", "other"]  # "production" does not match
    assert names(api.get("/api/v1/tasks/?tag=db")) == ["a"]
    assert names(api.get(f"/api/v1/tasks/?tree={two['id']}")) == ["other"]
    assert names(api.get(f"/api/v1/tasks/?parent={one['id']}")) == ["a", "b"]
    assert names(api.get("/api/v1/tasks/?root_only=true")) == ["other", "root"]
    assert names(api.get("/api/v1/tasks/?origin_type=create")) == ["a", "b", "other", "root"]
    assert names(api.get("/api/v1/tasks/?origin_type=copy")) == []
    assert names(api.get("/api/v1/tasks/?search=oth")) == ["other"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert names(api.get("/api/v1/tasks/", {"created_after": future})) == []
    assert names(api.get("/api/v1/tasks/", {"created_before": future})) == ["a", "b", "other", "root"]
    assert names(api.get("/api/v1/tasks/", {"completed_after": past})) == ["a", "b", "root"]
    assert names(api.get("/api/v1/tasks/", {"completed_before": past})) == []


@pytest.mark.parametrize(
    "query", ["status=bogus", "tree=not-a-uuid", "created_after=yesterday", "origin_type=stolen"]
)
def test_list_refuses_bad_filters(api, query):
    resp = api.get(f"/api/v1/tasks/?{query}")
    assert resp.status_code == 400, resp.json()
    assert err(resp)["code"] == "validation"


def test_list_orders_and_paginates(api, make_tree):
    make_tree(
        [t("root", priority=3), t("b", parent_id="root", priority=0), t("a", parent_id="root", priority=1)]
    )
    ordered = api.get("/api/v1/tasks/?ordering=priority").json()["results"]
    assert [x["name"] for x in ordered] == ["b", "a", "root"]
    assert [x["name"] for x in api.get("/api/v1/tasks/?ordering=-name").json()["results"]] == [
        "root",
        "b",
        "a",
    ]
    page = api.get("/api/v1/tasks/?ordering=name&limit=2&offset=1").json()
    assert page["count"] == 3 and [x["name"] for x in page["results"]] == ["b", "root"]


def test_owner_filter_is_for_staff(api, other_api, staff_api, make_tree):
    make_tree([t("mine")])
    make_tree([t("theirs")], client=other_api)
    assert names(staff_api.get("/api/v1/tasks/")) == ["mine", "theirs"]
    assert names(staff_api.get("/api/v1/tasks/?owner=mallory")) == ["theirs"]
    assert names(api.get("/api/v1/tasks/?owner=mallory")) == []  # cannot widen a user's scope
    mallory_id = Task.objects.get(name="theirs").owner_id
    assert names(staff_api.get(f"/api/v1/tasks/?owner={mallory_id}")) == ["theirs"]
    for odd in ("9" * 30, "²", "-1"):
        assert names(staff_api.get("/api/v1/tasks/", {"owner": odd})) == []


# --- detail and PATCH ----------------------------------------------------------------------------


def test_retrieve(api, make_tree):
    _, tasks = make_tree()
    body = api.get(f"/api/v1/tasks/{tasks['b']['id']}/").json()
    assert body == tasks["b"]


def test_patch_edits_fields_and_records_an_event(api, make_tree):
    tree, tasks = make_tree()
    resp = api.patch(
        f"/api/v1/tasks/{tasks['a']['id']}/",
        {
            "name": "renamed",
            "priority": 0,
            "inputs": {"x": 1},
            "tags": ["t1"],
            "timeout": 30,
            "executor": "aggregate_results_executor",
            "metadata": {"k": "v"},
            "max_retries": None,
        },
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert (body["name"], body["priority"], body["inputs"], body["tags"], body["timeout"]) == (
        "renamed",
        0,
        {"x": 1},
        ["t1"],
        30.0,
    )
    assert body["executor"] == "aggregate_results_executor"  # apflow's id: a built-in of its own
    # the dependent's view of its dependency follows the rename
    assert api.get(f"/api/v1/tasks/{tasks['b']['id']}/").json()["dependencies"][0]["name"] == "renamed"
    event = Event.objects.filter(tree_id=tree["id"], kind="task.updated").get()
    assert event.data["fields"] == [
        "executor",
        "inputs",
        "max_retries",
        "metadata",
        "name",
        "priority",
        "tags",
        "timeout",
    ]
    assert event.actor.username == "alice" and event.source == "api"


def test_renaming_the_root_renames_the_tree(api, make_tree):
    tree, _ = make_tree()
    api.patch(f"/api/v1/tasks/{tree['id']}/", {"name": "pipeline"}, format="json")
    assert api.get(f"/api/v1/trees/{tree['id']}/").json()["name"] == "pipeline"


@pytest.mark.parametrize(
    ("patch", "code", "message"),
    [
        ({"status": "completed"}, "validation", "field 'status' is read-only"),
        ({"result": 1, "owner": 2}, "validation", "field 'owner' is read-only; field 'result' is read-only"),
        ({"id": "x"}, "validation", "field 'id' is read-only"),
        ({"original_task": None}, "validation", "field 'original_task' is read-only"),
        ({"colour": "red"}, "validation", "unknown field 'colour'"),
        ({"priority": 7}, "tree_validation", "task 'a': priority must be an integer 0..3"),
        ({"priority": None}, "tree_validation", "task 'a': priority cannot be null"),
        ({"inputs": [1]}, "tree_validation", "task 'a': inputs must be an object"),
        ({"name": "b"}, "tree_validation", "duplicate task name 'b'"),
        ({"name": ""}, "tree_validation", "task 'a': name must be a non-empty string"),
        ({"executor": "nope"}, "executor_not_found", "task 'a': unknown executor 'nope'"),
        ({"dependencies": ["ghost"]}, "invalid_reference", "task 'a' depends on unknown task 'ghost'"),
        ({"dependencies": ["b"]}, "circular_dependency", "circular dependency: a -> b -> a"),
        ({"dependencies": ["a"]}, "circular_dependency", "task 'a' depends on itself"),
        (
            {"dependencies": [{"id": "root", "required": "yes"}]},
            "tree_validation",
            "whose 'required' is not true",
        ),
        ({"parent_id": None}, "tree_validation", "task 'a' is not the root; it must keep a parent"),
        ({"parent_id": "a"}, "tree_validation", "task 'a' is its own parent"),
        ({"parent_id": "ghost"}, "invalid_reference", "task 'a' has unknown parent 'ghost'"),
        ({"parent": "b", "parent_id": "b"}, "validation", "either 'parent' or 'parent_id'"),
    ],
)
def test_patch_refuses_invalid_edits_naming_them(api, make_tree, patch, code, message):
    _, tasks = make_tree()
    resp = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", patch, format="json")
    assert resp.status_code == 400, resp.json()
    assert err(resp)["code"] == code
    assert message in err(resp)["message"]
    assert api.get(f"/api/v1/tasks/{tasks['a']['id']}/").json() == tasks["a"]


def test_patch_replaces_dependencies_and_moves_the_parent(api, make_tree):
    _, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("b", parent_id="root"),
            t("c", parent_id="a", dependencies=["a"]),
        ]
    )
    resp = api.patch(
        f"/api/v1/tasks/{tasks['c']['id']}/",
        {
            "dependencies": [tasks["b"]["id"], {"name": "a", "required": False}],
            "parent": tasks["b"]["id"],
        },
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    assert resp.json()["dependencies"] == [
        {"id": tasks["b"]["id"], "name": "b", "required": True},
        {"id": tasks["a"]["id"], "name": "a", "required": False},
    ]
    assert resp.json()["parent"] == tasks["b"]["id"]
    cleared = api.patch(f"/api/v1/tasks/{tasks['c']['id']}/", {"dependencies": []}, format="json")
    assert cleared.json()["dependencies"] == []


def test_patch_refuses_a_parent_cycle_and_a_parent_for_the_root(api, make_tree):
    tree, tasks = make_tree([t("root"), t("a", parent_id="root"), t("c", parent_id="a")])
    resp = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"parent_id": tasks["c"]["id"]}, format="json")
    assert resp.status_code == 400
    assert "parent cycle: a -> c -> a" in err(resp)["message"]
    resp = api.patch(f"/api/v1/tasks/{tree['id']}/", {"parent_id": tasks["a"]["id"]}, format="json")
    assert resp.status_code == 400
    assert "task 'root' is the root of its tree and cannot have a parent" in err(resp)["message"]


def test_patch_refuses_references_to_other_trees_and_users_alike(api, other_api, make_tree):
    _, tasks = make_tree()
    _, mine_elsewhere = make_tree([t("elsewhere")])
    _, foreign = make_tree([t("foreign")], client=other_api)
    messages = []
    for target in (
        mine_elsewhere["elsewhere"]["id"],
        foreign["foreign"]["id"],
        "00000000-0000-0000-0000-000000000001",
    ):
        resp = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"dependencies": [target]}, format="json")
        assert resp.status_code == 400
        assert err(resp)["code"] == "invalid_reference"
        messages.append(err(resp)["message"].replace(target, "<id>"))
    assert len(set(messages)) == 1  # a foreign id reads exactly like a missing one
    assert messages[0] == "task 'a' depends on unknown task '<id>'"


def test_patch_refuses_finished_and_scheduled_tasks_but_not_unscheduled_ones(api, make_tree, drain):
    _, tasks = make_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root")])
    api.post(f"/api/v1/tasks/{tasks['a']['id']}/execute/")  # runs only 'a'
    running = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"priority": 1}, format="json")
    assert running.status_code == 409 and err(running)["code"] == "invalid_transition"
    assert "part of the tree's current run" in err(running)["message"]
    outside = api.patch(f"/api/v1/tasks/{tasks['b']['id']}/", {"priority": 1}, format="json")
    assert outside.status_code == 200
    drain()
    done = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"priority": 1}, format="json")
    assert done.status_code == 409
    assert err(done)["message"] == "task 'a' is completed; only pending tasks can be edited"


def test_patch_of_an_archived_tree_is_refused(api, make_tree):
    tree, tasks = make_tree()
    Tree.objects.filter(id=tree["id"]).update(archived=True)
    resp = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"priority": 1}, format="json")
    assert resp.status_code == 409 and err(resp)["code"] == "archived"


def test_patch_body_must_be_an_object_and_put_is_not_allowed(api, make_tree):
    _, tasks = make_tree()
    assert api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", [1], format="json").status_code == 400
    assert api.put(f"/api/v1/tasks/{tasks['a']['id']}/", {}, format="json").status_code == 405


# --- DELETE --------------------------------------------------------------------------------------


def test_delete_removes_a_task_and_its_subtree(api, make_tree):
    tree, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("a1", parent_id="a"),
            t("a2", parent_id="a", dependencies=["a1"]),
            t("b", parent_id="root"),
        ]
    )
    resp = api.delete(f"/api/v1/tasks/{tasks['a']['id']}/")
    assert resp.status_code == 200
    assert sorted(resp.json()["deleted"]) == sorted(tasks[n]["id"] for n in ("a", "a1", "a2"))
    assert resp.json()["tree_deleted"] is False
    detail = api.get(f"/api/v1/trees/{tree['id']}/").json()
    assert [x["name"] for x in detail["tasks"]] == ["root", "b"] and detail["task_count"] == 2
    event = Event.objects.get(tree_id=tree["id"], kind="task.deleted")
    assert event.data["names"] == ["a", "a1", "a2"]


def test_delete_is_refused_while_something_outside_depends_on_it(api, make_tree):
    _, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("a1", parent_id="a"),
            t("b", parent_id="root", dependencies=["a1"]),
            t("c", parent_id="root", dependencies=["a"]),
        ]
    )
    resp = api.delete(f"/api/v1/tasks/{tasks['a']['id']}/")
    assert resp.status_code == 409
    assert err(resp)["code"] == "cannot_delete"
    assert (
        err(resp)["message"] == "cannot delete: task 'a', 'a1' needed by 'b', 'c' outside the deleted tasks"
    )
    assert Task.objects.count() == 5


def test_delete_is_refused_for_a_running_task(api, make_tree):
    _, tasks = make_tree()
    Task.objects.filter(id=tasks["a"]["id"]).update(status="in_progress")
    resp = api.delete(f"/api/v1/tasks/{tasks['a']['id']}/")
    assert resp.status_code == 409 and "still running" in err(resp)["message"]


def test_deleting_the_root_deletes_the_tree(api, make_tree):
    tree, _ = make_tree()
    resp = api.delete(f"/api/v1/tasks/{tree['id']}/")
    assert resp.status_code == 200 and resp.json()["tree_deleted"] is True
    assert not Tree.objects.exists()


# --- actions -------------------------------------------------------------------------------------


def test_execute_a_task_runs_it_with_its_upstream_only(api, make_tree, drain):
    tree, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root"),
        ]
    )
    resp = api.post(f"/api/v1/tasks/{tasks['b']['id']}/execute/")
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"
    drain()
    statuses = {x["name"]: x["status"] for x in api.get(f"/api/v1/trees/{tree['id']}/").json()["tasks"]}
    assert statuses == {"root": "pending", "a": "completed", "b": "completed", "c": "pending"}


def test_cancel_a_pending_task_cascades_and_a_finished_one_is_refused(api, make_tree, drain):
    _, tasks = make_tree()
    resp = api.post(f"/api/v1/tasks/{tasks['a']['id']}/cancel/")
    assert resp.status_code == 200
    assert resp.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/tasks/{tasks['a']['id']}/cancel/")
    assert again.status_code == 409
    assert err(again)["message"].startswith("task 'a' is already cancelled")


def test_retry_and_rerun(api, make_tree, drain):
    _, tasks = make_tree(
        [
            t("root"),
            t("bad", "fail", parent_id="root"),
            t("ok", parent_id="root"),
            t("after", parent_id="root", dependencies=["ok"]),
        ],
        execute=True,
    )
    drain()
    retried = api.post(f"/api/v1/tasks/{tasks['bad']['id']}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    drain()
    rerun = api.post(f"/api/v1/tasks/{tasks['ok']['id']}/rerun/")
    assert rerun.status_code == 200 and rerun.json()["status"] == "pending"
    assert api.get(f"/api/v1/tasks/{tasks['after']['id']}/").json()["status"] == "pending"
    drain()
    assert api.get(f"/api/v1/tasks/{tasks['after']['id']}/").json()["attempt_count"] == 2


def test_preview_lists_the_tasks_an_action_touches(api, make_tree):
    _, tasks = make_tree()
    resp = api.get(f"/api/v1/tasks/{tasks['a']['id']}/preview/?action=rerun")
    assert resp.status_code == 200
    assert resp.json()["action"] == "rerun"
    assert [x["name"] for x in resp.json()["tasks"]] == ["a", "b"]
    cancel = api.get(f"/api/v1/tasks/{tasks['a']['id']}/preview/?action=cancel").json()
    assert {x["name"] for x in cancel["tasks"]} >= {"a", "b"}
    for query in ("", "?action=explode"):
        bad = api.get(f"/api/v1/tasks/{tasks['a']['id']}/preview/{query}")
        assert bad.status_code == 400 and err(bad)["code"] == "validation"


def test_task_attempts_and_events(api, make_tree, drain):
    _, tasks = make_tree(execute=True)
    drain()
    attempts = api.get(f"/api/v1/tasks/{tasks['b']['id']}/attempts/").json()
    assert attempts["count"] == 1 and attempts["results"][0]["outcome"] == "completed"
    events = api.get(f"/api/v1/tasks/{tasks['b']['id']}/events/").json()["results"]
    assert events and {e["task"] for e in events} == {tasks["b"]["id"]}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    later = api.get(f"/api/v1/tasks/{tasks['b']['id']}/events/?after_seq={seqs[0]}").json()["results"]
    assert [e["seq"] for e in later] == seqs[1:]


def test_lineage_shows_the_original_and_the_copies_the_user_may_see(api, other_api, make_tree):
    _, original = make_tree([t("orig")])
    _, copy = make_tree([t("copy")])
    _, foreign = make_tree([t("foreign copy")], client=other_api)
    Task.objects.filter(id__in=[copy["copy"]["id"], foreign["foreign copy"]["id"]]).update(
        original_task_id=original["orig"]["id"], origin_type="copy"
    )
    lineage = api.get(f"/api/v1/tasks/{original['orig']['id']}/lineage/").json()
    assert lineage["original"] is None
    assert [c["name"] for c in lineage["copies"]] == ["copy"]
    back = api.get(f"/api/v1/tasks/{copy['copy']['id']}/lineage/").json()
    assert back["original"]["id"] == original["orig"]["id"] and back["copies"] == []
    # another user's copy never reveals the original it came from
    assert other_api.get(f"/api/v1/tasks/{foreign['foreign copy']['id']}/lineage/").json()["original"] is None


# --- dependency edits ----------------------------------------------------------------------------


def test_add_and_remove_a_dependency(api, make_tree):
    tree, tasks = make_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root")])
    url = f"/api/v1/tasks/{tasks['b']['id']}/dependencies/"
    resp = api.post(url, {"upstream": tasks["a"]["id"], "required": False}, format="json")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["dependencies"] == [{"id": tasks["a"]["id"], "name": "a", "required": False}]
    kinds = list(Event.objects.filter(tree_id=tree["id"]).values_list("kind", flat=True))
    assert "task.dependency_added" in kinds
    removed = api.delete(f"{url}{tasks['a']['id']}/")
    assert removed.status_code == 200 and removed.json()["dependencies"] == []
    gone = api.delete(f"{url}{tasks['a']['id']}/")
    assert gone.status_code == 404
    assert err(gone)["message"] == "task 'b' does not depend on task 'a'"


def test_adding_a_dependency_that_closes_a_cycle_names_the_path(api, make_tree):
    _, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root", dependencies=["b"]),
        ]
    )
    resp = api.post(
        f"/api/v1/tasks/{tasks['a']['id']}/dependencies/", {"upstream": tasks["c"]["id"]}, format="json"
    )
    assert resp.status_code == 400
    assert err(resp)["code"] == "circular_dependency"
    assert err(resp)["message"] == "circular dependency: a -> c -> b -> a"
    assert err(resp)["details"]["cycle"] == ["a", "c", "b", "a"]
    self_dep = api.post(
        f"/api/v1/tasks/{tasks['a']['id']}/dependencies/", {"upstream": tasks["a"]["id"]}, format="json"
    )
    assert self_dep.status_code == 400 and "depends on itself" in err(self_dep)["message"]


def test_dependency_targets_of_other_users_are_not_found_and_other_trees_are_refused(
    api, other_api, make_tree
):
    _, tasks = make_tree()
    _, elsewhere = make_tree([t("elsewhere")])
    _, foreign = make_tree([t("foreign")], client=other_api)
    url = f"/api/v1/tasks/{tasks['a']['id']}/dependencies/"
    missing = api.post(url, {"upstream": "00000000-0000-0000-0000-000000000001"}, format="json")
    hidden = api.post(url, {"upstream": foreign["foreign"]["id"]}, format="json")
    assert missing.status_code == hidden.status_code == 404
    assert err(hidden)["message"] == f"task '{foreign['foreign']['id']}' not found"
    cross = api.post(url, {"upstream": elsewhere["elsewhere"]["id"]}, format="json")
    assert cross.status_code == 400 and err(cross)["code"] == "invalid_reference"
    assert "different trees" in err(cross)["message"]
    assert api.post(url, {}, format="json").status_code == 400


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (
            "completed_before=2008-07-09T20:12:06.29-20:04",
            200,
        ),  # offset PostgreSQL cannot store: converted first
        ("completed_after=0001-01-01T00:00:00%2B05:00", 400),  # before year 1 once in UTC
        ("created_before=9999-12-31T23:59:59-05:00", 400),  # after year 9999 once in UTC
    ],
)
def test_date_filters_convert_to_utc_and_refuse_out_of_range(api, query, status):
    resp = api.get(f"/api/v1/tasks/?{query}")
    assert resp.status_code == status
    if status == 400:
        assert "date and time out of range" in err(resp)["message"]
