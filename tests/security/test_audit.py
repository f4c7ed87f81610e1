"""The audit trail's one write path."""

import logging

import pytest

from tasks_app.models import AuditEvent, AuditKind
from tasks_app.services import audit

pytestmark = pytest.mark.django_db


def test_record_writes_a_row_and_a_log_line(user, rf, caplog):
    request = rf.get("/", REMOTE_ADDR="203.0.113.7")
    with caplog.at_level(logging.INFO, logger="arbor.audit"):
        row = audit.record(
            AuditKind.TOKEN_CREATED, actor=user, request=request, source="api", target="token:5", name="ci"
        )
    assert row is not None
    row = AuditEvent.objects.get()
    assert (row.kind, row.actor, row.username, row.ip, row.source, row.target, row.data) == (
        "token_created",
        user,
        "alice",
        "203.0.113.7",
        "api",
        "token:5",
        {"name": "ci"},
    )
    assert "token_created user=alice ip=203.0.113.7" in caplog.text


def test_a_failed_login_has_a_name_and_no_user(rf):
    audit.record(AuditKind.LOGIN_FAILED, username="nobody", request=rf.post("/accounts/login/"))
    row = AuditEvent.objects.get()
    assert row.actor is None and row.username == "nobody" and row.ip == "127.0.0.1"


def test_the_row_outlives_its_user(user):
    audit.record(AuditKind.LOGIN, actor=user)
    user.delete()
    row = AuditEvent.objects.get()
    assert row.actor is None and row.username == "alice"
