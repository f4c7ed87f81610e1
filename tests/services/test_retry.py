"""services.retry: user actions re-run a transaction the database aborted to break a deadlock."""

import pytest
from django.db import OperationalError, transaction

from tasks_app.services import retry
from tests.helpers import fake_sleep


class _Cause(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _db_error(sqlstate):
    try:
        raise OperationalError("aborted") from _Cause(sqlstate)
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize(
    "sqlstate, retryable", [("40P01", True), ("40001", True), ("57014", False), (None, False)]
)
def test_only_deadlocks_and_serialization_failures_are_retryable(sqlstate, retryable):
    assert retry.is_retryable(_db_error(sqlstate)) is retryable
    assert retry.is_retryable(OperationalError("no cause")) is False


@pytest.fixture
def no_sleep(monkeypatch):
    return fake_sleep(monkeypatch)  # tenacity sleeps through time.sleep


def _flaky(errors):
    calls = []

    @retry.on_deadlock
    def action(value):
        calls.append(value)
        if errors:
            raise errors.pop(0)
        return value * 2

    return action, calls


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_is_retried_until_it_succeeds(no_sleep):
    action, calls = _flaky([_db_error("40P01"), _db_error("40001")])
    assert action(21) == 42
    assert calls == [21, 21, 21] and len(no_sleep) == 2


@pytest.mark.django_db(transaction=True)
def test_retries_stop_after_the_last_attempt(no_sleep):
    action, calls = _flaky([_db_error("40P01") for _ in range(retry.ATTEMPTS)])
    with pytest.raises(OperationalError):
        action(1)
    assert len(calls) == retry.ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_other_database_errors_are_not_retried(no_sleep):
    action, calls = _flaky([_db_error("57014")])
    with pytest.raises(OperationalError):
        action(1)
    assert calls == [1] and len(no_sleep) == 0


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_error_goes_up_at_once(no_sleep):
    action, calls = _flaky([_db_error("40P01")])
    with pytest.raises(OperationalError), transaction.atomic():
        action(1)
    assert calls == [1]
