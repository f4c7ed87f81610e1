"""Re-run a whole transaction that PostgreSQL rolled back to break a deadlock.

A user action locks its tree first and then the tasks it changes; a worker finishing a task of
the same tree holds that task's row and locks the tree last (``runs._settle``). When both meet,
PostgreSQL aborts one of them after ``deadlock_timeout``. The worker retries its own transaction;
user actions retry here, so a cancel clicked at the wrong millisecond is not answered with 503.
"""

from __future__ import annotations

import functools
import logging
import random
import time

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)
RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
ATTEMPTS = 3


def is_retryable(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def on_deadlock(fn):
    """Retry ``fn`` (which opens its own transaction) when the database aborted it to break a
    deadlock. Only an outermost call retries: inside a caller's transaction, everything the caller
    did is rolled back too, so the error goes up to whoever owns the transaction."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return fn(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not is_retryable(exc):
                    raise
                logger.info(
                    "%s rolled back by the database (%s); retrying",
                    fn.__name__,
                    getattr(exc.__cause__, "sqlstate", None),
                )
                time.sleep(random.uniform(0.01, 0.05) * attempt)

    return wrapper
