"""API tokens: issuing (with an expiry), revocation and checking, each audited here.

One place for the three ways a token is issued (REST ``POST /api/v1/tokens/``, the admin,
``manage.py arbor_token``: :func:`token_issue`), the two ways one is revoked (REST ``DELETE
/api/v1/tokens/{id}/``, the admin's action: :func:`token_revoke`) and the check shared by REST,
JSON-RPC and websockets (:func:`token_check`). The interfaces record no audit event of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from tasks_app import conf
from tasks_app.exceptions import ValidationError
from tasks_app.models import ApiToken
from tasks_app.services import audit

PREFIX_CHARS = 10
MAX_DAYS = 3650

# why a presented token was refused (the message says it; "expired" and "revoked" are audited)
UNKNOWN, EXPIRED, REVOKED, INACTIVE = "unknown", "expired", "revoked", "inactive"
MESSAGES = {
    UNKNOWN: "invalid or expired token",
    EXPIRED: "token expired: create a new one",
    REVOKED: "token revoked",
    INACTIVE: "invalid token",
}


def default_expiry(now: datetime | None = None) -> datetime | None:
    """When a token made now expires if its creator names no expiry (ARBOR_TOKEN_DEFAULT_DAYS, 0 = never)."""
    days = int(conf.get("ARBOR_TOKEN_DEFAULT_DAYS") or 0)
    return (now or timezone.now()) + timedelta(days=days) if days > 0 else None


def resolve_expiry(
    *, expires_at: datetime | None = None, expires_in_days: int | None = None
) -> datetime | None:
    """When a token issued now expires; raises ValidationError for an expiry in the past, a
    lifetime outside 1..MAX_DAYS days, or both given (the admin's form shows the same message)."""
    now = timezone.now()
    if expires_at is not None and expires_in_days is not None:
        raise ValidationError("give expires_at or expires_in_days, not both")
    if expires_in_days is not None:
        if not 1 <= int(expires_in_days) <= MAX_DAYS:
            raise ValidationError(f"expires_in_days must be between 1 and {MAX_DAYS}")
        return now + timedelta(days=int(expires_in_days))
    if expires_at is not None:
        if expires_at <= now:
            raise ValidationError("expires_at must be in the future")
        return expires_at
    return default_expiry(now)


def token_issue(
    *,
    user,
    name: str,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    never_expires: bool = False,
    actor=None,
    request=None,
    source: str = "",
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; return the row and the clear token (shown once; only its
    SHA-256 digest and a short prefix are stored). Audited as TOKEN_CREATED. ``never_expires`` is
    for operators only (``arbor_token --days 0``)."""
    expiry = None if never_expires else resolve_expiry(expires_at=expires_at, expires_in_days=expires_in_days)
    raw = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user, name=name, key_prefix=raw[:PREFIX_CHARS], digest=ApiToken.hash(raw), expires_at=expiry
    )
    audit.record(
        audit.AuditKind.TOKEN_CREATED,
        actor=actor,
        username=user.get_username(),
        request=request,
        source=source,
        target=f"token:{token.pk}",
        owner=user.get_username(),
        name=name,
        expires_at=expiry.isoformat() if expiry else None,
    )
    return token, raw


def token_revoke(tokens, *, actor=None, request=None, source: str = "") -> list[ApiToken]:
    """Revoke the not-yet-revoked tokens among ``tokens`` (a queryset or rows); return them.
    Each is audited as TOKEN_REVOKED."""
    if not isinstance(tokens, QuerySet):
        tokens = ApiToken.objects.filter(pk__in=[t.pk for t in tokens])
    tokens = list(tokens.filter(revoked=False).select_related("user"))
    ApiToken.objects.filter(pk__in=[t.pk for t in tokens], revoked=False).update(revoked=True)
    for token in tokens:
        token.revoked = True
        audit.record(
            audit.AuditKind.TOKEN_REVOKED,
            actor=actor,
            request=request,
            source=source,
            target=f"token:{token.pk}",
            owner=token.user.get_username(),
            name=token.name,
        )
    return tokens


@dataclass(frozen=True)
class TokenCheck:
    user: object | None
    reason: str = ""

    @property
    def message(self) -> str:
        return MESSAGES.get(self.reason, MESSAGES[UNKNOWN])


def token_check(raw: str, *, request=None, source: str = "") -> TokenCheck:
    """The user a presented token stands for, or why it is refused. Presenting a revoked or expired
    token is audited (TOKEN_REJECTED): it is a leaked or forgotten credential."""
    token = (
        ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(raw or "")).first()
        if raw
        else None
    )
    if token is None:
        return TokenCheck(None, UNKNOWN)
    now = timezone.now()
    reason = ""
    if token.revoked:
        reason = REVOKED
    elif token.expires_at and token.expires_at <= now:
        reason = EXPIRED
    elif not token.user.is_active:
        return TokenCheck(None, INACTIVE)
    if reason:
        audit.record(
            audit.AuditKind.TOKEN_REJECTED,
            username=token.user.get_username(),
            request=request,
            source=source,
            target=f"token:{token.pk}",
            reason=reason,
            prefix=token.key_prefix,
        )
        return TokenCheck(None, reason)
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return TokenCheck(token.user)
