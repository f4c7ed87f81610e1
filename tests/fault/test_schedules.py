"""Schedules under concurrency and faults, with real ``arbor_worker`` processes on PostgreSQL.

* several supervisors tick at once: every due fire happens exactly once (one fire row, one run);
* the firing process is SIGKILLed inside the fire transaction: nothing of the fire survives, and
  another process fires it once.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db import OperationalError, transaction
from django.utils import timezone

from tasks_app.models import Attempt, Schedule, ScheduleFire, Tree
from tasks_app.services import schedules
from tests.helpers import wait_for

from .conftest import report

TREE = [
    {"id": "root", "name": "root", "executor": "noop"},
    {"id": "leaf", "name": "leaf", "executor": "noop", "parent_id": "root"},
]


def _settled(ids) -> bool:
    return (
        not Schedule.objects.filter(id__in=ids, next_run_at__isnull=False).exists()
        and not ScheduleFire.objects.filter(schedule_id__in=ids, status__in=["queued", "running"]).exists()
    )


def test_schedule_exactly_once_across_three_worker_processes(tm, user, fault):
    for _ in range(3):
        fault.cluster(workers=1)
    due = timezone.now() + dt.timedelta(seconds=2)
    once = [
        schedules.schedule_create(
            owner=user, tree=tm.create_tree(TREE), kind="once", expression=due.isoformat()
        )
        for _ in range(60)
    ]
    repeating = [
        schedules.schedule_create(
            owner=user,
            tree=tm.create_tree(TREE),
            kind="interval",
            expression="1",
            max_runs=3,
            overlap="queue",
            start_at=due,
        )
        for _ in range(10)
    ]
    ids = [s.id for s in once + repeating]
    wait_for(lambda: _settled(ids), 120, 0.2, "every schedule fired and its runs ended", reconnect=True)

    for s in once:
        fires = list(ScheduleFire.objects.filter(schedule=s))
        tree = Tree.objects.get(id=s.tree_id)
        assert [(f.status, f.run_number) for f in fires] == [("completed", 1)], (s.id, fires)
        assert tree.run_count == 1
        assert Attempt.objects.filter(task__tree=tree).count() == 2  # one attempt per task: one run
    for s in repeating:
        fires = ScheduleFire.objects.filter(schedule=s).exclude(status="skipped")
        assert sorted(f.run_number for f in fires) == [1, 2, 3]
        assert Tree.objects.get(id=s.tree_id).run_count == 3
        assert Attempt.objects.filter(task__tree_id=s.tree_id).count() == 6
    workers = set(ScheduleFire.objects.filter(schedule_id__in=ids).values_list("worker", flat=True))
    lateness = sorted(
        (f.fired_at - f.scheduled_for).total_seconds()
        for f in ScheduleFire.objects.filter(schedule_id__in=[s.id for s in once])
    )
    report(
        "SCH-01",
        "3 arbor_worker schedulers, 60 once + 10×3 interval fires: each fire once",
        None,
        0,
        f"(fires recorded by {len(workers)} processes; once-fire lateness p50 "
        f"{lateness[len(lateness) // 2]:.2f}s "
        f"max {lateness[-1]:.2f}s)",
    )


def _fire_in_flight(schedule_id) -> bool:
    """True while another transaction holds the schedule's row lock (the fire transaction)."""
    try:
        with transaction.atomic():
            list(Schedule.objects.select_for_update(nowait=True).filter(id=schedule_id))
    except OperationalError:
        return True
    return False


def test_schedule_killed_mid_fire_fires_once_elsewhere(tm, user, fault):
    victim = fault.cluster(workers=1, ARBOR_TEST_FIRE_PAUSE=30)  # sleeps inside the fire transaction
    tree = tm.create_tree(TREE)
    due = timezone.now() + dt.timedelta(seconds=1)
    schedule = schedules.schedule_create(owner=user, tree=tree, kind="once", expression=due.isoformat())
    wait_for(lambda: _fire_in_flight(schedule.id), 20, 0.05, "the fire transaction in flight", reconnect=True)
    victim.kill()
    killed = time.monotonic()
    # the transaction died with its connection: no fire row, no run, the schedule still due
    wait_for(
        lambda: not _fire_in_flight(schedule.id),
        10,
        0.05,
        "the killed transaction rolled back",
        reconnect=True,
    )
    assert not ScheduleFire.objects.filter(schedule=schedule).exists()
    assert Tree.objects.get(id=tree.id).run_count == 0
    assert Schedule.objects.get(id=schedule.id).next_run_at == schedule.next_run_at

    fault.cluster(workers=1)
    fire = wait_for(
        lambda: ScheduleFire.objects.filter(schedule=schedule, status="completed").first(),
        30,
        0.1,
        "the fire recorded by another process",
        reconnect=True,
    )
    recovery = time.monotonic() - killed
    time.sleep(1.0)  # a few more ticks: nothing fires again
    assert ScheduleFire.objects.filter(schedule=schedule).count() == 1
    tree.refresh_from_db()
    assert (tree.run_count, tree.status, fire.run_number) == (1, "completed", 1)
    assert Attempt.objects.filter(task__tree=tree).count() == 2
    assert Schedule.objects.get(id=schedule.id).next_run_at is None
    report(
        "SCH-02",
        "SIGKILL of the firing process inside the fire transaction: fired once by another process",
        recovery,
        0,
    )
