"""services.grants: who may use which executor (model permissions, staff-only executors), and the
audit of a refusal exactly once however deeply the services that raise it are nested."""

import pytest

from tasks_app.exceptions import PermissionDenied, UnknownExecutor
from tasks_app.models import AuditEvent, AuditKind
from tasks_app.services import grants

pytestmark = pytest.mark.django_db


def test_permission_for_names_the_model_permission_or_none():
    assert grants.permission_for("shell_command") == "tasks_app.use_shell_command"
    assert grants.permission_for("noop") is None


def test_may_use_follows_the_users_permissions(user, staff_user, executor_grants):
    assert grants.may_use(None, "shell_command")  # a system caller
    assert grants.may_use(staff_user, "system_info")
    assert not grants.may_use(user, "system_info")  # staff-only
    assert grants.may_use(executor_grants, "shell_command")


def test_missing_executors_of_a_plain_user(user, staff_user):
    missing = grants.missing_executors(user)
    assert {"shell_command", "http_request", "python_function", "system_info"} <= missing
    assert "noop" not in missing
    assert grants.missing_executors(staff_user) == set() == grants.missing_executors(None)


def test_catalogue_hides_what_the_user_may_not_use_unless_asked(user):
    ids = {item["id"] for item in grants.executor_catalogue(user)}
    assert "noop" in ids and "shell_command" not in ids
    every = {item["id"]: item["allowed"] for item in grants.executor_catalogue(user, include_denied=True)}
    assert every["shell_command"] is False and every["noop"] is True


def test_require_executors_names_the_executor_and_permission(user):
    grants.require_executors(user, ["noop", "echo", ""])
    grants.require_executors(None, ["shell_command"])
    with pytest.raises(PermissionDenied) as denied:
        grants.require_executors(user, ["shell_command", "http_request"], source="api")
    assert denied.value.details == {"executor": "http_request", "permission": "tasks_app.use_http_request"}
    with pytest.raises(UnknownExecutor):  # staff-only executors answer as unknown ones
        grants.require_executors(user, ["system_info"])


def test_a_denial_is_audited_once_by_the_outermost_service(user):
    @grants.audit_denials
    def inner(*, actor, source):
        grants.require_executors(actor, ["shell_command"], source=source)

    @grants.audit_denials
    def outer(*, actor, source):
        inner(actor=actor, source=source)

    with pytest.raises(PermissionDenied) as denied:
        outer(actor=user, source="rpc")
    event = AuditEvent.objects.get(kind=AuditKind.PERMISSION_DENIED)
    assert event.target == "executor:shell_command" and event.source == "rpc" and event.actor == user
    grants.record_denied(denied.value)  # already audited: no second row
    assert AuditEvent.objects.filter(kind=AuditKind.PERMISSION_DENIED).count() == 1
