import json
import threading
import time

import pytest

from tasks_app.executors import ExecutionCancelled, ExecutorError, PermanentError
from tasks_app.executors.builtin import (
    MSG_FAIL_DEFAULT,
    MSG_SLEEP_SECONDS,
    AggregateResultsExecutor,
    EchoExecutor,
    FailExecutor,
    NoopExecutor,
    PythonFunctionExecutor,
    SleepExecutor,
    SystemInfoExecutor,
)
from tests.helpers import wait_for

PYTHON_FUNCTIONS = "ARBOR_PYTHON_FUNCTIONS"


def add(a, b=0):
    return {"sum": a + b}


def add_with_context(a, context):
    return {"a": a, "task_key": context.task_key, "attempt": context.attempt_number}


def raise_value_error():
    raise ValueError("inside the function")


NOT_CALLABLE = 42


def test_noop_returns_empty_object(make_context):
    assert NoopExecutor().execute({"anything": 1}, make_context()) == {}


def test_echo_returns_result_input_when_present(make_context):
    assert EchoExecutor().execute({"result": [1, 2], "other": 3}, make_context()) == [1, 2]
    assert EchoExecutor().execute({"result": None}, make_context()) is None


def test_echo_returns_a_copy_of_all_inputs_otherwise(make_context):
    inputs = {"a": 1, "b": {"c": 2}}
    result = EchoExecutor().execute(inputs, make_context())
    assert result == inputs
    assert result is not inputs


def test_sleep_sleeps_and_reports_progress_up_to_one(make_context, recorder):
    start = time.monotonic()
    result = SleepExecutor().execute({"seconds": 0.3}, make_context())
    elapsed = time.monotonic() - start
    assert result == {"slept": 0.3}
    assert 0.3 <= elapsed < 1.5
    fractions = [fraction for fraction, _ in recorder.progress]
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    # At most about ten reports per second, plus the first and the final one.
    assert 2 <= len(fractions) <= 6


def test_sleep_defaults_to_one_second_and_accepts_zero(make_context):
    assert SleepExecutor.input_schema["properties"]["seconds"]["default"] == 1
    assert SleepExecutor().execute({"seconds": 0}, make_context()) == {"slept": 0.0}
    assert SleepExecutor().execute({"seconds": 0.0}, make_context()) == {"slept": 0.0}


def test_sleep_treats_missing_or_null_seconds_as_one_second(make_context):
    for inputs in ({}, {"seconds": None}):
        context = make_context()
        timer = threading.Timer(0.1, context.cancel_event.set)
        timer.start()
        with pytest.raises(ExecutionCancelled):  # still sleeping after 0.1 s: not refused, not zero
            SleepExecutor().execute(inputs, context)
        timer.join()


@pytest.mark.parametrize("seconds", [-1, 86401, "soon", True, float("nan"), [1]])
def test_sleep_rejects_seconds_outside_0_to_86400(make_context, seconds):
    with pytest.raises(PermanentError, match=MSG_SLEEP_SECONDS):
        SleepExecutor().execute({"seconds": seconds}, make_context())


def test_sleep_cancel_stops_it_promptly(make_context, run_in_thread, recorder):
    executor = SleepExecutor()
    assert executor.cancelable is True
    runner = run_in_thread(executor, {"seconds": 30}, make_context())
    wait_for(lambda: recorder.progress)
    cancelled_at = time.monotonic()
    executor.cancel()
    runner.join(2)
    assert isinstance(runner.error, ExecutionCancelled)
    assert runner.finished_at - cancelled_at < 0.5


def test_sleep_stops_when_the_worker_sets_the_cancel_event(make_context, run_in_thread, recorder):
    context = make_context()
    runner = run_in_thread(SleepExecutor(), {"seconds": 30}, context)
    wait_for(lambda: recorder.progress)
    context.cancel_event.set()
    runner.join(2)
    assert isinstance(runner.error, ExecutionCancelled)


def test_fail_raises_retryable_error_with_default_message(make_context):
    with pytest.raises(ExecutorError, match=MSG_FAIL_DEFAULT) as excinfo:
        FailExecutor().execute({}, make_context())
    assert excinfo.value.permanent is False
    assert not isinstance(excinfo.value, PermanentError)


def test_fail_raises_permanent_error_when_asked(make_context):
    with pytest.raises(PermanentError, match="^nope$") as excinfo:
        FailExecutor().execute({"message": "nope", "permanent": True}, make_context())
    assert excinfo.value.permanent is True


def test_aggregate_results_returns_dependency_results_by_name(make_context):
    assert AggregateResultsExecutor.aggregate is True
    context = make_context(dependency_results={"fetch": {"rows": 3}, "count": 7})
    result = AggregateResultsExecutor().execute({"ignored": True}, context)
    assert result == {"results": {"fetch": {"rows": 3}, "count": 7}, "count": 2}


def test_aggregate_results_without_dependencies(make_context):
    assert AggregateResultsExecutor().execute({}, make_context()) == {"results": {}, "count": 0}


def test_system_info_reports_host_metrics(make_context):
    info = SystemInfoExecutor().execute({}, make_context())
    assert set(info) == {"cpu", "memory", "disk", "python", "host", "platform"}
    assert set(info["cpu"]) == {"count", "percent"}
    assert set(info["memory"]) == {"total", "available", "percent"}
    assert set(info["disk"]) == {"total", "free", "percent"}
    assert info["memory"]["total"] > 0
    assert info["python"].count(".") == 2
    json.dumps(info)


def _python(make_context, function, kwargs=None, allowed=(), **inputs):
    executor = PythonFunctionExecutor({PYTHON_FUNCTIONS: list(allowed)})
    inputs = {"function": function, **inputs}
    if kwargs is not None:
        inputs["kwargs"] = kwargs
    return executor.execute(inputs, make_context())


def test_python_function_is_refused_unless_listed_in_the_setting(make_context):
    path = f"{__name__}.add"
    with pytest.raises(PermanentError, match=f"not listed in settings.{PYTHON_FUNCTIONS}") as excinfo:
        _python(make_context, path, {"a": 1})
    assert excinfo.value.error_type == "not_allowed"
    with pytest.raises(PermanentError, match="not listed"):
        _python(make_context, path, {"a": 1}, allowed=[f"{__name__}.add_with_context"])


def test_python_function_is_refused_by_default_config(make_context):
    with pytest.raises(PermanentError, match=PYTHON_FUNCTIONS):
        PythonFunctionExecutor().execute({"function": "json.dumps"}, make_context())


def test_python_function_calls_the_function_with_kwargs(make_context):
    path = f"{__name__}.add"
    assert _python(make_context, path, {"a": 2, "b": 3}, allowed=[path]) == {"sum": 5}
    assert _python(make_context, path, {"a": 2}, allowed=[path]) == {"sum": 2}
    assert _python(make_context, "json.dumps", {"obj": [1]}, allowed=["json.dumps"]) == "[1]"


def test_python_function_passes_context_when_accepted(make_context):
    path = f"{__name__}.add_with_context"
    result = _python(make_context, path, {"a": 1}, allowed=[path])
    assert result == {"a": 1, "task_key": "task-1:run-1", "attempt": 1}


def test_python_function_requires_a_function_path(make_context):
    with pytest.raises(PermanentError, match="inputs.function"):
        PythonFunctionExecutor({PYTHON_FUNCTIONS: ["x.y"]}).execute({}, make_context())


@pytest.mark.parametrize(
    ("function", "kwargs", "message"),
    [
        (f"{__name__}.add", {"c": 1}, "do not match the signature"),
        (f"{__name__}.add", ["a"], "kwargs must be an object"),
        (f"{__name__}.NOT_CALLABLE", {}, "is not callable"),
        (f"{__name__}.missing", {}, "cannot be imported"),
        ("no_such_module_xyz.func", {}, "cannot be imported"),
        ("nodots", {}, "cannot be imported"),
    ],
)
def test_python_function_bad_calls_are_permanent_errors(make_context, function, kwargs, message):
    with pytest.raises(PermanentError, match=message):
        _python(make_context, function, kwargs, allowed=[function])


def test_python_function_exceptions_propagate_unchanged(make_context):
    path = f"{__name__}.raise_value_error"
    with pytest.raises(ValueError, match="inside the function"):
        _python(make_context, path, allowed=[path])
