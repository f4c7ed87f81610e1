"""Executors: do the work of one task attempt, from plain inputs to a JSON-serialisable result.

Import rule: this package may import the standard library, third-party clients,
``tasks_app.engine`` and ``tasks_app.exceptions``; never models, services, selectors or
``django.db``. Settings reach executors only as the ``config`` mapping built by the registry.
Outside code imports from here, not from the submodules (``shell`` keeps its process-group
helpers for supervisors).
"""

from .base import (
    CancelableExecutor,
    ExecutionCancelled,
    ExecutionContext,
    Executor,
    ExecutorError,
    PermanentError,
)
from .registry import (
    ALIASES,
    BUILTIN_EXECUTORS,
    check_inputs,
    check_registry,
    describe_all,
    executor_choices,
    get_executor,
    get_executor_class,
    registered,
    resolve_id,
)

__all__ = [
    "ALIASES",
    "BUILTIN_EXECUTORS",
    "CancelableExecutor",
    "ExecutionCancelled",
    "ExecutionContext",
    "Executor",
    "ExecutorError",
    "PermanentError",
    "check_inputs",
    "check_registry",
    "describe_all",
    "executor_choices",
    "get_executor",
    "get_executor_class",
    "registered",
    "resolve_id",
]
