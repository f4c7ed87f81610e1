"""The unfiltered task list's ``count`` is the sum of the reader's trees' ``task_count`` (no
``COUNT(*)`` over task rows, docs/performance.md "Scale"): it must equal the number of tasks the
list holds after every way tasks come and go, and a filtered list still counts its rows."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from tasks_app import selectors
from tasks_app.engine.states import Status
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


# --- ?status= alone: the trees' task_count minus the other statuses, when the status is most tasks


def sql_of(queries) -> list[str]:
    return [q["sql"].upper() for q in queries.captured_queries]


def counts_rows_of(sql: list[str], status: str) -> bool:
    """Whether a COUNT over the task rows of ``status`` itself ran (the plain filtered count)."""
    return any("COUNT(" in q and f"\"STATUS\" = '{status.upper()}'" in q for q in sql)


def every_status_listed(client) -> dict:
    """{status: (count, listed ids)} through the task list, one status at a time."""
    return {s.value: listed(client, f"&status={s.value}") for s in Status}


def assert_exact(client, owner: str):
    with CaptureQueriesContext(connection) as queries:
        by_status = every_status_listed(client)
    sql = sql_of(queries)
    assert not any(counts_rows_of(sql, status) for status in by_status), sql  # the complement ran
    for status, (count, ids) in by_status.items():
        rows = Task.objects.filter(owner__username=owner, status=status)
        assert count == len(ids) == rows.count(), status
        assert set(ids) == {str(pk) for pk in rows.values_list("pk", flat=True)}, status


@pytest.fixture
def majority(monkeypatch):
    """Every status counts as most tasks: the list counts every status by the complement."""
    monkeypatch.setattr(selectors, "status_share", lambda status: 1.0)


def test_status_count_by_complement_stays_exact(api, other_api, other_user, make_tree, drain, majority):
    """The complement is exact only while every writer of task rows keeps Tree.task_count and every
    status is one of the five: run, fail, cancel, retry, edit, delete, and another user's tasks."""
    done, _ = make_tree()
    failing, by_name = make_tree(
        [t("r"), t("bad", "fail", parent_id="r"), t("after", parent_id="r", dependencies=["bad"])]
    )
    make_tree([t("theirs"), t("theirs2", parent_id="theirs")], client=other_api)
    pending, _ = make_tree([t("p"), t("q", parent_id="p")])
    for tree in (done, failing):
        assert api.post(f"/api/v1/trees/{tree['id']}/execute/").status_code == 200
    drain()
    assert_exact(api, "alice")
    assert (
        dict(Task.objects.filter(owner__username="alice").values_list("status").annotate(n=Count("id")))[
            "completed"
        ]
        >= 4
    )

    # retry the failed task in place: failed -> pending again, then a second failure
    assert api.post(f"/api/v1/tasks/{by_name['bad']['id']}/retry/").status_code == 200
    assert_exact(api, "alice")
    drain()
    # edit the never-run tree (one task removed, two added), then delete a task of it
    root = Task.objects.get(tree_id=pending["id"], name="p")
    body = [
        {"id": str(root.id), "name": "p", "executor": "noop"},
        {"id": "n1", "name": "n1", "executor": "noop", "parent_id": str(root.id)},
        {"id": "n2", "name": "n2", "executor": "noop", "parent_id": "n1"},
    ]
    resp = api.post(f"/api/v1/trees/{pending['id']}/edit/", {"tasks": body}, format="json")
    assert resp.status_code == 200, resp.json()
    assert_exact(api, "alice")
    n2 = Task.objects.get(tree_id=pending["id"], name="n2")
    assert api.delete(f"/api/v1/tasks/{n2.id}/").status_code == 200
    assert_exact(api, "alice")
    assert api.delete(f"/api/v1/trees/{done['id']}/").status_code == 200
    assert_exact(api, "alice")
    assert_exact(other_api, other_user.username)


def test_majority_status_is_counted_as_the_complement(api, make_tree, majority):
    make_tree()
    make_tree([t("solo")])
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/v1/tasks/?limit=1&status=pending").json()
    assert body["count"] == 4
    sql = sql_of(queries)
    assert not counts_rows_of(sql, "pending"), sql
    complement = [q for q in sql if 'SUM("TASKS_APP_TREE"."TASK_COUNT")' in q]
    assert len(complement) == 1, sql  # the total and the others in one statement: one snapshot
    assert "'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'" in complement[0]


def test_minority_status_and_more_filters_count_rows(api, make_tree, majority, monkeypatch):
    make_tree([t("solo", tags=["x"]), t("two", parent_id="solo")])
    # with another narrowing filter, the complement would not be the list's: count the rows
    for query in ("&status=pending&tag=x", "&status=pending&tree=" + str(Task.objects.first().tree_id)):
        with CaptureQueriesContext(connection) as queries:
            count, ids = listed(api, query)
        assert count == len(ids)
        assert counts_rows_of(sql_of(queries), "pending")
    monkeypatch.setattr(selectors, "status_share", lambda status: 0.2)
    with CaptureQueriesContext(connection) as queries:
        count, ids = listed(api, "&status=pending")
    assert count == len(ids) == 2
    assert counts_rows_of(sql_of(queries), "pending")


def test_status_count_keeps_scopes_and_refuses_bad_input(
    api, other_api, make_tree, majority, django_user_model
):
    make_tree()
    make_tree([t("theirs")], client=other_api)
    assert listed(api, "&status=pending")[0] == 3
    assert listed(other_api, "&status=pending")[0] == 1
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_task", content_type__app_label="tasks_app")
    )
    assert listed(client_for(clerk), "&status=pending")[0] == 4  # every task, none of the trees
    boss = django_user_model.objects.create_user("boss", password="pw-boss-123", is_superuser=True)
    assert listed(client_for(boss), "&status=pending")[0] == 4
    resp = api.get("/api/v1/tasks/?status=finished")
    assert resp.status_code == 400 and "status" in str(resp.json()), resp.json()


def test_status_share_reads_the_planner_statistics(api, make_tree):
    """On PostgreSQL the share comes from pg_stats (after ANALYZE): the majority status is counted
    as the complement, a minority one row by row; elsewhere (no statistics) always row by row."""
    make_tree([t("root"), *(t(f"c{i}", parent_id="root") for i in range(30))])
    make_tree([t("solo")])
    Task.objects.filter(name__startswith="c").update(status="completed")
    if connection.vendor != "postgresql":
        assert selectors.status_share("completed") == 0.0
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_app_task")
    assert selectors.status_share("completed") > 0.9
    with CaptureQueriesContext(connection) as queries:
        assert listed(api, "&status=completed")[0] == 30
    assert not counts_rows_of(sql_of(queries), "completed")
    with CaptureQueriesContext(connection) as queries:
        assert listed(api, "&status=pending")[0] == 2
    assert counts_rows_of(sql_of(queries), "pending")
