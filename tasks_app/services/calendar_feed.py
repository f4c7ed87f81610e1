"""A user's private iCalendar link: calendar apps poll a URL and cannot send a session cookie or
a bearer token, so the URL itself carries a secret. One link per user, scoped to that user's
schedules; regenerating it replaces the secret (the old URL stops working), revoking deletes it.
The secret is shown once and stored as its SHA-256; a request compares digests in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from tasks_app.models import CalendarFeed


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def feed_regenerate(*, user) -> tuple[CalendarFeed, str]:
    """Create the user's private link, or replace its secret. Returns the row and the secret
    (never stored in clear)."""
    secret = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.select_for_update().filter(user=user).first()
    if feed is None:
        feed = CalendarFeed(user=user)
    feed.key = secrets.token_hex(8)  # a new key too: the old URL no longer even finds the row
    feed.secret_digest = _digest(secret)
    feed.created_at = timezone.now()
    feed.last_used_at = None
    feed.save()
    return feed, secret


def feed_revoke(*, user) -> bool:
    """Delete the user's private link. Returns whether there was one."""
    deleted, _ = CalendarFeed.objects.filter(user=user).delete()
    return bool(deleted)


def feed_user(key: str, secret: str):
    """The active user whose private link is ``key``/``secret``, or None (unknown key, wrong
    secret, inactive user: all answer the same)."""
    feed = CalendarFeed.objects.select_related("user").filter(key=str(key)[:24]).first()
    expected = feed.secret_digest if feed is not None else _digest("-")
    ok = hmac.compare_digest(_digest(str(secret)), expected)
    if feed is None or not ok or not feed.user.is_active:
        return None
    CalendarFeed.objects.filter(id=feed.id).update(last_used_at=timezone.now())
    return feed.user
