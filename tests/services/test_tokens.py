"""services.tokens: create (with an expiry), revoke and check API tokens, each audited. Times are
asserted under time-machine: the clock is fixed, so expiries are exact, not wall-clock bounds."""

import datetime as dt
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from tasks_app.exceptions import ValidationError
from tasks_app.models import ApiToken, AuditEvent, AuditKind
from tasks_app.services import tokens

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_default_expiry_follows_the_setting(clock, settings):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 90
    assert tokens.default_expiry() == NOW + dt.timedelta(days=90)
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 0
    assert tokens.default_expiry() is None


def test_resolve_expiry_takes_days_or_a_future_date(clock, settings):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 90
    assert tokens.resolve_expiry(expires_in_days=7) == NOW + dt.timedelta(days=7)
    later = NOW + dt.timedelta(hours=1)
    assert tokens.resolve_expiry(expires_at=later) == later
    assert tokens.resolve_expiry() == NOW + dt.timedelta(days=90)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"expires_in_days": 0}, "between 1 and 3650"),
        ({"expires_in_days": tokens.MAX_DAYS + 1}, "between 1 and 3650"),
        ({"expires_at": NOW}, "must be in the future"),
        ({"expires_at": NOW + dt.timedelta(days=1), "expires_in_days": 1}, "not both"),
    ],
)
def test_resolve_expiry_refuses_bad_input_naming_it(clock, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        tokens.resolve_expiry(**kwargs)


def test_create_stores_only_the_digest_and_audits(clock, user):
    token, raw = tokens.token_issue(user=user, name="ci", expires_in_days=30, actor=user, source="api")
    assert token.expires_at == NOW + dt.timedelta(days=30)
    assert token.key_prefix == raw[: tokens.PREFIX_CHARS] and token.digest == ApiToken.hash(raw)
    assert raw not in {token.digest, token.key_prefix}
    event = AuditEvent.objects.get(kind=AuditKind.TOKEN_CREATED)
    assert event.target == f"token:{token.pk}" and event.data["name"] == "ci" and event.source == "api"
    forever, _ = tokens.token_issue(user=user, name="ops", never_expires=True)
    assert forever.expires_at is None


def test_check_accepts_a_live_token_and_names_why_others_are_refused(clock, user):
    token, raw = tokens.token_issue(user=user, name="t", expires_in_days=1)
    assert tokens.token_check(raw).user == user
    assert tokens.token_check("not-a-token").reason == tokens.UNKNOWN
    assert tokens.token_check("").message == tokens.MESSAGES[tokens.UNKNOWN]

    clock.move_to(NOW + dt.timedelta(days=1))  # expiry is inclusive
    expired = tokens.token_check(raw, source="api")
    assert expired.user is None and expired.reason == tokens.EXPIRED
    assert AuditEvent.objects.filter(kind=AuditKind.TOKEN_REJECTED, data__reason="expired").count() == 1


def test_an_inactive_users_token_is_refused_without_an_audit_row(user):
    _, raw = tokens.token_issue(user=user, name="t")
    user.is_active = False
    user.save()
    assert tokens.token_check(raw).reason == tokens.INACTIVE
    assert not AuditEvent.objects.filter(kind=AuditKind.TOKEN_REJECTED).exists()


def test_revoke_counts_only_tokens_not_yet_revoked(user):
    first, raw = tokens.token_issue(user=user, name="a")
    second, _ = tokens.token_issue(user=user, name="b")
    assert len(tokens.token_revoke([first, second], actor=user)) == 2
    assert tokens.token_revoke(list(ApiToken.objects.filter(user=user))) == []
    assert AuditEvent.objects.filter(kind=AuditKind.TOKEN_REVOKED).count() == 2
    assert tokens.token_check(raw).reason == tokens.REVOKED


# tree_create(execute=True) / token_issue and token_revoke: the one path for each interface
def audits(kind):
    return AuditEvent.objects.filter(kind=kind).count()


def test_issue_stores_only_the_digest_and_audits_once(user, settings):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 30
    token, raw = tokens.token_issue(user=user, name="ci", actor=user, source="api")
    assert raw.startswith("arb_") and token.digest == ApiToken.hash(raw) and token.key_prefix == raw[:10]
    assert raw not in {token.digest, token.key_prefix}
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert audits("token_created") == 1
    assert tokens.token_check(raw).user == user


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expires_in_days": 0}, "expires_in_days must be between 1 and 3650"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "expires_at must be in the future"),
        ({"expires_in_days": 2, "expires_at": timezone.now() + timedelta(days=1)}, "not both"),
    ],
)
def test_issue_refuses_a_bad_expiry_and_writes_nothing(user, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        tokens.token_issue(user=user, name="x", **kwargs)
    assert not ApiToken.objects.exists() and audits("token_created") == 0


def test_never_expires_is_for_operators(user, settings):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 30
    token, _ = tokens.token_issue(user=user, name="ops", never_expires=True, source="cli")
    assert token.expires_at is None


def test_revoke_takes_rows_or_a_queryset_and_skips_revoked_ones(user):
    a, raw_a = tokens.token_issue(user=user, name="a")
    b, _ = tokens.token_issue(user=user, name="b")
    done = tokens.token_revoke(ApiToken.objects.filter(pk=a.pk), actor=user, source="api")
    assert [t.pk for t in done] == [a.pk] and done[0].revoked
    assert tokens.token_check(raw_a).reason == tokens.REVOKED
    assert [t.pk for t in tokens.token_revoke(ApiToken.objects.all(), actor=user, source="admin")] == [b.pk]
    assert audits("token_revoked") == 2  # a, then b: a is not revoked twice
    assert tokens.token_revoke(ApiToken.objects.all()) == []
    assert tokens.token_revoke([a, b]) == []  # stale rows: the database says they are revoked
    assert audits("token_revoked") == 2


def test_every_interface_issues_through_the_service(user, monkeypatch):
    calls = []
    real = tokens.token_issue

    def spy(**kwargs):
        calls.append(kwargs["source"])
        return real(**kwargs)

    monkeypatch.setattr(tokens, "token_issue", spy)
    call_command("arbor_token", "alice", "--name", "cli", stdout=StringIO(), stderr=StringIO())
    assert calls == ["cli"] and audits("token_created") == 1
