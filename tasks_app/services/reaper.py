"""The reaper: ends attempts whose lease expired (their worker died, hung or lost the database),
releases their locks, retries or fails their tasks, and wakes workers when claimable work waits.

Runs every ``ARBOR_REAPER_INTERVAL`` seconds in each ``arbor_worker`` supervisor (several reapers
are safe: every write is fenced by the attempt's identity and ``outcome = 'running'``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tasks_app.engine.states import Outcome, Status
from tasks_app.models import Attempt, ResourceLock, Task

from . import dispatch, runs

logger = logging.getLogger(__name__)


def reap(now=None, *, wake: bool = True, probe: bool = True) -> int:
    """One bounded pass. Returns how many attempts were declared lost. ``probe=False``: the
    caller has just asked :func:`anything_to_do`."""
    now = now or timezone.now()
    if probe and not anything_to_do():
        return 0
    expired = list(
        Attempt.objects.filter(outcome=Outcome.RUNNING.value)
        .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, started_at__lt=now - _lease()))
        .values_list("id", "task_id", "number")[:500]
    )
    if expired:
        finishes = [
            runs.Finish(
                attempt_id=a,
                task_id=t,
                outcome=Outcome.WORKER_LOST.value,
                error=f"worker lost: attempt {n} stopped renewing its lease",
                error_type="worker_lost",
            )
            for a, t, n in expired
        ]
        runs.finish(finishes, now=now, expired_only=True)
        logger.warning("reaped %d attempt(s) with expired leases", len(expired))
    _release_orphan_locks(now)
    if wake:
        wake_if_ready(now)
    return len(expired)


def anything_to_do() -> bool:
    """One statement: is any attempt running, any resource lock held, or any task pending and
    ready? Otherwise a pass has nothing to reap, release or wake (a superset of the three
    queries below, each read through a partial index: ``attempt_live_lease``,
    ``task_ready_queue``). An idle Arbor runs this once per ``ARBOR_REAPER_INTERVAL`` instead of
    three ORM queries, whose compilation cost more CPU than their execution (docs/performance.md,
    "Scale")."""
    q = connection.ops.quote_name
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {q(Attempt._meta.db_table)} WHERE {q('outcome')} = %s) "
        f"OR EXISTS (SELECT 1 FROM {q(ResourceLock._meta.db_table)}) "
        f"OR EXISTS (SELECT 1 FROM {q(Task._meta.db_table)} WHERE {q('status')} = %s "
        f"AND {q('ready_at')} IS NOT NULL)"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [Outcome.RUNNING.value, Status.PENDING.value])
        return bool(cur.fetchone()[0])


def wake_if_ready(now=None) -> None:
    """Wake workers while claimable work waits (recovers lost wake-ups and dead deliveries)."""
    if runs.ready_queue(now or timezone.now()).exists():
        dispatch.wake(settings.ARBOR_WORKERS)


def _lease():
    return dt.timedelta(seconds=settings.ARBOR_LEASE_SECONDS)


def _release_orphan_locks(now) -> None:
    """Locks of attempts that were ended elsewhere (cancelled while running) are released once
    their worker had time to stop (cancel grace + one lease)."""
    cutoff = now - dt.timedelta(seconds=settings.ARBOR_CANCEL_GRACE) - _lease()
    with transaction.atomic():
        ResourceLock.objects.exclude(attempt__outcome=Outcome.RUNNING.value).filter(
            attempt__finished_at__lt=cutoff
        ).delete()


def stuck_tasks() -> int:
    """In-progress tasks whose current attempt is not running (should never happen)."""
    return (
        Task.objects.filter(status=Status.IN_PROGRESS.value)
        .exclude(current_attempt__outcome=Outcome.RUNNING.value)
        .count()
    )
