"""tasks_app.services.tasks directly: events, concurrency of dependency edits, deletion rules."""

import threading

import pytest
from django.db import connection

from tasks_app.exceptions import CannotDelete, DependencyCycle, InvalidTransition, ValidationError
from tasks_app.models import Dependency, Event, Task
from tasks_app.services import tasks as task_services
from tasks_app.services import trees
from tests.api.conftest import t


def make(user, tasks=None):
    tree = trees.tree_create(
        owner=user, tasks=tasks or [t("root"), t("a", parent_id="root"), t("b", parent_id="root")]
    )
    return tree, {x.name: x for x in Task.objects.filter(tree=tree)}


@pytest.mark.django_db
def test_task_update_records_actor_and_source(user):
    tree, tasks = make(user)
    task_services.task_update(task=tasks["a"], data={"priority": 0}, actor=user, source="rpc")
    event = Event.objects.get(tree=tree, kind="task.updated")
    assert (event.task_id, event.actor_id, event.source, event.data) == (
        tasks["a"].id,
        user.pk,
        "rpc",
        {"fields": ["priority"]},
    )


@pytest.mark.django_db
def test_an_empty_update_writes_nothing(user):
    tree, tasks = make(user)
    task_services.task_update(task=tasks["a"], data={}, actor=user)
    task_services.task_update(task=tasks["a"], data={"name": "a"}, actor=user)  # unchanged
    assert not Event.objects.filter(tree=tree, kind="task.updated").exists()


@pytest.mark.django_db
def test_task_update_refuses_non_objects(user):
    _, tasks = make(user)
    with pytest.raises(ValidationError, match="must be an object"):
        task_services.task_update(task=tasks["a"], data=["x"])


@pytest.mark.django_db
def test_dependency_add_on_an_existing_edge_changes_required(user):
    _, tasks = make(user)
    task_services.dependency_add(downstream=tasks["b"], upstream=tasks["a"])
    task_services.dependency_add(downstream=tasks["b"], upstream=tasks["a"], required=False)
    edge = Dependency.objects.get()
    assert edge.required is False


@pytest.mark.django_db
def test_dependency_edits_need_an_editable_downstream(user):
    tree, tasks = make(user)
    Task.objects.filter(id=tasks["b"].id).update(status="completed")
    with pytest.raises(InvalidTransition, match="only pending tasks can be edited"):
        task_services.dependency_add(downstream=tasks["b"], upstream=tasks["a"])


@pytest.mark.django_db
def test_delete_is_refused_while_a_link_points_into_the_deleted_tasks(user):
    _, tasks = make(user)
    other, other_tasks = make(user, [t("linker")])
    Task.objects.filter(id=other_tasks["linker"].id).update(original_task=tasks["a"], origin_type="link")
    with pytest.raises(CannotDelete, match="task 'a' linked by 'linker'"):
        task_services.task_delete(task=tasks["a"])


@pytest.mark.django_db
def test_tree_delete_tells_live_clients(user, monkeypatch):
    tree, _ = make(user)
    published = []
    monkeypatch.setattr(task_services, "publish_on_commit", published.extend)
    task_services.tree_delete(tree=tree, actor=user)
    assert [(p["kind"], p["tree"], p["seq"]) for p in published] == [("tree.deleted", str(tree.id), None)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_opposite_dependency_edits_cannot_both_commit(user):
    """A -> B and B -> A at the same time: the tree row lock serialises them, so the second one
    sees the first one's edge and is refused as a cycle."""
    _, tasks = make(user)
    barrier = threading.Barrier(2)
    outcomes = []

    def add(down, up):
        try:
            barrier.wait(5)
            task_services.dependency_add(downstream=tasks[down], upstream=tasks[up])
            outcomes.append("ok")
        except DependencyCycle as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=("a", "b")), threading.Thread(target=add, args=("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["circular_dependency", "ok"]
    assert Dependency.objects.count() == 1
