import pytest

from tasks_app.engine import (
    OUTCOME_STATUS,
    RETRYABLE_OUTCOMES,
    TERMINAL,
    TRANSITIONS,
    Outcome,
    Status,
    can_transition,
    check_transition,
)
from tasks_app.exceptions import InvalidTransition, OrchestratorError

ALLOWED = {
    ("pending", "in_progress"),
    ("pending", "cancelled"),
    ("in_progress", "completed"),
    ("in_progress", "failed"),
    ("in_progress", "cancelled"),
    ("in_progress", "pending"),
    ("completed", "pending"),
    ("failed", "pending"),
    ("cancelled", "pending"),
    # mark success / skip (docs/semantics.md "Mark success and skip")
    ("pending", "completed"),
    ("failed", "completed"),
    ("cancelled", "completed"),
}


def test_statuses_are_the_five_of_the_contract():
    assert [s.value for s in Status] == ["pending", "in_progress", "completed", "failed", "cancelled"]
    assert TERMINAL == {Status.COMPLETED, Status.FAILED, Status.CANCELLED}
    assert Status.COMPLETED.terminal is True
    assert Status.PENDING.terminal is False


def test_statuses_are_strings():
    assert Status.PENDING == "pending"
    assert str(Status.IN_PROGRESS) == "in_progress"
    assert f"{Outcome.TIMED_OUT}" == "timed_out"


def test_outcomes_and_retryable_outcomes():
    assert {o.value for o in Outcome} == {
        "running",
        "completed",
        "failed",
        "timed_out",
        "worker_lost",
        "cancelled",
        "interrupted",
    }
    assert RETRYABLE_OUTCOMES == {Outcome.FAILED, Outcome.TIMED_OUT, Outcome.WORKER_LOST}
    assert Outcome.INTERRUPTED not in RETRYABLE_OUTCOMES
    assert Outcome.CANCELLED not in RETRYABLE_OUTCOMES


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.RUNNING, Status.IN_PROGRESS),
        (Outcome.COMPLETED, Status.COMPLETED),
        (Outcome.FAILED, Status.FAILED),
        (Outcome.TIMED_OUT, Status.FAILED),
        (Outcome.WORKER_LOST, Status.FAILED),
        (Outcome.CANCELLED, Status.CANCELLED),
        (Outcome.INTERRUPTED, Status.PENDING),
    ],
)
def test_outcome_status(outcome, status):
    assert OUTCOME_STATUS[outcome] is status


def test_transition_table_is_exactly_the_contract():
    table = {(old.value, new.value) for old, targets in TRANSITIONS.items() for new in targets}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize("old", [s.value for s in Status])
@pytest.mark.parametrize("new", [s.value for s in Status])
def test_check_transition_matches_table(old, new):
    if (old, new) in ALLOWED:
        assert check_transition(old, new) is None
        assert can_transition(Status(old), Status(new)) is True
    else:
        assert can_transition(old, new) is False
        with pytest.raises(InvalidTransition, match=f"^cannot move task from {old} to {new}$") as info:
            check_transition(Status(old), new)
        assert info.value.code == "invalid_transition"
        assert info.value.details == {"from": old, "to": new}
        assert isinstance(info.value, OrchestratorError)


def test_check_transition_rejects_unknown_status():
    with pytest.raises(ValueError):
        check_transition("pending", "blocked")
