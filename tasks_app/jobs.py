"""django-q2 entry points: ids in, one service call, nothing else."""

from __future__ import annotations


def drain_job() -> int:
    """Claim and run ready tasks until the queue is empty or the drain budget is spent."""
    from tasks_app.services.worker import drain

    return drain(hard_kill=True)


def reap_job() -> int:
    from tasks_app.services.reaper import reap

    return reap()
