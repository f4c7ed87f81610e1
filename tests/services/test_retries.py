"""The worker's database retry and the deadlock retry of user actions (both on tenacity): how often
they retry, how long they wait, and when they give up."""

import pytest
from django.db import InterfaceError, OperationalError, transaction

from tasks_app.services import retry
from tasks_app.worker import loop as worker
from tests.helpers import fake_sleep


@pytest.fixture
def sleeps(monkeypatch):
    return fake_sleep(monkeypatch)


def failing(times: int, exc: Exception):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return "ok"

    return fn, calls


@pytest.mark.django_db(transaction=True)
def test_db_retry_backs_off_from_a_tenth_of_a_second_doubling_to_its_cap(settings, sleeps):
    settings.ARBOR_LEASE_SECONDS = 4.0  # cap: min(2 s, lease / 4) = 1 s
    settings.ARBOR_DB_RETRY_SECONDS = 60.0
    fn, calls = failing(6, InterfaceError("connection already closed"))
    assert worker._db_retry(fn) == "ok" and len(calls) == 7
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


@pytest.mark.django_db(transaction=True)
def test_db_retry_gives_up_after_its_attempts_or_before_its_deadline(settings, sleeps):
    fn, calls = failing(10, OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(OperationalError, match="server closed"):
        worker._db_retry(fn, attempts=3)
    assert len(calls) == 3 and len(sleeps) == 2
    settings.ARBOR_DB_RETRY_SECONDS = 0.25  # 0.1 fits, 0.1 + 0.2 does not (no time passes: sleep is fake)
    sleeps.clear()
    fn, calls = failing(10, OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(OperationalError):
        worker._db_retry(fn)
    assert sleeps == pytest.approx([0.1, 0.2]) and len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_db_retry_never_retries_inside_a_transaction_or_other_errors(sleeps):
    fn, calls = failing(1, OperationalError("gone"))
    with transaction.atomic(), pytest.raises(OperationalError):
        worker._db_retry(fn)
    fn2, calls2 = failing(1, ValueError("a bug, not an outage"))
    with pytest.raises(ValueError):
        worker._db_retry(fn2)
    assert len(calls) == len(calls2) == 1 and sleeps == []


def _deadlock() -> OperationalError:
    class Cause(Exception):
        sqlstate = "40P01"

    exc = OperationalError("deadlock detected")
    exc.__cause__ = Cause()
    return exc


@pytest.mark.django_db(transaction=True)
def test_on_deadlock_retries_three_times_with_growing_jitter(sleeps):
    fn, calls = failing(5, _deadlock())
    wrapped = retry.on_deadlock(fn)
    with pytest.raises(OperationalError, match="deadlock"):
        wrapped()
    assert len(calls) == retry.ATTEMPTS == 3 and len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.05 and 0.02 <= sleeps[1] <= 0.1
    fn, calls = failing(1, _deadlock())
    assert retry.on_deadlock(fn)() == "ok" and len(calls) == 2


@pytest.mark.django_db(transaction=True)
def test_on_deadlock_leaves_other_errors_and_open_transactions_alone(sleeps):
    fn, calls = failing(1, OperationalError("no such table"))
    with pytest.raises(OperationalError):
        retry.on_deadlock(fn)()
    fn2, calls2 = failing(1, _deadlock())
    with transaction.atomic(), pytest.raises(OperationalError):
        retry.on_deadlock(fn2)()
    assert len(calls) == len(calls2) == 1 and sleeps == []
