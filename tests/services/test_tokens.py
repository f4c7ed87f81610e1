"""services.tokens: token_issue and token_revoke, the one way each (REST, admin, CLI), audited once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tasks_app.exceptions import ValidationError
from tasks_app.models import ApiToken, AuditEvent
from tasks_app.services import tokens

pytestmark = pytest.mark.django_db


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
