"""The executor contract: errors, the per-attempt context and the ``Executor`` base class.

Executors turn plain inputs into a plain, JSON-serialisable result. They never import models,
services, selectors or ``django.db``; whatever they need from settings (allow-lists) is handed to
them as ``config`` by ``tasks_app.executors.registry``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

logger = logging.getLogger(__name__)

MSG_CANCELLED = "execution was cancelled"


class ExecutorError(Exception):
    """An attempt failed. Retried unless ``permanent`` is true."""

    permanent: bool = False
    error_type: str = "executor_error"

    def __init__(
        self,
        message: str,
        *,
        permanent: bool | None = None,
        error_type: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if permanent is not None:
            self.permanent = permanent
        if error_type is not None:
            self.error_type = error_type
        self.details = dict(details or {})

    def __str__(self) -> str:
        return self.message


class PermanentError(ExecutorError):
    """A failure that retrying cannot fix (bad inputs, refused by an allow-list, HTTP 4xx)."""

    permanent = True
    error_type = "permanent_error"


class ExecutionCancelled(ExecutorError):
    """The attempt stopped because it was cancelled. Never retried."""

    permanent = True
    error_type = "cancelled"

    def __init__(self, message: str = MSG_CANCELLED, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


@dataclass
class ExecutionContext:
    """Everything an executor may know about the attempt it is running.

    ``task_key`` is stable across attempts of the same task run (use it as an idempotency key
    for external side effects); ``attempt_id`` is unique per attempt. ``timeout`` is in seconds
    and counts from the moment the context is created.
    """

    task_id: str
    attempt_id: str
    attempt_number: int
    task_name: str
    task_key: str
    params: dict[str, Any] = field(default_factory=dict[str, Any])
    dependency_results: dict[str, Any] = field(default_factory=dict[str, Any])
    timeout: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress_callback: Callable[[float, str], None] | None = None
    log_callback: Callable[[str, str], None] | None = None
    started_monotonic: float = field(default_factory=time.monotonic, repr=False)

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Send ``fraction`` (clamped to 0..1; NaN counts as 0) and ``message`` to the callback."""
        try:
            value = float(fraction)
        except (TypeError, ValueError):
            value = 0.0
        if math.isnan(value):
            value = 0.0
        value = min(1.0, max(0.0, value))
        if self.progress_callback is not None:
            self.progress_callback(value, message)

    def log(self, line: str, level: str = "info") -> None:
        """Send one log line to the callback (or to this module's logger if there is none)."""
        if self.log_callback is not None:
            self.log_callback(level, line)
        else:
            logger.debug("[%s] %s: %s", self.task_name, level, line)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise ExecutionCancelled if the attempt was cancelled."""
        if self.cancel_event.is_set():
            raise ExecutionCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise ExecutionCancelled as soon as the attempt is cancelled."""
        self.check_cancelled()
        if seconds > 0 and self.cancel_event.wait(seconds):
            raise ExecutionCancelled()

    def time_remaining(self) -> float | None:
        """Return the seconds left before ``timeout`` (never negative), or None without a timeout."""
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - (time.monotonic() - self.started_monotonic))


class Executor:
    """Base class for executors. Subclasses set ``id`` and ``name`` and implement ``execute``.

    A new instance is created for every attempt, so instance attributes are per attempt.
    ``cancel()`` may be called from another thread while ``execute()`` runs.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    input_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    cancelable: ClassVar[bool] = False
    aggregate: ClassVar[bool] = False
    # What a run with apflow's ``use_demo`` returns instead of executing (no side effects); None:
    # the executor has no demo and runs for real. Read through ``registry.demo_result``.
    demo_result: ClassVar[object] = None
    # True: attempts may run side by side in threads of one worker process (worker.loop._Pool).
    # Only for executors that cannot take their process down (no os._exit, no signals, no child
    # processes a hard kill would have to reap) and that stop when cancelled; anything else runs
    # alone in its worker, so a poison task or a hard kill never disturbs another attempt.
    concurrent: ClassVar[bool] = False
    # The codename of the ``tasks_app`` permission a user needs to create, edit, copy or run a
    # task with this executor (e.g. ``"use_shell_command"``); None: every user may. Read through
    # ``registry.required_permission``; checked by ``services.grants``.
    permission: ClassVar[str | None] = None

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> object:
        """Do the work and return a JSON-serialisable result; raise ExecutorError on failure."""
        raise NotImplementedError

    @classmethod
    def check_inputs(cls, inputs: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
        """Return the problems in a task's own ``inputs`` that would surely fail it (none by default).

        Called when a task is created or edited, so a bad input is a 400 rather than a failed run;
        cheap, no I/O. ``execute`` still checks everything: dependency results are merged into the
        inputs and settings may change before the task runs.
        """
        return []

    def cancel(self) -> None:
        """Ask a running ``execute()`` to stop. The default does nothing (not cancelable)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={getattr(self, 'id', '?')!r}>"


class CancelableExecutor(Executor):
    """An executor whose ``cancel()`` sets the running attempt's ``cancel_event``.

    Subclasses call ``self.bind(context)`` at the start of ``execute`` and may extend ``cancel``
    to interrupt blocking work (close a socket, kill a process group).
    """

    cancelable = True

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._context: ExecutionContext | None = None
        self._cancel_requested = False

    def bind(self, context: ExecutionContext) -> None:
        """Remember ``context``; if cancel() already ran, cancel the context right away."""
        with self._lock:
            self._context = context
            if self._cancel_requested:
                context.cancel_event.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        with self._lock:
            self._cancel_requested = True
            if self._context is not None:
                self._context.cancel_event.set()
