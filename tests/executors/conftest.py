"""Fixtures for executor tests. Nothing here needs a database or configured Django settings."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# pytest-django puts the project root on sys.path; these tests also run with ``-p no:django``.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tasks_app import conf  # noqa: E402
from tasks_app.executors import ExecutionContext  # noqa: E402


class Recorder:
    """Collects progress and log callbacks (they may arrive from another thread)."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, str]] = []
        self.logs: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def on_progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self.progress.append((fraction, message))

    def on_log(self, level: str, line: str) -> None:
        with self._lock:
            self.logs.append((level, line))

    def lines(self, level: str | None = None) -> list[str]:
        with self._lock:
            return [line for lvl, line in self.logs if level is None or lvl == level]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_context(recorder: Recorder) -> Callable[..., ExecutionContext]:
    def factory(**overrides: object) -> ExecutionContext:
        values: dict = {
            "task_id": "task-1",
            "attempt_id": "attempt-1",
            "attempt_number": 1,
            "task_name": "test task",
            "task_key": "task-1:run-1",
            "params": {},
            "dependency_results": {},
            "progress_callback": recorder.on_progress,
            "log_callback": recorder.on_log,
        }
        values.update(overrides)
        return ExecutionContext(**values)

    return factory


@pytest.fixture
def fake_settings(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A dict standing in for Django settings, as seen through ``tasks_app.conf.get``."""
    values: dict = {}
    monkeypatch.setattr(conf, "get", lambda name: values.get(name, conf.declared(name).default))
    return values


class Runner:
    """Runs ``executor.execute`` in a thread and keeps its result or exception."""

    def __init__(self, executor, inputs: dict, context: ExecutionContext) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=(executor, inputs, context), daemon=True)
        self._thread.start()

    def _run(self, executor, inputs: dict, context: ExecutionContext) -> None:
        try:
            self.result = executor.execute(inputs, context)
        except BaseException as exc:  # the test asserts on it
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "executor did not stop in time"


@pytest.fixture
def run_in_thread() -> type[Runner]:
    return Runner
