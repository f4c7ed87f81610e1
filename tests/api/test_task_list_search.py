"""The task list's ``?search=`` and ``?tag=`` on PostgreSQL use the indexes of migration
0015_lists_filter_indexes (docs/performance.md "Scale") and answer exactly what the plain
conditions answer; on SQLite the plain conditions alone."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.api import filters
from tasks_app.models import Task

from .conftest import t
from .test_task_list_count import listed

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes")

NAMES = [
    "Task 42",
    "task 420",
    "TASK 4 2",
    "x42y",
    "ab",
    "50% off",
    "under_score",
    "back\\slash",
    "Straße 42",
]
TERMS = [
    "42",
    "task 42",
    "TASK",
    "4 2",
    "%",
    "_",
    "0%",
    "r_s",
    "\\s",
    "ß",
    "straße",
    "2 task",
    '"task 42"',
    "zz",
]


def plan(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_finds_what_the_name_contains(api, make_tree):
    make_tree([t("root"), *(t(name, parent_id="root") for name in NAMES)])
    every = {row.name: str(row.id) for row in Task.objects.all()}
    for term in TERMS:
        words = [term.strip('"')] if term.startswith('"') else term.split()
        expected = {pk for name, pk in every.items() if all(w.upper() in name.upper() for w in words)}
        count, ids = listed(api, "&search=" + term.replace("%", "%25").replace(" ", "%20"))
        assert (count, set(ids)) == (len(expected), expected), term


@postgres_only
def test_rare_terms_use_the_grams_index_common_ones_not(api, make_tree, monkeypatch):
    make_tree([t("root"), *(t(f"task {i}", parent_id="root") for i in range(200))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_app_task")
    with CaptureQueriesContext(connection) as queries:
        count, ids = listed(api, "&search=task%20142")
    assert count == len(ids) == 1
    counted = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert counted and all("regexp_replace" in sql and "'142'" in sql for sql in counted), counted
    assert all("regexp_replace(UPPER('task'" not in sql for sql in counted)  # the common term: none
    with CaptureQueriesContext(connection) as queries:
        count, ids = listed(api, "&search=task")
    assert count == len(ids) == 200
    listing = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("EXPLAIN")]
    assert not any("regexp_replace" in sql for sql in listing), listing
    # with a share of 1 every term may use it: the rows stay the same
    monkeypatch.setattr(filters, "SELECTIVE_SHARE", 1.0)
    assert listed(api, "&search=task")[0] == 200


@postgres_only
def test_the_indexes_answer_the_filters_conditions(api, make_tree):
    """The index expression (in the migration) and NameGrams (in the filter) are two copies of one
    SQL expression: if they drift apart, the planner can no longer use the index."""
    make_tree([t("root", tags=["batch"]), t("task 42", parent_id="root")])
    named = filters._grams_of(Task.objects.all(), "42").order_by().values("pk")
    sql, params = named.query.get_compiler(using="default").as_sql()
    assert "task_name_grams" in plan(sql, params)
    tagged = Task.objects.filter(tags__contains=["batch"]).order_by().values("pk")
    sql, params = tagged.query.get_compiler(using="default").as_sql()
    assert "task_tags_gin" in plan(sql, params)


@pytest.mark.parametrize(
    "term, indexable",
    [
        ("42", True),
        ("4 2", False),
        ("a", False),
        ("%_", False),
        ("x%1", False),
        ("x%1y", True),
        ("ab%", True),
    ],
)
def test_indexable_terms(term, indexable):
    assert filters._indexable(term) is indexable


def test_hostile_terms_are_not_a_500(api, make_tree):
    make_tree([t("root"), t("task 42", parent_id="root")])
    api.raise_request_exception = False
    for term in ("ab%00cd", "%ED%BF%BF%ED%BF%BF", "42%00", "%5C%5C%25%25__", "x" * 300):
        resp = api.get(f"/api/v1/tasks/?search={term}")
        assert resp.status_code < 500, (term, resp.status_code)


@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/api/v1/trees/"])
def test_a_refused_search_names_the_parameter(api, path):
    """Like every other filter's refusal: the message says which parameter was wrong."""
    resp = api.get(f"{path}?search=ab%00cd")
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "search: Null characters are not allowed."
