"""Small built-in executors: noop, echo, sleep, fail, aggregate_results, system_info, python_function.

The network and process executors live in ``http.py`` and ``shell.py``.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import math
import os
import platform
import socket
import time
from collections.abc import Callable
from typing import Any

from .base import CancelableExecutor, ExecutionContext, Executor, ExecutorError, PermanentError
from .config import SETTING_PYTHON_FUNCTIONS

SLEEP_MAX_SECONDS = 86400
SLEEP_STEP_SECONDS = 0.1  # also the minimum gap between two progress reports

MSG_SLEEP_SECONDS = "seconds must be a number between 0 and 86400"
MSG_FAIL_DEFAULT = "task failed on purpose"

MSG_FUNCTION_REQUIRED = "inputs.function must be a dotted path string"
MSG_FUNCTION_NOT_ALLOWED = "function {path!r} is not listed in settings." + SETTING_PYTHON_FUNCTIONS
MSG_FUNCTION_IMPORT = "function {path!r} cannot be imported: {error}"
MSG_FUNCTION_NOT_CALLABLE = "{path!r} is not callable"
MSG_KWARGS_NOT_DICT = "inputs.kwargs must be an object"
MSG_KWARGS_MISMATCH = "kwargs do not match the signature of {path!r}: {error}"


class NoopExecutor(Executor):
    id = "noop"
    name = "No-op"
    description = "Does nothing and returns an empty object."

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        return {}


class EchoExecutor(Executor):
    id = "echo"
    name = "Echo"
    description = "Returns inputs.result if present, otherwise all effective inputs."
    input_schema = {
        "type": "object",
        "properties": {"result": {"description": "Value to return as the result"}},
    }

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> object:
        if "result" in inputs:
            return inputs["result"]
        return dict(inputs)


class SleepExecutor(CancelableExecutor):
    id = "sleep"
    concurrent = True
    name = "Sleep"
    description = "Waits for the given number of seconds, reporting progress; cancelable."
    input_schema = {
        "type": "object",
        "properties": {
            "seconds": {
                "type": "number",
                "minimum": 0,
                "maximum": SLEEP_MAX_SECONDS,
                "default": 1,
                "description": "How long to sleep",
            },
        },
    }

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        self.bind(context)
        seconds = _sleep_seconds(1 if inputs.get("seconds") is None else inputs["seconds"])
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            context.report_progress(elapsed / seconds)
            context.sleep(min(SLEEP_STEP_SECONDS, seconds - elapsed))
        context.report_progress(1.0)
        return {"slept": seconds}


def _sleep_seconds(value: object) -> float:
    if isinstance(value, bool):
        raise PermanentError(MSG_SLEEP_SECONDS)
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PermanentError(MSG_SLEEP_SECONDS) from None
    if math.isnan(seconds) or not 0 <= seconds <= SLEEP_MAX_SECONDS:
        raise PermanentError(MSG_SLEEP_SECONDS)
    return seconds


class FailExecutor(Executor):
    id = "fail"
    name = "Fail"
    description = "Always fails; with permanent=true the failure is not retried."
    input_schema = {
        "type": "object",
        "properties": {
            "message": {"type": "string", "default": MSG_FAIL_DEFAULT},
            "permanent": {"type": "boolean", "default": False},
        },
    }

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> object:
        message = str(inputs.get("message", MSG_FAIL_DEFAULT))
        if inputs.get("permanent"):
            raise PermanentError(message)
        raise ExecutorError(message)


class AggregateResultsExecutor(Executor):
    id = "aggregate_results"
    name = "Aggregate results"
    description = "Collects the results of all completed dependencies, keyed by task name."
    aggregate = True

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        results = dict(context.dependency_results)
        return {"results": results, "count": len(results)}


class ApflowAggregateResultsExecutor(AggregateResultsExecutor):
    """apflow's ``aggregate_results_executor``: its result shape. ``results`` is keyed by the
    dependency's task name (apflow keys by task id)."""

    id = "aggregate_results_executor"
    name = "Aggregate results (apflow shape)"
    description = "apflow's aggregate_results_executor: {summary, timestamp, results, result_count}."

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        results = dict(context.dependency_results)
        return {
            "summary": f"Aggregated {len(results)} dependency result(s)",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "results": results,
            "result_count": len(results),
        }


class SystemInfoExecutor(Executor):
    id = "system_info"
    name = "System info"
    description = "Reports CPU, memory and disk usage of the worker host."
    demo_result = {
        "demo": True,
        "cpu": {"count": 4, "percent": 12.5},
        "memory": {"total": 8589934592, "available": 4294967296, "percent": 50.0},
        "disk": {"total": 107374182400, "free": 53687091200, "percent": 50.0},
        "python": "3.12.0",
        "host": "demo",
        "platform": "demo",
    }

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        import psutil

        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(os.path.abspath(os.sep))
        return {
            "cpu": {"count": psutil.cpu_count(), "percent": psutil.cpu_percent(interval=0.1)},
            "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent},
            "disk": {"total": disk.total, "free": disk.free, "percent": disk.percent},
            "python": platform.python_version(),
            "host": socket.gethostname(),
            "platform": platform.platform(),
        }


class PythonFunctionExecutor(Executor):
    """Call an allow-listed function by dotted path; ``context`` is passed if it accepts one."""

    id = "python_function"
    permission = "use_python_function"
    name = "Python function"
    description = (
        "Calls a Python function listed in settings.ARBOR_PYTHON_FUNCTIONS with inputs.kwargs; "
        "its return value is the result."
    )
    input_schema = {
        "type": "object",
        "required": ["function"],
        "properties": {
            "function": {"type": "string", "description": "Dotted path, e.g. myapp.jobs.rebuild"},
            "kwargs": {"type": "object", "default": {}},
        },
    }

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> object:
        path = inputs.get("function")
        if not isinstance(path, str) or not path:
            raise PermanentError(MSG_FUNCTION_REQUIRED)
        allowed = self.config.get(SETTING_PYTHON_FUNCTIONS) or ()
        if path not in allowed:
            raise PermanentError(MSG_FUNCTION_NOT_ALLOWED.format(path=path), error_type="not_allowed")
        kwargs = inputs.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise PermanentError(MSG_KWARGS_NOT_DICT)
        func = _import_callable(path)
        kwargs = dict(kwargs)
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have no signature
            signature = None
        if signature is not None:
            if "context" in signature.parameters:
                kwargs["context"] = context
            try:
                signature.bind(**kwargs)
            except TypeError as exc:
                raise PermanentError(MSG_KWARGS_MISMATCH.format(path=path, error=exc)) from None
        return func(**kwargs)


def _import_callable(path: str) -> Callable[..., Any]:
    module_path, _, attr = path.rpartition(".")
    if not module_path:
        raise PermanentError(MSG_FUNCTION_IMPORT.format(path=path, error="not a dotted path"))
    try:
        module = importlib.import_module(module_path)
        func: Callable[..., Any] = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise PermanentError(MSG_FUNCTION_IMPORT.format(path=path, error=exc)) from None
    if not callable(func):
        raise PermanentError(MSG_FUNCTION_NOT_CALLABLE.format(path=path))
    return func
