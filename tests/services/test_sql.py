"""services.sql: the set-based writes of the worker's hot path (one statement per batch, on both
databases) and of tree creation."""

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
