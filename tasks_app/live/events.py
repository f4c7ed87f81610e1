"""Delivery of committed events: group names, and the hooks services call.

Services build event payloads, write them to the Event table in the same transaction as the
change, and call :func:`publish_on_commit`; nothing here knows models. The Event table is the
source of truth: what this module sends after commit is only a wake-up for the web processes'
tailers (see ``hub`` and ``delivery``, and docs/live.md). Nothing is published for a rolled-back
transaction: ``on_commit`` callbacks are dropped, and so is a NOTIFY queued inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

STAFF_GROUP = "dashboard.all"

TREE_CREATED = "tree.created"
TREE_STATUS = "tree.status"
TREE_DELETED = "tree.deleted"
TASK_PROGRESS = "task.progress"
TASK_LOG = "task.log"


def tree_group(tree_id) -> str:
    return f"tree.{tree_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def publish_on_commit(payloads: Iterable[dict]) -> None:
    """Wake the live tailers after the current transaction commits (never if it rolls back)."""
    payloads = list(payloads)
    if not payloads:
        return
    transaction.on_commit(lambda: _deliver(payloads))


def _deliver(payloads: list[dict]) -> None:
    try:
        from . import delivery, hub, waiters

        waiters.notify_local(payloads)
        hub.deliver_local(payloads)
        delivery.after_commit(payloads)
    except Exception:  # delivery must never break a committed write
        logger.exception("live delivery failed")
