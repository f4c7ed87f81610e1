"""Delivery of committed events to websocket groups.

Services build event payloads and call :func:`publish_on_commit`; nothing here knows models.
The channel layer is at-most-once, so an event pushed here is only a notification: clients
that miss one catch up from the event table by sequence number (see docs/live.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

logger = logging.getLogger(__name__)


def tree_group(tree_id) -> str:
    return f"tree.{tree_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def publish_on_commit(payloads: Iterable[dict]) -> None:
    """Hand committed events to the in-process delivery hub after the transaction commits.

    Nothing is published for a rolled-back transaction: ``on_commit`` callbacks are dropped.
    """
    payloads = list(payloads)
    if not payloads:
        return
    transaction.on_commit(lambda: _deliver(payloads))


def _deliver(payloads: list[dict]) -> None:
    try:
        from .hub import deliver_local

        deliver_local(payloads)
    except Exception:  # delivery must never break a committed write
        logger.exception("live delivery failed")
