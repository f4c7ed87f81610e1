"""services.scheduling: after tasks end, propagate cancels the dependents that can no longer run
and makes the others ready; refresh_tree_status closes the run with the engine's status."""

import pytest
from django.db import transaction

from tasks_app.models import Task, Tree
from tasks_app.services import scheduling
from tasks_app.services.event_log import EventBuffer

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


@pytest.fixture
def started(tm):
    """root <- b (needs a), c (optional on a); executed, nothing claimed yet."""
    tree = tm.create_tree(
        [
            t("root", dependencies=[{"id": "b", "required": False}, {"id": "c", "required": False}]),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root", dependencies=[{"id": "a", "required": False}]),
        ]
    )
    tm.execute(tree.id)
    return tree, {task.name: task for task in Task.objects.filter(tree=tree)}


def test_a_failure_cancels_required_dependents_and_readies_optional_ones(started):
    tree, tasks = started
    assert tasks["b"].ready_at is None and tasks["c"].ready_at is None
    Task.objects.filter(id=tasks["a"].id).update(status="failed", error_type="exception")
    events = EventBuffer()
    with transaction.atomic():
        ready = scheduling.propagate([tasks["a"].id], events)
        events.flush()
    b, c = (Task.objects.get(id=tasks[n].id) for n in ("b", "c"))
    assert b.status == "cancelled" and b.error_type == "upstream_failed"
    assert c.status == "pending" and c.ready_at is not None
    assert {str(i) for i in ready} == {str(c.id)}


def test_refresh_tree_status_waits_for_the_run_then_sets_the_engines_status(started):
    tree, tasks = started
    events = EventBuffer()
    with transaction.atomic():
        scheduling.refresh_tree_status([tree.id], events)
        events.flush()
    assert Tree.objects.get(id=tree.id).status == "in_progress"  # tasks still pending
    Task.objects.filter(tree=tree).update(status="completed")
    with transaction.atomic():
        scheduling.refresh_tree_status([tree.id], events)
        events.flush()
    assert Tree.objects.get(id=tree.id).status == "completed" == scheduling.full_tree_status(tree.id)
