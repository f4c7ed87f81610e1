"""``tasks.execute`` with ``wait: true`` wakes on the tree's terminal event, not on a poll.

The waits' polling interval and backstop are set to 60 s and the call's timeout to 30 s: the call
can only come back (and say the tree ended) if the commit that ended the tree woke it. Which wake-up
it was is also asserted from ``live.waiters.stats``, so the test does not rest on wall-clock time.
"""

import threading
import time

import pytest
from django.db import connection

from tasks_app.live import waiters
from tasks_app.models import Tree
from tasks_app.services import control

from .test_rpc_execute import result_of, rpc, t

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_polling(settings):
    settings.ARBOR_WAIT_POLL = 60.0
    settings.ARBOR_WAIT_BACKSTOP = 60.0


def _cancel_once_waiting(tree_id, user, errors):
    """In another thread (its own connection): once the request waits on the tree, end it."""
    try:
        deadline = time.monotonic() + 20
        while str(tree_id) not in waiters.registry.waiters and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # the waiter is asleep on its event by now (or about to be: the event is kept)
        control.tree_cancel(tree=Tree.objects.get(id=tree_id), actor=user, source="test")
    except Exception as exc:  # pragma: no cover - reported by the test
        errors.append(exc)
    finally:
        connection.close()


def _wait_while_another_thread_cancels(api, user):
    tasks = result_of(
        rpc(api, "tasks.create", [t("root"), t("slow", "sleep", parent_id="root", inputs={"seconds": 30})])
    )
    tree_id = tasks[0]["id"]
    before = dict(waiters.stats)
    errors: list = []
    thread = threading.Thread(target=_cancel_once_waiting, args=(tree_id, user, errors))
    thread.start()
    started = time.monotonic()
    try:
        waited = result_of(rpc(api, "tasks.execute", {"task_id": tree_id, "wait": True, "timeout": 30}))
    finally:
        thread.join(30)
    assert not errors, errors
    return waited, time.monotonic() - started, before


def test_wait_wakes_on_the_commit_that_ends_the_tree(api, user, no_polling):
    waited, elapsed, before = _wait_while_another_thread_cancels(api, user)
    assert (waited["status"], waited["final"], waited["message"]) == ("cancelled", True, "execution finished")
    assert waiters.stats["event_wakeups"] > before["event_wakeups"]
    assert waiters.stats["poll_wakeups"] == before["poll_wakeups"]
    assert elapsed < 25  # far below the 60 s poll: only the event can have woken it


def test_wait_wakes_on_postgresql_notify_from_another_process(api, user, no_polling, monkeypatch):
    """With the in-process wake-up switched off, only the NOTIFY of the ending commit (as a worker
    process would send it) can wake the waiter."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    monkeypatch.setattr(waiters, "notify_local", lambda payloads: None)
    waited, elapsed, before = _wait_while_another_thread_cancels(api, user)
    assert (waited["status"], waited["final"]) == ("cancelled", True)
    assert waiters.stats["event_wakeups"] > before["event_wakeups"]
    assert waiters.stats["poll_wakeups"] == before["poll_wakeups"]
    assert elapsed < 25
