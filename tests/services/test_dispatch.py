"""services.dispatch: waking workers after a commit (django-q2 drain jobs, inline, or none)."""

from unittest import mock

import pytest
from django.db import transaction

from tasks_app.services import dispatch

pytestmark = pytest.mark.django_db(transaction=True)


def test_none_and_zero_wake_nobody(settings):
    settings.ARBOR_DISPATCH = "q2"
    with mock.patch.object(dispatch, "_wake_now") as wake_now:
        dispatch.wake(0)
        settings.ARBOR_DISPATCH = "none"
        dispatch.wake(3)
    wake_now.assert_not_called()


def test_wake_waits_for_the_commit(settings):
    settings.ARBOR_DISPATCH = "q2"
    with mock.patch.object(dispatch, "_wake_now") as wake_now:
        with transaction.atomic():
            dispatch.wake(2)
            wake_now.assert_not_called()
        wake_now.assert_called_once_with(2, "q2")
        with pytest.raises(RuntimeError), transaction.atomic():
            dispatch.wake(1)
            raise RuntimeError("rolled back")
        assert wake_now.call_count == 1  # a rolled-back change wakes nobody


def test_q2_enqueues_only_the_drain_jobs_missing(settings):
    settings.ARBOR_WORKERS = 3
    with mock.patch("django_q.tasks.async_task") as enqueue:
        dispatch._wake_now(5, "q2")
    assert enqueue.call_count == 3  # capped by ARBOR_WORKERS, nothing queued yet
    assert enqueue.call_args.args == (dispatch.DRAIN_JOB,)


def test_a_failed_enqueue_is_logged_not_raised(settings, caplog):
    with mock.patch("django_q.tasks.async_task", side_effect=RuntimeError("broker down")):
        dispatch._wake_now(1, "q2")
    assert "could not enqueue a drain job" in caplog.text


def test_inline_drains_in_this_thread_and_does_not_recurse():
    with mock.patch("tasks_app.worker.loop.run_until_idle") as run:
        run.side_effect = lambda **kw: dispatch._wake_now(1, "inline")  # a wake from inside the drain
        dispatch._wake_now(1, "inline")
    assert run.call_count == 1
