"""POST trees/{id}/copy/ and tasks/{id}/copy/ (the copy service is tasks_app.services.copying)."""

import pytest

from tasks_app.models import Task

from .conftest import t

pytestmark = pytest.mark.django_db

TREE = [
    t("root"),
    t("a", "echo", parent_id="root", inputs={"result": 1}),
    t("b", parent_id="root", dependencies=["a"]),
    t("c", parent_id="root"),
]


def test_full_copy_of_a_tree_creates_a_new_tree_with_lineage(api, make_tree, drain):
    tree, tasks = make_tree(TREE, execute=True)
    drain()
    resp = api.post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full"}, format="json")
    assert resp.status_code == 201, resp.json()
    copy = resp.json()
    assert copy["id"] != tree["id"] and copy["original_tree"] == tree["id"]
    assert sorted(x["name"] for x in copy["tasks"]) == ["a", "b", "c", "root"]
    assert all(x["origin_type"] == "copy" for x in copy["tasks"])
    originals = {x["original_task"] for x in copy["tasks"]}
    assert originals == {x["id"] for x in tasks.values()}
    lineage = api.get(f"/api/v1/tasks/{tasks['a']['id']}/lineage/").json()
    assert len(lineage["copies"]) == 1
    assert Task.objects.get(id=tasks["a"]["id"]).status == "completed"  # the original is untouched


def test_minimal_copy_of_a_task_takes_its_dependents(api, make_tree):
    _, tasks = make_tree(TREE)
    resp = api.post(f"/api/v1/tasks/{tasks['a']['id']}/copy/", {}, format="json")
    assert resp.status_code == 201, resp.json()
    names = sorted(x["name"] for x in resp.json()["tasks"])
    assert names == ["a", "b", "root"]  # 'root' joins the siblings into one tree; 'c' is unrelated


def test_copy_without_saving_returns_an_array_that_create_accepts(api, make_tree):
    tree, _ = make_tree(TREE)
    resp = api.post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full", "save": False}, format="json")
    assert resp.status_code == 200, resp.json()
    array = resp.json()["tasks"]
    assert isinstance(array, list) and len(array) == 4
    created = api.post("/api/v1/trees/", array, format="json")
    assert created.status_code == 201, created.json()


def test_custom_copy_by_id(api, make_tree):
    tree, tasks = make_tree(TREE)
    resp = api.post(
        f"/api/v1/trees/{tree['id']}/copy/",
        {"mode": "custom", "custom_task_ids": [tasks["b"]["id"]]},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    assert {"a", "b"} <= {x["name"] for x in resp.json()["tasks"]}  # with its upstream dependency


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"mode": "sideways"}, "mode"),
        ({"reset_fields": ["owner"]}, "owner"),
        ({"custom_task_ids": "nope"}, "custom_task_ids"),
    ],
)
def test_copy_refuses_bad_input(api, make_tree, body, fragment):
    tree, _ = make_tree(TREE)
    resp = api.post(f"/api/v1/trees/{tree['id']}/copy/", body, format="json")
    assert resp.status_code == 400, resp.json()
    assert fragment in resp.json()["error"]["message"]


def test_custom_copy_of_a_task_of_another_tree_is_refused(api, make_tree):
    tree, _ = make_tree(TREE)
    _, other = make_tree([t("elsewhere")])
    resp = api.post(
        f"/api/v1/trees/{tree['id']}/copy/",
        {"mode": "custom", "custom_task_ids": [other["elsewhere"]["id"]]},
        format="json",
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_reference"
