"""services.notifications, the rules half: clean_rule names the bad field, rules are created with a
signing secret (webhooks) and only renamed or toggled afterwards; the retry backoff. Deliveries
(sending, retries, signatures) are tested end to end in tests/notifications/test_webhooks.py."""

import pytest

from tasks_app.exceptions import ValidationError
from tasks_app.models import NotificationRule
from tasks_app.services import notifications

pytestmark = pytest.mark.django_db
HOOK = "https://hooks.example.com/arbor"


@pytest.fixture(autouse=True)
def allowed(settings):
    settings.ARBOR_WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def tree(run_tree):
    tree, _ = run_tree([{"id": "r", "name": "r", "executor": "noop"}], execute=False)
    return tree


def test_clean_rule_fills_the_defaults():
    clean = notifications.clean_rule({"url": HOOK, "events": ["failed", "failed", "completed"]})
    assert clean["kind"] == "webhook" and clean["events"] == ["completed", "failed"]
    assert clean["method"] == "POST" and clean["headers"] == {} and clean["max_attempts"] is None
    assert clean["enabled"] is True and isinstance(clean["timeout"], float)
    mail = notifications.clean_rule({"kind": "email", "emails": ["ops@example.com"]})
    assert mail["emails"] == ["ops@example.com"] and "url" not in mail


@pytest.mark.parametrize(
    "data, field",
    [
        ({"kind": "sms", "url": HOOK}, "kind"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": HOOK, "events": ["started"]}, "events"),
        ({"url": HOOK, "max_attempts": 0}, "max_attempts"),
        ({"url": HOOK, "max_attempts": True}, "max_attempts"),
        ({}, "url"),
        ({"url": "https://elsewhere.example.org/"}, "url"),
        ({"url": HOOK, "method": "GET"}, "method"),
        ({"url": HOOK, "headers": {"X-A": 1}}, "headers"),
        ({"url": HOOK, "headers": {"Transfer-Encoding": "chunked"}}, "headers"),
        ({"url": HOOK, "timeout": 61}, "timeout"),
        ({"kind": "email", "emails": []}, "emails"),
        ({"kind": "email", "emails": ["not-an-address"]}, "emails"),
    ],
)
def test_clean_rule_names_the_bad_field(data, field):
    with pytest.raises(ValidationError) as refused:
        notifications.clean_rule(data)
    assert refused.value.details["field"] == field
    assert str(refused.value).startswith(field)


def test_email_needs_a_configured_mail_server(settings):
    settings.EMAIL_BACKEND = notifications.SMTP_BACKEND
    settings.EMAIL_HOST = ""
    assert not notifications.mail_configured()
    with pytest.raises(ValidationError, match="not configured"):
        notifications.clean_rule({"kind": "email", "emails": ["ops@example.com"]})


def test_a_webhook_rule_gets_a_secret_and_only_its_name_and_switch_change(tree, user):
    rule = notifications.rule_create(tree=tree, actor=user, data={"url": HOOK, "name": "ops"})
    assert rule.owner_id == user.pk and len(rule.secret) >= 32
    notifications.rule_update(rule=rule, data={"enabled": False, "url": "https://x/"}, actor=user)
    rule.refresh_from_db()
    assert rule.enabled is False and rule.url == HOOK
    mail = notifications.rule_create(
        tree=tree, actor=user, data={"kind": "email", "emails": ["a@example.com"]}
    )
    assert not mail.secret
    notifications.rule_delete(rule=rule, actor=user)
    assert list(NotificationRule.objects.all()) == [mail]


def test_backoff_doubles_up_to_the_cap(settings):
    settings.ARBOR_WEBHOOK_RETRY_DELAY = 10
    settings.ARBOR_WEBHOOK_MAX_RETRY_DELAY = 60
    assert [notifications.backoff(n) for n in range(0, 6)] == [10, 10, 20, 40, 60, 60]
