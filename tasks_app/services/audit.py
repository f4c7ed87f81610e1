"""The audit trail of security events: logins, failed logins, lockouts, tokens, staff access.

One write path: ``record(kind, ...)`` adds an ``AuditEvent`` row and logs the same facts on the
``arbor.audit`` logger (one line, for log shippers). Recording never breaks the request it audits:
a database error is logged and swallowed. See docs/security.md for what is recorded when.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction

from tasks_app.models import AuditEvent, AuditKind

logger = logging.getLogger("arbor.audit")

__all__ = ["AuditKind", "client_ip", "record"]


def client_ip(request) -> str | None:
    """The peer address of a Django request or a Channels scope (proxies: see docs/deployment.md)."""
    if request is None:
        return None
    if isinstance(request, dict):  # a Channels scope
        client = request.get("client") or (None, None)
        return client[0]
    return request.META.get("REMOTE_ADDR") or None


def record(
    kind: str,
    *,
    actor=None,
    username: str = "",
    request=None,
    ip: str | None = None,
    source: str = "",
    target: str = "",
    **data,
) -> AuditEvent | None:
    """Record one audit event; return the row, or None if it could not be written."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    username = username or (actor.get_username() if actor is not None else "")
    ip = ip or client_ip(request)
    logger.info(
        "%s user=%s ip=%s source=%s target=%s %s",
        kind,
        username or "-",
        ip or "-",
        source or "-",
        target or "-",
        data or "",
    )
    try:
        with transaction.atomic():
            return AuditEvent.objects.create(
                kind=kind,
                actor=actor,
                username=username[:150],
                ip=ip,
                source=source[:20],
                target=target[:300],
                data=data,
            )
    except DatabaseError:
        logger.exception("could not write the audit event %s", kind)
        return None
