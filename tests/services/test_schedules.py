"""The schedule services and the scheduler tick, driven one step at a time under time-machine."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from tasks_app.exceptions import ArchivedTask, ValidationError
from tasks_app.models import Event, Schedule, ScheduleFire, Tree
from tasks_app.services import control, schedules
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2027, 3, 1, 8, 59, 30, tzinfo=dt.UTC)


def at(hh, mm=0, ss=0, day=1):
    return dt.datetime(2027, 3, day, hh, mm, ss, tzinfo=dt.UTC)


@pytest.fixture
def tree(tm):
    return tm.create_tree(
        [
            {"id": "root", "name": "root", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "noop", "parent_id": "root"},
        ]
    )


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make(user, tree, kind="cron", expression="0 9 * * *", **fields):
    return schedules.schedule_create(
        owner=user,
        tree=tree,
        kind=kind,
        expression=expression,
        timezone_name=fields.pop("tz", "UTC"),
        **fields,
    )


def tick(clock, when):
    clock.move_to(when)
    fired = schedules.scheduler_tick()
    run_until_idle(hard_kill=False, timeout=30)
    schedules.settle_fires()
    return fired


def test_create_computes_next_run(user, tree, clock):
    s = make(user, tree)
    assert s.next_run_at == at(9)
    assert s.state == "active"


def test_a_due_fire_runs_the_tree_in_place_and_records_its_outcome(user, tree, clock):
    s = make(user, tree)
    assert tick(clock, at(9, 0, 0)) == 1
    fire = ScheduleFire.objects.get(schedule=s)
    tree.refresh_from_db()
    assert (fire.status, fire.run_number, fire.scheduled_for) == ("completed", 1, at(9))
    assert tree.status == "completed" and tree.run_count == 1
    s.refresh_from_db()
    assert (s.run_count, s.next_run_at) == (1, at(9, day=2))
    kinds = list(Event.objects.filter(tree=tree, source="schedule").values_list("kind", flat=True))
    assert "schedule.fired" in kinds and "schedule.run_finished" in kinds
    # the next day's fire resets the finished tasks and runs the same tree again: run 2
    tick(clock, at(9, 0, 1, day=2))
    tree.refresh_from_db()
    assert tree.run_count == 2 and tree.status == "completed"
    assert list(ScheduleFire.objects.filter(schedule=s).values_list("run_number", flat=True)) == [2, 1]


def test_nothing_fires_before_due(user, tree, clock):
    make(user, tree)
    assert tick(clock, at(8, 59, 59)) == 0
    assert not ScheduleFire.objects.exists()


def test_a_second_tick_does_not_fire_again(user, tree, clock):
    make(user, tree)
    tick(clock, at(9))
    assert schedules.scheduler_tick() == 0
    assert ScheduleFire.objects.count() == 1


def test_max_runs_ends_the_schedule(user, tree, clock):
    s = make(user, tree, "interval", "60", max_runs=2)
    tick(clock, T0 + dt.timedelta(seconds=60))
    tick(clock, T0 + dt.timedelta(seconds=120))
    s.refresh_from_db()
    assert (s.run_count, s.next_run_at, s.state) == (2, None, "finished")
    assert tick(clock, T0 + dt.timedelta(seconds=600)) == 0


def test_end_at_ends_the_schedule(user, tree, clock):
    s = make(user, tree, "daily", "09:00", end_at=at(12))
    tick(clock, at(9))
    s.refresh_from_db()
    assert s.next_run_at is None and s.state == "finished"


def test_once_fires_once(user, tree, clock):
    s = make(user, tree, "once", "2027-03-01T10:00:00+01:00")
    assert s.next_run_at == at(9)
    tick(clock, at(9, 0, 5))
    s.refresh_from_db()
    assert s.next_run_at is None and ScheduleFire.objects.count() == 1


def test_catch_up_skip_after_downtime_fires_once(user, tree, clock):
    s = make(user, tree, "cron", "0 * * * *")
    assert tick(clock, at(14, 30)) == 1  # down from 09:00 to 14:30
    fire = ScheduleFire.objects.get(schedule=s)
    assert (fire.scheduled_for, fire.missed) == (at(14), 5)
    s.refresh_from_db()
    assert s.next_run_at == at(15)


def test_catch_up_run_is_bounded_and_queues(user, tree, clock, settings):
    settings.ARBOR_SCHEDULE_MAX_CATCH_UP = 3
    s = make(user, tree, "cron", "0 * * * *", catch_up="run", overlap="queue")
    clock.move_to(at(14, 30))
    assert schedules.scheduler_tick() == 3
    assert list(ScheduleFire.objects.order_by("scheduled_for").values_list("status", flat=True)) == [
        "running",
        "queued",
        "queued",
    ]
    for _ in range(3):
        run_until_idle(hard_kill=False, timeout=30)
        schedules.settle_fires()
    run_until_idle(hard_kill=False, timeout=30)
    schedules.settle_fires()
    assert list(ScheduleFire.objects.order_by("scheduled_for").values_list("status", "run_number")) == [
        ("completed", 1),
        ("completed", 2),
        ("completed", 3),
    ]
    s.refresh_from_db()
    assert s.run_count == 3


def test_overlap_skip_records_a_skipped_fire(user, tree, clock):
    s = make(user, tree, "interval", "60")
    control.tree_execute(tree=tree)  # a manual run still in progress
    clock.move_to(T0 + dt.timedelta(seconds=60))
    schedules.scheduler_tick()
    fire = ScheduleFire.objects.get(schedule=s)
    assert (fire.status, fire.reason) == ("skipped", "the tree was still running")
    s.refresh_from_db()
    assert s.run_count == 0


def test_overlap_queue_starts_when_the_run_ends(user, tree, clock):
    s = make(user, tree, "interval", "60", overlap="queue")
    control.tree_execute(tree=tree)
    clock.move_to(T0 + dt.timedelta(seconds=60))
    schedules.scheduler_tick()
    assert ScheduleFire.objects.get(schedule=s).status == "queued"
    run_until_idle(hard_kill=False, timeout=30)  # the manual run ends
    schedules.settle_fires()  # the queued fire starts: run 2
    assert ScheduleFire.objects.get(schedule=s).status == "running"
    run_until_idle(hard_kill=False, timeout=30)
    schedules.settle_fires()
    fire = ScheduleFire.objects.get(schedule=s)
    assert (fire.status, fire.run_number) == ("completed", 2)


def test_overlap_cancel_cancels_the_previous_run(user, tree, clock):
    s = make(user, tree, "interval", "60", overlap="cancel")
    control.tree_execute(tree=tree)
    clock.move_to(T0 + dt.timedelta(seconds=60))
    schedules.scheduler_tick()
    fire = ScheduleFire.objects.get(schedule=s)
    assert (fire.status, fire.run_number) == ("running", 2)
    assert Event.objects.filter(tree=tree, kind="tree.status", data__status="cancelled").exists()
    run_until_idle(hard_kill=False, timeout=30)
    schedules.settle_fires()
    assert Tree.objects.get(id=tree.id).status == "completed"


def test_pause_and_resume_skip_the_paused_time(user, tree, clock):
    s = make(user, tree, "cron", "0 * * * *")
    schedules.schedule_pause(schedule=s)
    assert tick(clock, at(12, 30)) == 0
    s = schedules.schedule_resume(schedule=s)
    assert s.next_run_at == at(13)


def test_upcoming_lists_the_next_times(user, tree, clock):
    s = make(user, tree, "weekly", "1,3 09:00", tz="Europe/Berlin", max_runs=3)
    times = schedules.upcoming(s, 5)
    assert [t.astimezone(dt.UTC).strftime("%a %d %H:%M") for t in times] == [
        "Wed 03 08:00",
        "Mon 08 08:00",
        "Wed 10 08:00",
    ]


@pytest.mark.parametrize(
    ("fields", "field", "match"),
    [
        ({"kind": "cron", "expression": "99 * * * *"}, "expression", "invalid cron expression"),
        ({"kind": "cron", "expression": "0 9 * * *", "tz": "Nowhere/Land"}, "timezone", "unknown timezone"),
        ({"kind": "interval", "expression": "0"}, "expression", "greater than 0"),
        ({"kind": "interval", "expression": "-1"}, "expression", "greater than 0"),
        (
            {"kind": "cron", "expression": "0 9 * * *", "start_at": at(12), "end_at": at(10)},
            "end_at",
            "end_at must be after start_at",
        ),
        ({"kind": "cron", "expression": "0 9 * * *", "overlap": "sometimes"}, "overlap", "overlap must be"),
        ({"kind": "cron", "expression": "0 9 * * *", "max_concurrent": 2}, "max_concurrent", "in place"),
        ({"kind": "cron", "expression": "0 9 * * *", "max_runs": 0}, "max_runs", "positive"),
    ],
)
def test_bad_input_names_the_field(user, tree, clock, fields, field, match):
    fields = dict(fields)
    with pytest.raises(ValidationError, match=match) as info:
        make(user, tree, fields.pop("kind"), fields.pop("expression"), **fields)
    assert info.value.details["field"] == field
    assert not Schedule.objects.exists()


def test_archived_tree_cannot_be_scheduled(user, tree, clock):
    Tree.objects.filter(id=tree.id).update(archived=True)
    tree.refresh_from_db()
    with pytest.raises(ArchivedTask, match="archived") as info:
        make(user, tree)
    assert info.value.details["field"] == "tree"


def test_deleting_a_tree_removes_its_schedules(user, tree, clock):
    make(user, tree)
    tick(clock, at(9))
    from tasks_app.services import tasks as task_services

    task_services.tree_delete(tree=Tree.objects.get(id=tree.id), actor=user)
    assert not Schedule.objects.exists() and not ScheduleFire.objects.exists()


def test_a_fire_that_cannot_start_is_recorded_and_the_schedule_advances(user, tree, clock):
    s = make(user, tree, "interval", "60")
    Tree.objects.filter(id=tree.id).update(archived=True)
    clock.move_to(T0 + dt.timedelta(seconds=60))
    schedules.scheduler_tick()
    fire = ScheduleFire.objects.get(schedule=s)
    assert fire.status == "error" and "archived" in fire.reason
    s.refresh_from_db()
    assert s.next_run_at == T0 + dt.timedelta(seconds=120)


def test_unique_fire_is_the_backstop(user, tree, clock):
    s = make(user, tree, "interval", "60")
    ScheduleFire.objects.create(
        schedule=s, tree=tree, scheduled_for=s.next_run_at, status="completed", fired_at=timezone.now()
    )
    clock.move_to(T0 + dt.timedelta(seconds=60))
    assert schedules.scheduler_tick() == 0  # recorded elsewhere: rolled back, no second run
    assert ScheduleFire.objects.count() == 1
    assert Tree.objects.get(id=tree.id).run_count == 0
    assert Schedule.objects.get(id=s.id).next_run_at == T0 + dt.timedelta(seconds=120)


def test_fires_across_the_berlin_fall_back_keep_wall_clock_time(user, tree, clock):
    clock.move_to(dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC))
    s = make(user, tree, "daily", "02:30", tz="Europe/Berlin")
    assert s.next_run_at == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)  # 02:30 CEST
    tick(clock, dt.datetime(2026, 10, 25, 0, 30, 0, 200_000, tzinfo=dt.UTC))
    s.refresh_from_db()
    assert s.next_run_at == dt.datetime(2026, 10, 26, 1, 30, tzinfo=dt.UTC)  # 02:30 CET, 25 hours later
    assert ScheduleFire.objects.get(schedule=s).status == "completed"


def test_fires_across_the_new_york_spring_forward(user, tree, clock):
    clock.move_to(dt.datetime(2026, 3, 7, 12, tzinfo=dt.UTC))
    s = make(user, tree, "cron", "30 2 * * *", tz="America/New_York")
    assert s.next_run_at == dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC)  # 02:30 does not exist: 03:00 EDT
    tick(clock, dt.datetime(2026, 3, 8, 7, 0, 1, tzinfo=dt.UTC))
    s.refresh_from_db()
    assert s.next_run_at == dt.datetime(2026, 3, 9, 6, 30, tzinfo=dt.UTC)  # 02:30 EDT


def test_enabling_through_update_resumes_from_now(user, tree, clock):
    s = make(user, tree, "cron", "0 * * * *")
    schedules.schedule_update(schedule=s, enabled=False)
    clock.move_to(at(15, 10))
    s = schedules.schedule_update(schedule=s, enabled=True)
    assert s.next_run_at == at(16)


def test_the_tick_command_fires_due_schedules(user, tree, clock):
    from io import StringIO

    from django.core.management import call_command

    make(user, tree)
    clock.move_to(at(9, 0, 1))
    out = StringIO()
    call_command("arbor_schedule_tick", stdout=out)
    assert out.getvalue().startswith("fired 1 due time(s)")
    assert ScheduleFire.objects.count() == 1


def test_an_idle_tick_is_one_statement_and_a_due_one_fires(user, tree, clock, django_assert_num_queries):
    """``scheduler_tick`` asks one ``EXISTS`` before the claim and the settling queries."""
    s = make(user, tree)
    clock.move_to(at(8, 59, 59))
    with django_assert_num_queries(1):
        assert schedules.scheduler_tick() == 0
    assert schedules._work_waiting(at(9)) and not schedules._work_waiting(at(8, 59, 59))
    assert tick(clock, at(9)) == 1
    s.refresh_from_db()
    assert s.run_count == 1
    with django_assert_num_queries(1):  # fired and settled: idle again until tomorrow
        assert schedules.scheduler_tick() == 0


def test_the_idle_probe_sees_a_queued_fire(user, tree, clock):
    make(user, tree, "interval", "60", overlap="queue")
    control.tree_execute(tree=tree)
    clock.move_to(T0 + dt.timedelta(seconds=60))
    schedules.scheduler_tick()
    assert ScheduleFire.objects.get().status == "queued"
    run_until_idle(hard_kill=False, timeout=30)  # the manual run ends: the queued fire may start
    assert schedules._work_waiting(T0 + dt.timedelta(seconds=61))  # nothing due, one fire to settle
    schedules.scheduler_tick()
    assert ScheduleFire.objects.get().status in ("running", "completed")
