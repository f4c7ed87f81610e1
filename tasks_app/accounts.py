"""Login protection and the audit of logins (docs/security.md).

django-axes counts failed logins per (username, client address) on every login page (Arbor's and
the admin's) and refuses that pair for a cool-off once ``ARBOR_LOGIN_FAILURE_LIMIT`` is reached;
``login_cooloff`` doubles the cool-off with every further failure. ``connect_audit`` hooks Django's
login signals and axes' lockout signal to ``services.audit``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Max

from tasks_app.services import audit


def client_ip(request) -> str | None:
    """The peer address (``AXES_CLIENT_IP_CALLABLE``): the same address the audit trail records.
    Behind a proxy, the proxy sets REMOTE_ADDR (docs/deployment.md); X-Forwarded-For is not trusted."""
    return audit.client_ip(request)


def _failures(request) -> int:
    """Failures so far for this request's (username, address), 0 if unknown."""
    if request is None:
        return 0
    known = getattr(request, "axes_failures_since_start", None)
    if known is not None:
        return int(known)
    from axes.helpers import get_client_username
    from axes.models import AccessAttempt

    ip = getattr(request, "axes_ip_address", None) or client_ip(request)
    username = get_client_username(request)
    if not ip or not username:
        return 0
    found = AccessAttempt.objects.filter(ip_address=ip, username=username).aggregate(
        n=Max("failures_since_start")
    )
    return int(found["n"] or 0)


def login_cooloff(request=None) -> timedelta:
    """``AXES_COOLOFF_TIME``: ARBOR_LOGIN_COOLOFF_SECONDS, doubled for every failure past the limit
    (a failure while locked out also restarts the cool-off), at most ARBOR_LOGIN_COOLOFF_MAX_SECONDS."""
    base = settings.ARBOR_LOGIN_COOLOFF_SECONDS
    excess = max(0, _failures(request) - settings.ARBOR_LOGIN_FAILURE_LIMIT)
    seconds = base * (2 ** min(excess, 32))
    return timedelta(seconds=min(seconds, settings.ARBOR_LOGIN_COOLOFF_MAX_SECONDS))


def _source(request) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "web"


def _on_login(sender, request, user, **kwargs):
    audit.record(audit.AuditKind.LOGIN, actor=user, request=request, source=_source(request))


def _on_logout(sender, request, user, **kwargs):
    audit.record(audit.AuditKind.LOGOUT, actor=user, request=request, source=_source(request))


def _on_login_failed(sender, credentials, request=None, **kwargs):
    username = str((credentials or {}).get("username") or "")
    locked = bool(getattr(request, "axes_locked_out", False))
    audit.record(
        audit.AuditKind.LOGIN_FAILED,
        username=username,
        request=request,
        source=_source(request),
        locked_out=locked,
    )


def _on_locked_out(sender, request, username, ip_address, **kwargs):
    audit.record(
        audit.AuditKind.LOCKED_OUT,
        username=str(username or ""),
        request=request,
        ip=ip_address,
        source=_source(request),
        cooloff_seconds=int(login_cooloff(request).total_seconds()),
    )


def connect_audit() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth import signals

    signals.user_logged_in.connect(_on_login, dispatch_uid="arbor.audit.login")
    signals.user_logged_out.connect(_on_logout, dispatch_uid="arbor.audit.logout")
    signals.user_login_failed.connect(_on_login_failed, dispatch_uid="arbor.audit.login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="arbor.audit.locked_out")
