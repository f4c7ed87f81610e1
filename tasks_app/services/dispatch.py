"""Waking workers after a commit.

django-q2 is only the wake-up transport: a "drain" job claims and runs ready tasks until the
queue is empty, so there is no broker round trip per task. Redelivered or duplicate drain jobs
are harmless because claiming is a compare-and-set.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)
DRAIN_JOB = "tasks_app.jobs.drain_job"
_local = threading.local()


def wake(count: int = 1) -> None:
    """Ask for up to ``count`` more workers to start draining, after the current commit."""
    mode = settings.ARBOR_DISPATCH
    if mode == "none" or count <= 0:
        return
    transaction.on_commit(lambda: _wake_now(count, mode))


def _wake_now(count: int, mode: str) -> None:
    if mode == "inline":
        if getattr(_local, "draining", False):
            return
        _local.draining = True
        try:
            from tasks_app.worker.loop import run_until_idle

            run_until_idle(hard_kill=False)
        finally:
            _local.draining = False
        return
    try:
        from django.utils import timezone
        from django_q.models import OrmQ
        from django_q.tasks import async_task

        # only deliverable jobs count: a job whose worker died while running it stays locked for
        # Q_CLUSTER["retry"] and would otherwise stop every later wake-up (poison tasks)
        queued = OrmQ.objects.filter(lock__lte=timezone.now()).count()
        missing = max(0, min(count, settings.ARBOR_WORKERS) - queued)
        for _ in range(missing):
            async_task(DRAIN_JOB, q_options={"timeout": settings.Q_CLUSTER["timeout"]})
    except Exception:  # a lost wake-up is recovered by the reaper's periodic wake
        logger.exception("could not enqueue a drain job")
