"""Executors reserved for staff. ``system_info`` reports the host's CPU, memory and disk: useful to
operators, reconnaissance for anyone else, so ordinary users neither see it in the catalogue nor
may use it, unless ``ARBOR_SYSTEM_INFO_FOR_ALL`` opens it (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterable

from tasks_app import conf
from tasks_app.exceptions import UnknownExecutor

STAFF_ONLY = frozenset({"system_info"})
MSG_STAFF_ONLY = "{label}unknown executor '{executor}'"


def staff_only() -> frozenset[str]:
    return frozenset() if conf.get("ARBOR_SYSTEM_INFO_FOR_ALL") else STAFF_ONLY


def may_use(user: object, executor_id: str) -> bool:
    if executor_id not in staff_only():
        return True
    return bool(user is not None and getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def check(user: object, executor_ids: Iterable[str], label: str = "") -> None:
    """Raise UnknownExecutor (as for an unregistered id: the catalogue does not list it either)
    for an executor this user may not use."""
    for executor_id in executor_ids:
        if not may_use(user, executor_id):
            raise UnknownExecutor(
                MSG_STAFF_ONLY.format(label=label, executor=executor_id), details={"executor": executor_id}
            )
