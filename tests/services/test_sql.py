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
