"""Domain errors shared by every layer of Arbor.

Each error carries a short machine ``code`` (used by the API's error shape), a human
``message`` and a JSON-friendly ``details`` dict. This module imports only the standard
library, so the pure engine, the services and the interfaces can all raise and catch the
same types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class OrchestratorError(Exception):
    """Base class of every domain error."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationError(OrchestratorError):
    """Generic bad input."""

    code = "validation"


class TreeValidationError(ValidationError):
    """A task tree (or an edit to one) breaks a structural rule; ``errors`` lists every problem."""

    code = "tree_validation"

    def __init__(self, errors: Sequence[str] | str, *, details: dict[str, Any] | None = None) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        merged = {"errors": list(self.errors)}
        merged.update(details or {})
        super().__init__("; ".join(self.errors), details=merged)


class DependencyCycle(TreeValidationError):
    """Dependencies form a cycle; ``cycle`` is the path of task names, first == last."""

    code = "circular_dependency"

    def __init__(
        self,
        cycle: Sequence[str],
        *,
        errors: Sequence[str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.cycle: list[str] = list(cycle)
        if errors is None:
            errors = [cycle_message(self.cycle)]
        merged = {"cycle": list(self.cycle)}
        merged.update(details or {})
        super().__init__(errors, details=merged)


class InvalidReference(TreeValidationError):
    """A parent or dependency reference names no known task."""

    code = "invalid_reference"


class InvalidTransition(OrchestratorError):
    """A status change that the state machine does not allow."""

    code = "invalid_transition"


class UnknownExecutor(ValidationError):
    code = "executor_not_found"


class NotFound(OrchestratorError):
    code = "not_found"


class PermissionDenied(OrchestratorError):
    """The user may not do this; ``details["permission"]`` names the Django permission it needs
    (``app_label.codename``). Answered 403 (REST) and -32005 (JSON-RPC)."""

    code = "permission_denied"
    # set by services.grants when it raises one: who was refused, through which interface, and
    # whether the refusal was already written to the audit log
    actor: Any = None
    source: str = ""
    audited: bool = False


class AlreadyRunning(OrchestratorError):
    code = "already_executing"


class CannotDelete(OrchestratorError):
    code = "cannot_delete"


class ArchivedTask(OrchestratorError):
    code = "archived"


class ResourceNotGranted(PermissionDenied):
    """A task names a shared resource (declared by staff) that its owner is not granted;
    ``details["resources"]`` lists them as the user named them."""

    code = "resource_not_granted"


class LimitExceeded(ValidationError):
    """A configured size limit was exceeded; ``details["limit"]`` names it (e.g. ``"max_tasks"``)."""

    code = "limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        limit: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged: dict[str, Any] = dict(details or {})
        if limit is not None:
            merged.setdefault("limit", limit)
        super().__init__(message, details=merged)

    @property
    def limit(self) -> str | None:
        return self.details.get("limit")


def cycle_message(cycle: Iterable[str]) -> str:
    """Return ``"circular dependency: a -> b -> a"`` for a cycle path."""
    return "circular dependency: " + " -> ".join(cycle)
