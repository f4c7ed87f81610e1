import threading
import time

import pytest

from tasks_app.executors import (
    ExecutionCancelled,
    ExecutionContext,
    Executor,
    ExecutorError,
    PermanentError,
)
from tasks_app.executors.base import CancelableExecutor


def test_executor_error_is_retryable_by_default():
    error = ExecutorError("boom")
    assert error.permanent is False
    assert error.error_type == "executor_error"
    assert error.message == "boom"
    assert str(error) == "boom"
    assert error.details == {}


def test_executor_error_flags_can_be_overridden_per_instance():
    error = ExecutorError("bad", permanent=True, error_type="http_error", details={"status": 404})
    assert error.permanent is True
    assert error.error_type == "http_error"
    assert error.details == {"status": 404}
    assert ExecutorError.permanent is False


def test_permanent_and_cancelled_errors_are_not_retried():
    assert PermanentError("x").permanent is True
    assert PermanentError("x").error_type == "permanent_error"
    cancelled = ExecutionCancelled()
    assert cancelled.permanent is True
    assert cancelled.error_type == "cancelled"
    assert isinstance(cancelled, ExecutorError)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(-0.5, 0.0), (0.0, 0.0), (0.25, 0.25), (1.0, 1.0), (7, 1.0), (float("nan"), 0.0), ("0.5", 0.5)],
)
def test_report_progress_clamps_to_unit_interval(make_context, recorder, given, expected):
    make_context().report_progress(given, "working")
    assert recorder.progress == [(expected, "working")]


def test_report_progress_and_log_without_callbacks_do_nothing(make_context):
    context = make_context(progress_callback=None, log_callback=None)
    context.report_progress(0.5)
    context.log("line")


def test_log_passes_level_then_line(make_context, recorder):
    context = make_context()
    context.log("hello")
    context.log("careful", level="warning")
    assert recorder.logs == [("info", "hello"), ("warning", "careful")]


def test_check_cancelled_raises_once_the_event_is_set(make_context):
    context = make_context()
    context.check_cancelled()
    assert context.cancelled is False
    context.cancel_event.set()
    assert context.cancelled is True
    with pytest.raises(ExecutionCancelled):
        context.check_cancelled()


def test_sleep_returns_after_the_delay_when_not_cancelled(make_context):
    start = time.monotonic()
    make_context().sleep(0.05)
    assert time.monotonic() - start >= 0.05


def test_sleep_is_interrupted_promptly_by_cancel(make_context):
    context = make_context()
    timer = threading.Timer(0.05, context.cancel_event.set)
    timer.start()
    start = time.monotonic()
    with pytest.raises(ExecutionCancelled):
        context.sleep(10)
    assert time.monotonic() - start < 1
    timer.join()


def test_time_remaining_counts_down_from_the_timeout(make_context, monkeypatch):
    assert make_context().time_remaining() is None
    now = [1000.0]  # the context's clock, moved by hand: exact values, no wall-clock bounds
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    context = make_context(timeout=10, started_monotonic=1000.0)
    assert context.time_remaining() == 10
    now[0] = 1003.5
    assert context.time_remaining() == 6.5
    now[0] = 1015.0
    assert context.time_remaining() == 0  # never negative


def test_context_fields_default_to_empty_and_fresh_event():
    first = ExecutionContext("t", "a", 1, "name", "key")
    second = ExecutionContext("t", "a", 1, "name", "key")
    assert first.params == {} and first.dependency_results == {}
    assert first.timeout is None
    assert first.cancel_event is not second.cancel_event


def test_base_executor_copies_config_and_cancel_is_a_no_op():
    config = {"A": [1]}
    executor = Executor(config)
    assert executor.config == config and executor.config is not config
    assert Executor().config == {}
    executor.cancel()
    assert Executor.cancelable is False
    assert Executor.aggregate is False
    assert Executor.input_schema == {"type": "object"}


def test_base_executor_execute_must_be_overridden(make_context):
    with pytest.raises(NotImplementedError):
        Executor().execute({}, make_context())


def test_cancelable_executor_cancel_before_bind_cancels_the_context(make_context):
    executor = CancelableExecutor()
    executor.cancel()
    context = make_context()
    executor.bind(context)
    assert context.cancelled is True


def test_cancelable_executor_cancel_sets_the_bound_context_event(make_context):
    executor = CancelableExecutor()
    context = make_context()
    executor.bind(context)
    executor.cancel()
    assert context.cancelled is True
    assert executor.cancel_requested is True
