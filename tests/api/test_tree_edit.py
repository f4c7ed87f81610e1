"""POST /api/v1/trees/{id}/edit/: a tree that never ran is edited in place, atomically."""

import pytest

from tasks_app.models import Dependency, Event, Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db


def _array(detail):
    """The tree as the editor sends it back: ids kept, parents and dependencies by id."""
    return [
        {
            "id": x["id"],
            "name": x["name"],
            "executor": x["executor"],
            "parent_id": x["parent"],
            "inputs": x["inputs"],
            "dependencies": [{"id": d["id"], "required": d["required"]} for d in x["dependencies"]],
        }
        for x in detail["tasks"]
    ]


def test_edit_keeps_ids_adds_changes_and_removes_tasks(api, make_tree):
    tree, tasks = make_tree(
        [
            t("root"),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("gone", parent_id="root"),
        ]
    )
    body = [x for x in _array(tree) if x["name"] != "gone"]
    by = {x["name"]: x for x in body}
    by["a"]["name"], by["b"]["name"] = "b", "a"  # a swap of names: the unique index must not trip
    by["root"]["name"] = "renamed"
    body.append(
        {
            "id": "new",
            "name": "new",
            "executor": "echo",
            "parent_id": tasks["a"]["id"],
            "dependencies": [tasks["b"]["id"]],
        }
    )
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", {"tasks": body}, format="json")
    assert resp.status_code == 200, resp.json()
    out = resp.json()
    assert (
        out["id"] == tree["id"]
        and out["name"] == "renamed"
        and out["task_count"] == 4
        and out["run_count"] == 0
    )
    names = {x["id"]: x["name"] for x in out["tasks"]}
    assert names[tasks["a"]["id"]] == "b" and names[tasks["b"]["id"]] == "a"
    assert tasks["gone"]["id"] not in names
    new = next(x for x in out["tasks"] if x["name"] == "new")
    assert new["parent"] == tasks["a"]["id"] and [d["id"] for d in new["dependencies"]] == [tasks["b"]["id"]]
    assert Dependency.objects.filter(tree_id=tree["id"]).count() == 2
    assert Event.objects.filter(tree_id=tree["id"], kind="tree.edited").count() == 1
    # the edited tree runs
    assert api.post(f"/api/v1/trees/{tree['id']}/execute/").status_code == 200


def test_a_refused_edit_changes_nothing(api, make_tree):
    tree, tasks = make_tree()
    body = _array(tree)
    by = {x["name"]: x for x in body}
    by["a"]["dependencies"] = [{"id": tasks["b"]["id"], "required": True}]  # a -> b -> a
    by["root"]["name"] = "changed"
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", body, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "circular_dependency"
    assert Tree.objects.get(id=tree["id"]).name == "root"
    assert Task.objects.filter(tree_id=tree["id"]).count() == 3


def test_only_a_tree_that_never_ran_and_only_yours(api, other_api, make_tree, drain):
    tree, _ = make_tree(execute=True)
    drain()
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", _array(tree), format="json")
    assert resp.status_code == 409 and "already run" in resp.json()["error"]["message"]
    fresh, _ = make_tree()
    assert (
        other_api.post(f"/api/v1/trees/{fresh['id']}/edit/", _array(fresh), format="json").status_code == 404
    )
    body = [x for x in _array(fresh) if x["parent_id"] is not None]  # no root: refused
    body[0]["parent_id"] = None
    body[1]["parent_id"] = body[0]["id"]
    resp = api.post(f"/api/v1/trees/{fresh['id']}/edit/", body, format="json")
    assert resp.status_code == 400 and "root" in resp.json()["error"]["message"]
