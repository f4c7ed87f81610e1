"""services.event_log.EventBuffer: the events of one transaction get contiguous sequence numbers per
tree, after the tree's last one, in one insert (one statement per tree on PostgreSQL)."""

import pytest
from django.db import transaction

from tasks_app.models import Event
from tasks_app.services.event_log import EventBuffer

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_trees(run_tree):
    first, tasks = run_tree([{"id": "r", "name": "r", "executor": "noop"}], execute=False)
    second, _ = run_tree([{"id": "s", "name": "s", "executor": "noop"}], execute=False)
    return first, second, tasks["r"]


def test_flush_numbers_each_trees_events_after_its_last_one(two_trees, user):
    first, second, task = two_trees
    before = {
        t.id: max(Event.objects.filter(tree=t).values_list("seq", flat=True), default=0)
        for t in (first, second)
    }
    events = EventBuffer(actor_id=user.pk, source="api")
    events.add(first.id, "task.updated", task_id=task.id, field="name")
    events.add(second.id, "tree.updated")
    events.add(first.id, "tree.updated", why="x")
    assert len(events) == 3 and events.tree_ids() == {first.id, second.id}
    with transaction.atomic():
        rows = events.flush()
    assert len(rows) == 3 and len(events) == 0
    seqs = {(e.tree_id, e.kind): e.seq for e in rows}
    assert seqs[(first.id, "task.updated")] == before[first.id] + 1
    assert seqs[(first.id, "tree.updated")] == before[first.id] + 2
    assert seqs[(second.id, "tree.updated")] == before[second.id] + 1
    stored = Event.objects.get(tree=first, seq=before[first.id] + 2)
    assert stored.kind == "tree.updated" and stored.data == {"why": "x"} and stored.actor_id == user.pk
    assert Event.objects.filter(tree=second).count() == before[second.id] + 1


def test_an_empty_buffer_writes_nothing(two_trees):
    count = Event.objects.count()
    with transaction.atomic():
        assert EventBuffer().flush() == []
    assert Event.objects.count() == count
