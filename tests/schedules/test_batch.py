"""A burst fired as one batch: bulk statements, each fire once, and per-tree outcomes (overlap,
refusals) exactly as one by one."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import AuditEvent, Event, Run, Schedule, ScheduleFire, Tree
from tasks_app.services import control, schedules

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2027, 3, 1, 8, 59, 30, tzinfo=dt.UTC)
DUE = dt.datetime(2027, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
TREE = [
    {"id": "root", "name": "root", "executor": "noop"},
    {"id": "a", "name": "a", "executor": "noop", "parent_id": "root"},
]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def once(user, tree, **fields):
    return schedules.schedule_create(owner=user, tree=tree, kind="once", expression=DUE.isoformat(), **fields)


def test_a_burst_fires_each_schedule_once_in_a_few_statements(user, tm, clock):
    made = [once(user, tm.create_tree(TREE)) for _ in range(40)]
    clock.move_to(DUE)
    with CaptureQueriesContext(connection) as ctx:
        assert schedules.fire_due() == 40
    # one by one this was ~29 statements per fire; a batch is a fixed few dozen (plus, on SQLite,
    # two per tree for the events: PostgreSQL writes every tree's events in one statement)
    limit = 60 if connection.vendor == "postgresql" else 60 + 2 * 40
    assert len(ctx.captured_queries) < limit, len(ctx.captured_queries)
    for s in made:
        fire = ScheduleFire.objects.get(schedule=s)
        assert (fire.status, fire.run_number) == ("running", 1)
        assert fire.started_at is not None
        tree = Tree.objects.get(id=s.tree_id)
        assert (tree.status, tree.run_count) == ("in_progress", 1)
        run = Run.objects.get(tree=tree)
        assert (run.number, run.trigger, run.started_by_id) == (1, "schedule", user.id)
        kinds = list(Event.objects.filter(tree=tree).order_by("seq").values_list("kind", "seq"))
        assert [k for k, _ in kinds].count("schedule.fired") == 1
        assert [seq for _, seq in kinds] == sorted({seq for _, seq in kinds})  # gapless, unique
    assert not Schedule.objects.filter(id__in=[s.id for s in made], next_run_at__isnull=False).exists()
    assert schedules.fire_due() == 0  # nothing fires twice


def test_one_batch_applies_each_trees_overlap_and_refusals(user, tm, clock):
    idle = tm.create_tree(TREE)
    busy_skip, busy_queue, busy_cancel = (tm.create_tree(TREE) for _ in range(3))
    archived = tm.create_tree(TREE)
    fresh = tm.create_tree(TREE)
    s_idle = once(user, idle)
    s_skip = once(user, busy_skip)
    s_queue = once(user, busy_queue, overlap="queue")
    s_cancel = once(user, busy_cancel, overlap="cancel")
    s_archived = once(user, archived)
    s_fresh = once(user, fresh)
    for t in (busy_skip, busy_queue, busy_cancel):
        control.tree_execute(tree=t)  # manual runs in progress
    Tree.objects.filter(id=archived.id).update(archived=True)
    # a tree already finished: a fresh run resets it
    control.tree_execute(tree=fresh)
    from tasks_app.worker.loop import run_until_idle

    clock.move_to(DUE)
    run_until_idle(hard_kill=False, timeout=30)  # every manual run ends
    for t in (busy_skip, busy_queue, busy_cancel):
        control.tree_execute(tree=t, fresh=True)  # and starts again: busy at the fire
    assert schedules.fire_due() == 6
    status = {
        s.id: ScheduleFire.objects.get(schedule=s)
        for s in (s_idle, s_skip, s_queue, s_cancel, s_archived, s_fresh)
    }
    assert (status[s_idle.id].status, status[s_idle.id].run_number) == ("running", 1)
    assert (status[s_skip.id].status, status[s_skip.id].reason) == ("skipped", "the tree was still running")
    assert status[s_queue.id].status == "queued"
    assert (status[s_cancel.id].status, status[s_cancel.id].run_number) == ("running", 3)
    assert status[s_archived.id].status == "error" and "archived" in status[s_archived.id].reason
    assert (status[s_fresh.id].status, status[s_fresh.id].run_number) == ("running", 2)
    counts = dict(Schedule.objects.values_list("id", "run_count"))
    assert counts[s_idle.id] == 1 and counts[s_skip.id] == 0 and counts[s_queue.id] == 1
    assert counts[s_archived.id] == 0


def test_an_owner_without_the_executor_grant_errors_alone(user, other_user, tm, clock, settings):
    from tasks_app.services import grants

    allowed = tm.create_tree(TREE)
    denied = tm.create_tree([{"id": "root", "name": "root", "executor": "noop"}])
    s_ok = once(user, allowed)
    s_no = once(user, denied)

    real = grants.executor_refusal

    def refuse_for_denied(actor, executor_ids, *, source=""):
        # the second tree's check fails as a revoked grant would
        if refuse_for_denied.calls == 1:
            refuse_for_denied.calls += 1
            from tasks_app.exceptions import PermissionDenied

            exc = PermissionDenied("executor 'noop' needs a permission", details={"executor": "noop"})
            exc.actor, exc.source, exc.audited = actor, source, False
            return exc
        refuse_for_denied.calls += 1
        return real(actor, executor_ids, source=source)

    refuse_for_denied.calls = 0
    clock.move_to(DUE)
    import unittest.mock

    with unittest.mock.patch.object(grants, "executor_refusal", refuse_for_denied):
        assert schedules.fire_due() == 2
    fires = {f.schedule_id: f for f in ScheduleFire.objects.all()}
    outcomes = sorted(f.status for f in fires.values())
    assert outcomes == ["error", "running"]
    refused = next(f for f in fires.values() if f.status == "error")
    assert "needs a permission" in refused.reason
    assert Tree.objects.get(id=refused.tree_id).run_count == 0  # nothing written for it
    assert AuditEvent.objects.filter(kind="permission_denied").count() == 1
    assert {s_ok.id, s_no.id} == set(fires)
