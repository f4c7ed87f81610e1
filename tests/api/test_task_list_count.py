"""The unfiltered task list's ``count`` is the sum of the reader's trees' ``task_count`` (no
``COUNT(*)`` over task rows, docs/performance.md "Scale"): it must equal the number of tasks the
list holds after every way tasks come and go, and a filtered list still counts its rows."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import Task

from .conftest import client_for, t

pytestmark = pytest.mark.django_db


def listed(client, query=""):
    """(count, every listed id) of the task list, walking all its pages."""
    ids, offset, count = [], 0, None
    while True:
        resp = client.get(f"/api/v1/tasks/?limit=2&offset={offset}{query}")
        assert resp.status_code == 200, resp.json()
        body = resp.json()
        count = body["count"] if count is None else count
        assert body["count"] == count
        ids += [row["id"] for row in body["results"]]
        if not body["next"]:
            return count, ids
        offset += 2


def test_count_follows_create_edit_delete(api, other_api, make_tree):
    tree, _ = make_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root")])
    make_tree([t("theirs")], client=other_api)  # another user's tasks never count
    second, _ = make_tree([t("r2"), t("x", parent_id="r2"), t("y", parent_id="x")])
    count, ids = listed(api)
    assert count == len(ids) == 6 == Task.objects.filter(owner__username="alice").count()

    # edit: "b" removed, two tasks added
    root = next(x for x in tree["tasks"] if x["name"] == "root")
    body = [
        {"id": x["id"], "name": x["name"], "executor": x["executor"], "parent_id": x["parent"]}
        for x in tree["tasks"]
        if x["name"] != "b"
    ]
    body += [
        {"id": "n1", "name": "n1", "executor": "noop", "parent_id": root["id"]},
        {"id": "n2", "name": "n2", "executor": "noop", "parent_id": "n1"},
    ]
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", {"tasks": body}, format="json")
    assert resp.status_code == 200, resp.json()
    count, ids = listed(api)
    assert count == len(ids) == 7

    # delete a subtree, then a whole tree
    x = next(row for row in second["tasks"] if row["name"] == "x")
    assert api.delete(f"/api/v1/tasks/{x['id']}/").status_code == 200
    count, ids = listed(api)
    assert count == len(ids) == 5
    assert api.delete(f"/api/v1/trees/{second['id']}/").status_code == 200
    count, ids = listed(api)
    assert count == len(ids) == 4


def test_unfiltered_count_reads_trees_not_task_rows(api, make_tree):
    make_tree()
    make_tree([t("solo")])
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/v1/tasks/?limit=1&ordering=name").json()
    assert body["count"] == 4
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not any("COUNT(" in q for q in sql), sql
    assert any('SUM("TASKS_APP_TREE"."TASK_COUNT")' in q for q in sql), sql


@pytest.mark.parametrize("query", ["&status=pending", "&search=solo", "&root_only=true", "&tag=x"])
def test_filtered_count_counts_rows(api, make_tree, query):
    make_tree()
    make_tree([t("solo", tags=["x"])])
    with CaptureQueriesContext(connection) as queries:
        count, ids = listed(api, query)
    assert count == len(ids)
    assert any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_staff_who_see_every_task_but_not_every_tree_count_rows(api, other_api, make_tree, django_user_model):
    make_tree()
    make_tree([t("theirs")], client=other_api)
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_task", content_type__app_label="tasks_app")
    )
    count, ids = listed(client_for(clerk))
    assert count == len(ids) == 4  # every owner's tasks, though the clerk's own trees hold none
    superuser = django_user_model.objects.create_user("boss", password="pw-boss-123", is_superuser=True)
    count, ids = listed(client_for(superuser))
    assert count == len(ids) == 4
