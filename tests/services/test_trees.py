"""services.trees.tree_create(execute=True): create and start in one transaction."""

import pytest

from tasks_app.exceptions import InvalidTransition
from tasks_app.models import Event, Run, Task, Tree
from tasks_app.services import control, trees

TASKS = [
    {"id": "r", "name": "r", "executor": "noop"},
    {"id": "a", "name": "a", "executor": "noop", "parent_id": "r"},
]


@pytest.mark.django_db
def test_create_and_execute_start_the_run(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True)
    assert tree.status == "in_progress" and tree.run_count == 1
    assert set(tree.key_map) == {"r", "a"} and tree.written_rows is None
    assert Run.objects.filter(tree=tree, number=1, trigger="execute").exists()
    kinds = list(Event.objects.filter(tree_id=tree.id).order_by("seq").values_list("kind", flat=True))
    assert kinds[0] == "tree.created" and "tree.status" in kinds


@pytest.mark.django_db
def test_create_without_execute_leaves_the_tree_pending(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user)
    assert tree.status == "pending" and tree.run_count == 0 and tree.written_rows


@pytest.mark.django_db
def test_demo_flag_reaches_the_run(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True, demo=True)
    assert all(t.params.get("use_demo") for t in Task.objects.filter(tree=tree))


@pytest.mark.django_db(transaction=True)
def test_a_refused_execute_rolls_the_creation_back(user, monkeypatch):
    def refuse(**kwargs):
        raise InvalidTransition("refused for the test")

    monkeypatch.setattr(control, "tree_execute", refuse)
    with pytest.raises(InvalidTransition):
        trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True)
    assert not Tree.objects.exists() and not Task.objects.exists() and not Event.objects.exists()
