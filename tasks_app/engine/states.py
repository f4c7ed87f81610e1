"""Task statuses, attempt outcomes and the one table of allowed status transitions."""

from __future__ import annotations

import enum

from tasks_app.exceptions import InvalidTransition

TRANSITION_MESSAGE = "cannot move task from {old} to {new}"


class Status(enum.StrEnum):
    """Status of a task (SEMANTICS "Task")."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class Outcome(enum.StrEnum):
    """Outcome of one execution attempt."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


# Outcomes that count toward ``max_retries``; ``interrupted`` (e.g. a graceful worker shutdown)
# puts the task back to pending without consuming a retry.
RETRYABLE_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.WORKER_LOST})

# ``error_type`` of a task cancelled because a required dependency failed (the root cause is a
# failure), or was cancelled (the root cause is a user's cancel). SEMANTICS "Failure, cancellation,
# retries": the two are distinct, and only the first one can fail a run.
UPSTREAM_FAILED = "upstream_failed"
UPSTREAM_CANCELLED = "upstream_cancelled"
UPSTREAM_ERROR_TYPES: frozenset[str] = frozenset({UPSTREAM_FAILED, UPSTREAM_CANCELLED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    # -> completed: mark success / skip (the user's word, docs/semantics.md "Mark success and skip")
    Status.PENDING: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.COMPLETED}),
    # -> pending: a failed attempt with retries left (backoff) or an interrupted attempt.
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.PENDING}),
    Status.COMPLETED: frozenset({Status.PENDING}),  # re-run from here
    Status.FAILED: frozenset({Status.PENDING, Status.COMPLETED}),  # retry; mark success / skip
    Status.CANCELLED: frozenset({Status.PENDING, Status.COMPLETED}),  # retry; mark success / skip
}

# Task status that an attempt outcome leads to when no retry is left (``interrupted`` -> pending).
OUTCOME_STATUS: dict[Outcome, Status] = {
    Outcome.RUNNING: Status.IN_PROGRESS,
    Outcome.COMPLETED: Status.COMPLETED,
    Outcome.FAILED: Status.FAILED,
    Outcome.TIMED_OUT: Status.FAILED,
    Outcome.WORKER_LOST: Status.FAILED,
    Outcome.CANCELLED: Status.CANCELLED,
    Outcome.INTERRUPTED: Status.PENDING,
}


def can_transition(old: Status | str, new: Status | str) -> bool:
    """Return whether ``TRANSITIONS`` allows moving a task from ``old`` to ``new``."""
    return Status(new) in TRANSITIONS[Status(old)]


def check_transition(old: Status | str, new: Status | str) -> None:
    """Raise ``InvalidTransition`` unless a task may move from ``old`` to ``new``.

    Raise ``ValueError`` if either value is not a status at all.
    """
    old_s, new_s = Status(old), Status(new)
    if new_s not in TRANSITIONS[old_s]:
        raise InvalidTransition(
            TRANSITION_MESSAGE.format(old=old_s.value, new=new_s.value),
            details={"from": old_s.value, "to": new_s.value},
        )
