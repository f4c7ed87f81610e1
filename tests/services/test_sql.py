"""services.sql: the set-based writes of the worker's hot path (one statement per batch, on both
databases) and of tree creation."""

import datetime as dt
import uuid

import pytest

from tasks_app.models import Dependency, Task
from tasks_app.services import sql, trees

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(run_tree):
    tree, tasks = run_tree(
        [{"id": n, "name": n, "executor": "noop"} for n in ("root",)]
        + [{"id": n, "name": n, "executor": "noop", "parent_id": "root"} for n in ("a", "b")],
        execute=False,
    )
    return tree, tasks


def test_update_rows_writes_each_row_its_own_values_in_one_statement(three, django_assert_num_queries):
    _, tasks = three
    rows = [
        {"pk": tasks["a"].pk, "priority": 0, "name": "A"},
        {"pk": tasks["b"].pk, "priority": 3, "name": "B"},
    ]
    with django_assert_num_queries(1):
        assert sql.update_rows(Task, rows, ["priority", "name"]) == 2
    assert {t.name: t.priority for t in Task.objects.filter(pk__in=[tasks["a"].pk, tasks["b"].pk])} == {
        "A": 0,
        "B": 3,
    }


def test_update_rows_where_and_returning_report_only_the_rows_changed(three):
    _, tasks = three
    Task.objects.filter(pk=tasks["b"].pk).update(status="failed")
    rows = [{"pk": tasks["a"].pk, "status": "cancelled"}, {"pk": tasks["b"].pk, "status": "cancelled"}]
    changed = sql.update_rows(
        Task, rows, ["status"], where="t.status = %s", where_params=["failed"], returning=True
    )
    assert changed == {tasks["b"].pk}
    assert Task.objects.get(pk=tasks["a"].pk).status == "pending"
    assert (
        sql.update_rows(Task, [], ["status"]) == 0
        and sql.update_rows(Task, [], ["status"], returning=True) == set()
    )


def test_insert_rows_adapts_json_uuid_bool_and_dates(three):
    tree, tasks = three
    root = tasks["root"]
    new_id = uuid.uuid4()
    values = {name: getattr(root, name) for name in trees.TASK_COLUMNS}
    values.update(id=new_id, parent_id=root.id, name="c", ref="", inputs={"x": [1, "ü"]}, position=9)
    assert sql.insert_rows(Task, trees.TASK_COLUMNS, [[values[n] for n in trees.TASK_COLUMNS]]) == 1
    task = Task.objects.get(pk=new_id)
    assert task.inputs == {"x": [1, "ü"]} and task.parent_id == root.id and task.created_at == root.created_at
    edge = [tree.id, tasks["a"].id, tasks["b"].id, False, 0]
    assert sql.insert_rows(Dependency, trees.DEPENDENCY_COLUMNS, [edge]) == 1
    assert Dependency.objects.get(downstream_id=tasks["b"].id).required is False


def test_a_template_answers_what_the_orm_answers_for_every_call_of_a_shape(three, django_assert_num_queries):
    from django.db import transaction
    from django.utils import timezone

    _, tasks = three
    template = sql.Template(
        lambda ids, since: (
            Task.objects.filter(id__in=ids, created_at__lte=since)
            .order_by("name")
            .values_list("id", "name", "tree_id", "inputs", "scheduled")
        )
    )
    now = timezone.now()
    for ids in ([tasks["a"].pk], [tasks["b"].pk], [tasks["a"].pk, str(tasks["root"].pk), tasks["a"].pk]):
        expected = [
            tuple(row)
            for row in Task.objects.filter(id__in=ids, created_at__lte=now)
            .order_by("name")
            .values_list("id", "name", "tree_id", "inputs", "scheduled")
        ]
        trip = sql.RoundTrip()
        with transaction.atomic(), django_assert_num_queries(1):
            result = template.rows(trip, ids, now)
            trip.run()
        assert result.rows == expected and len(expected) == len(set(map(str, ids)))
    assert len(template._cache) == 2  # one compiled statement per count of ids
    before = now - dt.timedelta(days=1)
    trip = sql.RoundTrip()
    assert (template.rows(trip, [tasks["a"].pk], before), trip.run())[0].rows == []


def test_an_update_template_writes_its_arguments(three):
    from django.utils import timezone

    _, tasks = three
    template = sql.Template(lambda ids, at: Task.objects.filter(id__in=ids), update={"ready_at": sql.arg(1)})
    for name in ("a", "b"):
        at = timezone.now()
        trip = sql.RoundTrip()
        result = template.rows(trip, [tasks[name].pk], at)
        trip.run()
        assert result.rowcount == 1 and Task.objects.get(pk=tasks[name].pk).ready_at == at
    assert Task.objects.get(pk=tasks["root"].pk).ready_at is None


def test_a_template_keeps_no_statement_for_a_big_list(three):
    _, tasks = three
    template = sql.Template(lambda ids: Task.objects.filter(id__in=ids).values_list("name"))
    many = [tasks["a"].pk] + [uuid.uuid4() for _ in range(sql.TEMPLATE_MAX_IDS)]
    trip = sql.RoundTrip()
    result = template.rows(trip, many)
    trip.run()
    assert result.rows == [("a",)] and template._cache == {}


def _names_template():
    return sql.Template(lambda ids: Task.objects.filter(id__in=ids).order_by("name").values_list("name"))


def _run(template, *args):
    trip = sql.RoundTrip()
    result = template.rows(trip, *args)
    trip.run()
    return result.rows


@pytest.mark.django_db(transaction=True)
def test_hot_statements_are_prepared_once_per_connection(three):
    """On PostgreSQL a template's statement is prepared in the round trip that first uses it and
    executed by name after that (same answers); a new connection prepares it again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    _, tasks = three
    template = _names_template()
    with CaptureQueriesContext(connection) as ctx:
        assert [_run(template, [tasks[n].pk]) for n in ("a", "b", "a")] == [[("a",)], [("b",)], [("a",)]]
    sent = [q["sql"] for q in ctx.captured_queries]
    assert sent[0].startswith("PREPARE arbor_") and "; EXECUTE arbor_" in sent[0]
    assert all(s.startswith("EXECUTE arbor_") for s in sent[1:]), sent
    connection.close()
    with CaptureQueriesContext(connection) as ctx:
        assert _run(template, [tasks["b"].pk]) == [("b",)]
    assert ctx.captured_queries[0]["sql"].startswith("PREPARE arbor_")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("error_first", [True, False], ids=["error-before-prepare", "error-after-prepare"])
def test_after_a_failed_round_trip_the_next_one_starts_afresh(three, error_first):
    """A round trip that fails leaves it unknown which of its PREPAREs ran (the server stops at
    the failing statement): the next one deallocates everything first, and answers."""
    from django.db import DatabaseError, connection, transaction
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    _, tasks = three
    template = _names_template()
    trip = sql.RoundTrip()
    if error_first:
        trip.sql("SELECT 1/0")
    template.rows(trip, [tasks["a"].pk])
    if not error_first:
        trip.sql("SELECT 1/0")
    with pytest.raises(DatabaseError), transaction.atomic():
        trip.run()
    with CaptureQueriesContext(connection) as ctx:
        assert _run(template, [tasks["a"].pk]) == [("a",)]
    assert ctx.captured_queries[0]["sql"].startswith("DEALLOCATE ALL; PREPARE arbor_")
    assert _run(template, [tasks["b"].pk]) == [("b",)]


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_can_be_turned_off(three, settings):
    """ARBOR_PG_PREPARE=0 (behind a pooler in transaction mode): plain statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.ARBOR_PG_PREPARE = False
    _, tasks = three
    with CaptureQueriesContext(connection) as ctx:
        assert _run(_names_template(), [tasks["a"].pk]) == [("a",)]
    assert "PREPARE" not in ctx.captured_queries[0]["sql"] and "EXECUTE" not in ctx.captured_queries[0]["sql"]


def test_placeholders_are_numbered_for_prepare():
    assert sql._numbered("SELECT %s, '%%', %s::int WHERE a = %s") == "SELECT $1, '%%', $2::int WHERE a = $3"


HOSTILE = ['it\'s "quoted"', "{braces}, commas", "back\\slash", "NULL", "", "ünï ☃ 𝄞", " spaced "]


def test_update_rows_and_insert_keep_every_value_exactly(three):
    """Column arrays (``unnest``) carry any text, JSON, null, bool, number and time unchanged."""
    from django.utils import timezone

    from tasks_app.models import Attempt

    tree, tasks = three
    now = timezone.now()
    values = [
        {
            "pk": tasks[n].pk,
            "name": text,
            "result": {"v": text, "list": [text, None]} if i % 2 else None,
            "progress": i / 7,
            "cancel_requested": bool(i % 2),
            "completed_at": now if i % 2 else None,
        }
        for i, (n, text) in enumerate(zip(["root", "a", "b"] * 3, HOSTILE, strict=False))
    ][-3:]
    fields = ["name", "result", "progress", "cancel_requested", "completed_at"]
    trip = sql.RoundTrip()
    trip.update_rows(Task, values, fields)
    attempts = [
        Attempt(
            task_id=tasks["a"].pk,
            tree_id=tree.pk,
            number=i + 1,
            executor="noop",
            worker=text,
            outcome="failed",
            started_at=now,
            logs=[["info", text]],
            result={"t": text},
            effective_inputs={},
            error=text or None,
        )
        for i, text in enumerate(HOSTILE)
    ]
    trip.insert(attempts)
    trip.run()
    for row in values:
        task = Task.objects.get(pk=row["pk"])
        assert [getattr(task, f) for f in fields] == [row[f] for f in fields]
    for attempt in attempts:
        stored = Attempt.objects.get(pk=attempt.pk)
        assert (stored.worker, stored.logs, stored.result, stored.error) == (
            attempt.worker,
            attempt.logs,
            attempt.result,
            attempt.error,
        )
