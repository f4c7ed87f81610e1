"""services.audit: the one write path of the security audit trail."""

from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import RequestFactory

from tasks_app.models import AuditEvent, AuditKind
from tasks_app.services import audit

pytestmark = pytest.mark.django_db


def test_client_ip_of_a_request_a_channels_scope_and_nothing():
    assert audit.client_ip(RequestFactory().get("/", REMOTE_ADDR="10.1.2.3")) == "10.1.2.3"
    assert audit.client_ip({"client": ("192.0.2.7", 5555)}) == "192.0.2.7"
    assert audit.client_ip({"type": "websocket"}) is None
    assert audit.client_ip(None) is None


def test_record_writes_the_row_and_the_log_line(user, caplog):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9")
    with caplog.at_level("INFO", logger="arbor.audit"):
        event = audit.record(
            AuditKind.LOGIN, actor=user, request=request, source="ui", target="x" * 400, why="y"
        )
    row = AuditEvent.objects.get()
    assert row == event and row.username == user.username and row.ip == "10.0.0.9"
    assert len(row.target) == 300 and row.data == {"why": "y"}
    assert f"user={user.username} ip=10.0.0.9 source=ui" in caplog.text


def test_an_anonymous_actor_is_recorded_by_the_given_name(django_user_model):
    from django.contrib.auth.models import AnonymousUser

    event = audit.record(AuditKind.LOGIN_FAILED, actor=AnonymousUser(), username="guess")
    assert event.actor is None and event.username == "guess"


def test_a_database_error_is_logged_and_swallowed(caplog):
    with mock.patch.object(AuditEvent.objects, "create", side_effect=DatabaseError("down")):
        assert audit.record(AuditKind.LOGIN_FAILED, username="x") is None
    assert "could not write the audit event" in caplog.text
