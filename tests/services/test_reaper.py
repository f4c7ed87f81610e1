"""services.reaper: attempts whose lease expired are declared lost (and retried), orphaned locks
released, workers woken while claimable work waits. The clock is passed in (``now=``)."""

from unittest import mock

import pytest
from django.utils import timezone

from tasks_app.models import Attempt, ResourceLock, Task
from tasks_app.services import control, reaper, runs
from tests.fault.invariants import assert_invariants

from .claiming import LEASE, claim_named, claim_one, done, fault_executors, get, later, start, t  # noqa: F401

pytestmark = pytest.mark.django_db


def test_reaper_declares_an_expired_lease_lost_and_retries(tm):
    tree = start(
        tm, t("a", "sleep", max_retries=1, retry_delay=0, resources=[{"type": "db", "identifier": "x"}])
    )
    c = claim_named(tree, "a")
    assert ResourceLock.objects.filter(attempt_id=c.attempt_id).exists()
    assert reaper.reap(now=later(LEASE - 0.5), wake=False) == 0  # still leased
    assert reaper.reap(now=later(LEASE + 0.5), wake=False) == 1
    attempt = Attempt.objects.get(id=c.attempt_id)
    assert attempt.outcome == "worker_lost" and attempt.error_type == "worker_lost"
    task = get(tree, "a")
    assert task.status == "pending" and task.next_attempt_at is not None
    assert not ResourceLock.objects.exists()  # released with the lost attempt
    c2 = claim_one(now=later(LEASE + 1))
    assert c2.task_id == task.id and c2.number == 2
    done(c2, now=later(LEASE + 1.5))
    assert get(tree, "a").status == "completed"
    assert_invariants([tree.id])


def test_reaper_handles_attempts_that_never_heartbeat(tm):
    """Airflow #66773: a running attempt with no heartbeat and no lease is still reaped."""
    tree = start(tm, t("a", "sleep", max_retries=0))
    c = claim_named(tree, "a")
    Attempt.objects.filter(id=c.attempt_id).update(heartbeat_at=None, lease_expires_at=None)
    assert reaper.reap(now=later(LEASE - 0.5), wake=False) == 0
    assert reaper.reap(now=later(LEASE + 0.5), wake=False) == 1
    task = get(tree, "a")
    assert task.status == "failed" and task.error_type == "worker_lost"


def test_reaper_leaves_an_attempt_whose_lease_was_renewed_meanwhile(tm):
    tree = start(tm, t("a", "sleep", resources=[{"type": "db", "identifier": "x", "mode": "write"}]))
    c = claim_named(tree, "a")
    # the reaper looked when the lease seemed over, but the worker renewed it before the write
    runs.finish(
        [runs.Finish(attempt_id=c.attempt_id, task_id=c.task_id, outcome="worker_lost")],
        now=timezone.now(),
        expired_only=True,
    )
    assert Attempt.objects.get(id=c.attempt_id).outcome == "running"
    assert ResourceLock.objects.filter(attempt_id=c.attempt_id).exists()
    assert get(tree, "a").status == "in_progress"


def test_orphaned_locks_of_a_cancelled_attempt_are_released_by_the_reaper(tm, settings):
    tree = start(tm, t("a", "sleep", resources=[{"type": "db", "identifier": "x"}]))
    claim_named(tree, "a")
    control.task_cancel(task=get(tree, "a"))
    reaper.reap(now=later(settings.ARBOR_CANCEL_GRACE + LEASE + 0.5), wake=False)  # its worker died too
    assert ResourceLock.objects.count() == 0


def test_stuck_tasks_counts_in_progress_tasks_without_a_running_attempt(tm):
    tree = start(tm, t("a", "sleep"))
    c = claim_named(tree, "a")
    assert reaper.stuck_tasks() == 0
    Attempt.objects.filter(id=c.attempt_id).update(outcome="completed")  # what must never happen
    assert reaper.stuck_tasks() == 1
    assert Task.objects.get(id=c.task_id).status == "in_progress"


def test_wake_if_ready_wakes_every_worker_only_while_work_is_claimable(tm, settings):
    settings.ARBOR_WORKERS = 4
    with mock.patch.object(reaper.dispatch, "wake") as wake:
        reaper.wake_if_ready()
    wake.assert_not_called()
    tree = start(tm, t("a"))
    with mock.patch.object(reaper.dispatch, "wake") as wake:
        reaper.wake_if_ready()
    wake.assert_called_once_with(4)
    while (c := claim_one()) is not None:
        done(c)
    assert get(tree, "root").status == "completed"
    with mock.patch.object(reaper.dispatch, "wake") as wake:
        reaper.wake_if_ready(timezone.now())
    wake.assert_not_called()


def test_anything_to_do_is_one_statement_that_sees_running_locked_and_ready_work(
    tm, django_assert_num_queries
):
    """The idle probe (``reaper.anything_to_do``): nothing running, locked or ready is the only
    case in which a reaper pass, the wake-up and the watchdog are skipped."""
    with django_assert_num_queries(1):
        assert not reaper.anything_to_do()
    with django_assert_num_queries(1):
        assert reaper.reap(wake=False) == 0
    tree = start(tm, t("a", "sleep", resources=[{"type": "db", "identifier": "x"}]))
    assert reaper.anything_to_do()  # ready
    c = claim_named(tree, "a")
    assert reaper.anything_to_do()  # running and locked
    Attempt.objects.filter(id=c.attempt_id).update(outcome="cancelled")
    assert reaper.anything_to_do()  # the lock is still held
    ResourceLock.objects.all().delete()
    Task.objects.filter(tree_id=tree.id).update(status="cancelled")
    assert not reaper.anything_to_do()
