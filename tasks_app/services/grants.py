"""Executor grants: who may create, edit, copy and run tasks with a dangerous executor.

An executor class declares the permission it needs (``Executor.permission``, e.g.
``"use_shell_command"``; the permissions are declared on ``Task.Meta``). Every write path that
puts an executor into a tree or runs it calls :func:`require_executors` with the acting user:
tree creation, task edits, copies and clones (the whole copied set), execute, retry and rerun
(the tasks that would run). A grant revoked after creation therefore stops the next run.

Staff-only executors (``executors.access``: ``system_info`` unless ``ARBOR_SYSTEM_INFO_FOR_ALL``)
are the same rule one step stricter: to anyone else they are unknown (400 ``unknown_executor``)
and absent from the catalogue.

``actor=None`` is a trusted system caller (the scheduler, tests, operator scripts); every
interface (REST, JSON-RPC, UI, admin, TaskManager, ``manage.py arbor``) passes its user.

Refusals raise :class:`~tasks_app.exceptions.PermissionDenied` (403 / JSON-RPC -32005) naming
the permission, and are recorded as ``AuditKind.PERMISSION_DENIED`` by :func:`audit_denials`,
which the public services wear outermost: the outermost decorated call (outside the services'
own transactions) writes the audit row after their transaction has rolled back (a row written
inside it would be rolled back with it).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterable

from tasks_app.exceptions import OrchestratorError, PermissionDenied
from tasks_app.executors import access, registry

from . import audit

APP_LABEL = "tasks_app"
MSG_NEEDS = "executor '{executor}' needs the permission {permission}"


def permission_for(executor_id: str) -> str | None:
    """The full permission name (``tasks_app.use_shell_command``) ``executor_id`` needs, or None."""
    codename = registry.required_permission(executor_id)
    return f"{APP_LABEL}.{codename}" if codename else None


def may_use(user, executor_id: str) -> bool:
    if user is None:
        return True
    if not access.may_use(user, executor_id):  # staff-only executors (system_info)
        return False
    permission = permission_for(executor_id)
    return permission is None or bool(user.has_perm(permission))


def missing_executors(user) -> set[str]:
    """The registered executor ids ``user`` may not use (empty for superusers and system callers)."""
    if user is None:
        return set()
    return {eid for eid in registry.registered() if not may_use(user, eid)}


def executor_catalogue(user, *, include_denied: bool = False) -> list[dict]:
    """The executor catalogue the editor offers: ``registry.describe_all()`` entries marked
    ``allowed``; without ``include_denied`` only the executors ``user`` may use."""
    out = []
    for item in registry.describe_all():
        if user is not None and not access.may_use(user, item["id"]):
            continue  # a staff-only executor is unknown to everyone else, not merely denied
        allowed = item["permission"] is None or user is None or bool(user.has_perm(item["permission"]))
        if allowed or include_denied:
            out.append({**item, "allowed": allowed})
    return out


def executor_refusal(user, executor_ids: Iterable[str], *, source: str = "") -> OrchestratorError | None:
    """Why ``user`` may not use ``executor_ids``, without raising (the "can I?" of the checks
    in ``services.control``): the first (by id) missing permission as a PermissionDenied, a
    staff-only executor as UnknownExecutor; None when every one is allowed or ``user`` is None
    (a system caller)."""
    if user is None:
        return None
    ids = sorted({registry.ALIASES.get(e, e) for e in executor_ids if e})
    try:
        access.check(user, ids)  # staff-only executors answer as unknown ones
    except OrchestratorError as exc:
        return exc
    for executor_id in ids:
        permission = permission_for(executor_id)
        if permission is not None and not user.has_perm(permission):
            denied = PermissionDenied(
                MSG_NEEDS.format(executor=executor_id, permission=permission),
                details={"executor": executor_id, "permission": permission},
            )
            denied.actor, denied.source, denied.audited = user, source, False
            return denied
    return None


def require_executors(user, executor_ids: Iterable[str], *, source: str = "") -> None:
    """Raise PermissionDenied for the first (by id) executor of ``executor_ids`` that ``user``
    may not use (:func:`executor_refusal`). ``user=None`` (a system caller) may use every executor."""
    refusal = executor_refusal(user, executor_ids, source=source)
    if refusal is not None:
        raise refusal


def record_denied(exc: PermissionDenied, *, request=None, actor=None, source: str = "") -> None:
    """Record ``exc`` as a PERMISSION_DENIED audit event once."""
    if getattr(exc, "audited", False):
        return
    exc.audited = True
    actor = getattr(exc, "actor", None) or actor
    executor = exc.details.get("executor")
    target = f"executor:{executor}" if executor else exc.details.get("target", "")
    audit.record(
        audit.AuditKind.PERMISSION_DENIED,
        actor=actor,
        request=request,
        source=getattr(exc, "source", "") or source,
        target=target,
        permission=exc.details.get("permission"),
        message=exc.message,
    )


_depth: contextvars.ContextVar[int] = contextvars.ContextVar("arbor_grant_depth", default=0)


def audit_denials(func):
    """Decorate a public service: a PermissionDenied leaving the outermost decorated call is
    audited there, after the inner services' transactions have rolled back."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        token = _depth.set(_depth.get() + 1)
        try:
            return func(*args, **kwargs)
        except PermissionDenied as exc:
            if _depth.get() == 1:
                record_denied(exc, actor=kwargs.get("actor"), source=kwargs.get("source", ""))
            raise
        finally:
            _depth.reset(token)

    return wrapper


__all__ = [
    "audit_denials",
    "executor_catalogue",
    "executor_refusal",
    "may_use",
    "missing_executors",
    "permission_for",
    "record_denied",
    "require_executors",
]
