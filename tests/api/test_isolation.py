"""Per-user isolation: every endpoint x another user's id answers 404 exactly like a missing id;
lists never show foreign rows; staff see everything."""

import pytest

from tasks_app.models import Event, Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-0000-0000-00000000dead"

# (method, url template, body); {tree} / {task} / {up} are the ids under test
ENDPOINTS = [
    ("get", "/api/v1/trees/{tree}/", None),
    ("delete", "/api/v1/trees/{tree}/", None),
    ("post", "/api/v1/trees/{tree}/execute/", None),
    ("post", "/api/v1/trees/{tree}/cancel/", None),
    ("post", "/api/v1/trees/{tree}/retry/", None),
    ("post", "/api/v1/trees/{tree}/copy/", {"mode": "full"}),
    ("get", "/api/v1/trees/{tree}/events/", None),
    ("get", "/api/v1/trees/{tree}/attempts/", None),
    ("get", "/api/v1/tasks/{task}/", None),
    ("patch", "/api/v1/tasks/{task}/", {"priority": 1}),
    ("delete", "/api/v1/tasks/{task}/", None),
    ("post", "/api/v1/tasks/{task}/execute/", None),
    ("post", "/api/v1/tasks/{task}/cancel/", None),
    ("post", "/api/v1/tasks/{task}/retry/", None),
    ("post", "/api/v1/tasks/{task}/rerun/", None),
    ("post", "/api/v1/tasks/{task}/copy/", {"mode": "minimal"}),
    ("get", "/api/v1/tasks/{task}/preview/?action=retry", None),
    ("get", "/api/v1/tasks/{task}/attempts/", None),
    ("get", "/api/v1/tasks/{task}/events/", None),
    ("get", "/api/v1/tasks/{task}/lineage/", None),
    ("post", "/api/v1/tasks/{task}/dependencies/", {"upstream": "{up}"}),
    ("delete", "/api/v1/tasks/{task}/dependencies/{up}/", None),
    ("get", "/api/v1/stats/?tree={tree}", None),
]


def fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def foreign(other_api, make_tree):
    """mallory's tree: root -> a -> b (b depends on a)."""
    tree, tasks = make_tree(client=other_api)
    return {"tree": tree["id"], "task": tasks["b"]["id"], "up": tasks["a"]["id"]}


def call(client, method, url, body):
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


def message_shape(resp, ids):
    """The error with the ids blanked out: what a caller could learn from it."""
    error = resp.json()["error"]
    text = error["message"]
    for value in ids.values():
        text = text.replace(value, "<id>")
    return error["code"], text


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS, ids=[f"{m} {u}" for m, u, _ in ENDPOINTS])
def test_foreign_ids_answer_exactly_like_missing_ones(api, foreign, method, url, body):
    before = (Tree.objects.count(), Task.objects.count(), Event.objects.count())
    foreign_resp = call(api, method, fill(url, foreign), fill(body, foreign))
    missing = dict.fromkeys(foreign, MISSING)
    missing_resp = call(api, method, fill(url, missing), fill(body, missing))
    assert foreign_resp.status_code == 404, foreign_resp.json()
    assert missing_resp.status_code == 404
    assert message_shape(foreign_resp, foreign) == message_shape(missing_resp, missing)
    assert (Tree.objects.count(), Task.objects.count(), Event.objects.count()) == before


def test_foreign_ids_in_bodies_are_not_found(api, foreign, make_tree):
    tree, tasks = make_tree()
    dep = api.post(
        f"/api/v1/tasks/{tasks['a']['id']}/dependencies/", {"upstream": foreign["up"]}, format="json"
    )
    assert dep.status_code == 404
    remove = api.delete(f"/api/v1/tasks/{tasks['b']['id']}/dependencies/{foreign['up']}/")
    assert remove.status_code == 404
    copy = api.post(
        f"/api/v1/trees/{tree['id']}/copy/",
        {"mode": "custom", "custom_task_ids": [foreign["task"]]},
        format="json",
    )
    assert copy.status_code == 404
    assert copy.json()["error"]["message"] == f"task '{foreign['task']}' not found"


def test_lists_never_show_foreign_rows(api, other_api, foreign, make_tree, drain):
    make_tree([t("mine")], execute=True)
    other_api.post(f"/api/v1/trees/{foreign['tree']}/execute/")
    drain()
    assert [x["name"] for x in api.get("/api/v1/trees/").json()["results"]] == ["mine"]
    assert [x["name"] for x in api.get("/api/v1/tasks/").json()["results"]] == ["mine"]
    assert api.get(f"/api/v1/tasks/?tree={foreign['tree']}").json()["count"] == 0
    stats = api.get("/api/v1/stats/").json()
    assert stats["total"] == 1 and stats["attempts"]["by_outcome"] == {"completed": 1}


def test_staff_see_every_user(staff_api, foreign, make_tree):
    make_tree([t("mine")])
    assert staff_api.get("/api/v1/trees/").json()["count"] == 2
    assert staff_api.get("/api/v1/tasks/").json()["count"] == 4
    assert staff_api.get(f"/api/v1/trees/{foreign['tree']}/").status_code == 200
    assert staff_api.get(f"/api/v1/tasks/{foreign['task']}/events/").status_code == 200
    assert staff_api.get(f"/api/v1/stats/?tree={foreign['tree']}").json()["total"] == 3
