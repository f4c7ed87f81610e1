"""Item 6: brute-force protection on both login pages, password validators, and the audit trail of
logins, failed logins, lockouts, logouts and tokens (docs/security.md)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from tasks_app.models import ApiToken, AuditEvent, AuditKind

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def _post_login(client, url, username, password):
    return client.post(url, {"username": username, "password": password, "next": "/"})


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _kinds():
    return list(AuditEvent.objects.order_by("id").values_list("kind", flat=True))


# --- lockout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_forty_wrong_passwords_then_the_right_one_does_not_log_in(url, staff_user):
    client = Client()
    answers = [_post_login(client, url, "root", f"wrong-{i}").status_code for i in range(40)]
    assert 429 in answers, "the login page never locked out"
    first_locked = answers.index(429)
    assert first_locked <= 5  # ARBOR_LOGIN_FAILURE_LIMIT (5): the 6th attempt at the latest is refused
    response = _post_login(client, url, "root", "pw-root-123")
    assert response.status_code == 429
    assert not _logged_in(client)
    assert b"Too many failed logins" in response.content  # a clear page, not a 500


def test_lockout_is_per_username_and_address(user, other_user):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(10):
        _post_login(attacker, "/accounts/login/", "alice", f"wrong-{i}")
    # the same user from another address, and another user from the attacker's address, still log in
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert _post_login(elsewhere, "/accounts/login/", "alice", "pw-alice-123").status_code == 302
    assert (
        _post_login(
            Client(REMOTE_ADDR="203.0.113.9"), "/accounts/login/", "mallory", "pw-mallory-123"
        ).status_code
        == 302
    )


def test_a_few_failures_do_not_lock_and_success_resets_the_count(user):
    client = Client()
    for i in range(4):
        assert _post_login(client, "/accounts/login/", "alice", f"wrong-{i}").status_code == 200
    assert _post_login(client, "/accounts/login/", "alice", "pw-alice-123").status_code == 302
    client.logout()
    for i in range(4):
        assert _post_login(client, "/accounts/login/", "alice", f"wrong-again-{i}").status_code == 200
    assert _post_login(client, "/accounts/login/", "alice", "pw-alice-123").status_code == 302


def test_the_cool_off_grows_with_every_failure_past_the_limit(user):
    from axes.models import AccessAttempt

    from tasks_app.accounts import login_cooloff

    client = Client()
    for i in range(5):
        _post_login(client, "/accounts/login/", "alice", f"wrong-{i}")
    attempt = AccessAttempt.objects.get(username="alice")
    request = type("R", (), {"axes_failures_since_start": attempt.failures_since_start})()
    first = login_cooloff(request)
    for i in range(3):
        _post_login(client, "/accounts/login/", "alice", f"more-{i}")
    attempt.refresh_from_db()
    request = type("R", (), {"axes_failures_since_start": attempt.failures_since_start})()
    assert login_cooloff(request) == first * 8
    with override_settings(ARBOR_LOGIN_COOLOFF_MAX_SECONDS=600):
        assert login_cooloff(request) == timedelta(seconds=600)


def test_the_lockout_ends_after_the_cool_off(user):
    from axes.models import AccessAttempt

    client = Client()
    for i in range(6):
        _post_login(client, "/accounts/login/", "alice", f"wrong-{i}")
    assert _post_login(client, "/accounts/login/", "alice", "pw-alice-123").status_code == 429
    # a long time later (the attempt's time moved back past any cool-off), the right password works
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(days=2))
    assert _post_login(client, "/accounts/login/", "alice", "pw-alice-123").status_code == 302


def test_test_client_login_and_force_login_still_work(user):
    client = Client()
    assert client.login(username="alice", password="pw-alice-123")
    assert client.get("/").status_code == 200
    other = Client()
    other.force_login(user)
    assert other.get("/").status_code == 200


# --- passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize("weak", ["12345678", "password", "qwertyuiop", "short1x", "3141592653589793"])
def test_weak_passwords_are_refused_by_the_password_forms(user, weak):
    form = SetPasswordForm(user, {"new_password1": weak, "new_password2": weak})
    assert not form.is_valid()


def test_weak_password_refused_by_the_password_change_page(user):
    client = Client()
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "pw-alice-123", "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200  # the form again, with errors
    user.refresh_from_db()
    assert user.check_password("pw-alice-123")
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": "pw-alice-123",
            "new_password1": "tangerine-kayak-42",
            "new_password2": "tangerine-kayak-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("tangerine-kayak-42")


def test_the_demo_password_is_still_accepted():
    """README documents the demo login (arbor_demo sets ``demo-arbor`` with set_password, which runs no
    validators); it must also pass them, so a demo user can re-set it through the forms."""
    from django.contrib.auth.password_validation import validate_password

    validate_password("demo-arbor")


# --- audit ------------------------------------------------------------------------------------


def test_logins_failed_logins_lockouts_and_logouts_are_audited(user):
    client = Client(REMOTE_ADDR="203.0.113.5")
    _post_login(client, "/accounts/login/", "alice", "wrong")
    assert _post_login(client, "/accounts/login/", "alice", "pw-alice-123").status_code == 302
    client.post("/accounts/logout/")
    kinds = _kinds()
    assert kinds[:3] == [AuditKind.LOGIN_FAILED, AuditKind.LOGIN, AuditKind.LOGOUT]
    failed = AuditEvent.objects.get(kind=AuditKind.LOGIN_FAILED)
    assert (failed.username, failed.ip, failed.source) == ("alice", "203.0.113.5", "web")
    login = AuditEvent.objects.get(kind=AuditKind.LOGIN)
    assert login.actor == user

    for i in range(6):
        _post_login(client, "/admin/login/", "alice", f"wrong-{i}")
    locked = AuditEvent.objects.filter(kind=AuditKind.LOCKED_OUT).first()
    assert locked is not None and locked.username == "alice" and locked.source == "admin"


def test_token_creation_and_revocation_are_audited_in_api_admin_and_cli(user, staff_user):
    session = Client()
    session.force_login(user)
    created = session.post("/api/v1/tokens/", {"name": "ci"}, content_type="application/json")
    assert created.status_code == 201
    token_id = created.json()["id"]
    assert session.delete(f"/api/v1/tokens/{token_id}/").status_code == 204

    admin = Client()
    admin.force_login(staff_user)
    response = admin.post("/admin/tasks_app/apitoken/add/", {"user": user.pk, "name": "from-admin"})
    assert response.status_code == 200 and b"arb_" in response.content
    admin_token = ApiToken.objects.get(name="from-admin")
    admin.post("/admin/tasks_app/apitoken/", {"action": "revoke", "_selected_action": [admin_token.pk]})

    call_command("arbor_token", "alice", "--name", "from-cli", stdout=StringIO(), stderr=StringIO())

    rows = AuditEvent.objects.filter(kind__in=[AuditKind.TOKEN_CREATED, AuditKind.TOKEN_REVOKED]).order_by(
        "id"
    )
    assert [(r.kind, r.source) for r in rows] == [
        (AuditKind.TOKEN_CREATED, "api"),
        (AuditKind.TOKEN_REVOKED, "api"),
        (AuditKind.TOKEN_CREATED, "admin"),
        (AuditKind.TOKEN_REVOKED, "admin"),
        (AuditKind.TOKEN_CREATED, "cli"),
    ]
    assert rows[2].actor == staff_user and rows[2].data["owner"] == "alice"


def test_a_revoked_or_expired_token_presented_is_audited(user):
    from tests.api.conftest import client_for

    api = client_for(user)
    ApiToken.objects.update(revoked=True)
    assert api.get("/api/v1/trees/").status_code == 401
    rejected = AuditEvent.objects.get(kind=AuditKind.TOKEN_REJECTED)
    assert rejected.username == "alice" and rejected.source == "api" and rejected.data["reason"] == "revoked"

    api = client_for(user)
    ApiToken.objects.filter(revoked=False).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert (
        api.post("/tasks", {"jsonrpc": "2.0", "id": 1, "method": "tasks.list"}, format="json").status_code
        == 401
    )
    rejected = AuditEvent.objects.filter(kind=AuditKind.TOKEN_REJECTED).order_by("-id").first()
    assert rejected.source == "rpc" and rejected.data["reason"] == "expired"
