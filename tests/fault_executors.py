"""Misbehaving executors for the durability and fault tests (never registered in production).

Registered through ``settings.ARBOR_EXECUTORS``: test code sets it with the ``settings`` fixture,
worker subprocesses get them from ``orchestrator_site/settings_test.py`` when the environment
variable ``ARBOR_TEST_EXECUTORS`` is set.

Every executor appends JSON lines to ``inputs["log"]`` (when given): ``start`` when an attempt
begins and ``end`` when it returns, with the task name, attempt id and number, pid, wall-clock
time and the task's lock set (``inputs["locks"]``) — the tests count executions and check lock
rules from these lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tasks_app.executors import CancelableExecutor, ExecutorError, PermanentError

FAULT_EXECUTORS = {
    "write_marker_file": "tests.fault_executors.WriteMarkerFile",
    "kill_self": "tests.fault_executors.KillSelf",
    "block_signals_busy_loop": "tests.fault_executors.BlockSignalsBusyLoop",
    "spawn_child_then_hang": "tests.fault_executors.SpawnChildThenHang",
    "sleep_ignoring_cancel": "tests.fault_executors.SleepIgnoringCancel",
}


def record(inputs: dict, context, event: str, **extra) -> None:
    path = inputs.get("log")
    if not path:
        return
    line = {
        "event": event,
        "task": context.task_name,
        "task_key": context.task_key,
        "attempt_id": context.attempt_id,
        "attempt": context.attempt_number,
        "pid": os.getpid(),
        "t": time.time(),
        "locks": inputs.get("locks") or [],
        **extra,
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())  # one write: lines never interleave
    finally:
        os.close(fd)


def read_log(path) -> list[dict]:
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def _hit(attempts, number: int) -> bool:
    """``attempts``: True (every attempt), a list of attempt numbers, or falsy (never)."""
    if attempts is True:
        return True
    return bool(attempts) and number in attempts


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # never reached


class WriteMarkerFile(CancelableExecutor):
    """The probe: records start/end, sleeps cooperatively, and fails or dies on request.

    inputs: ``log``; ``seconds`` (cooperative sleep); ``fail_attempts`` (raise a retryable
    error); ``permanent`` (raise PermanentError); ``kill_attempts`` (SIGKILL this worker process
    after the work, before the outcome is recorded); ``result``.
    """

    id = "write_marker_file"
    name = "Write marker file (tests)"

    def execute(self, inputs, context):
        self.bind(context)
        record(inputs, context, "start")
        seconds = float(inputs.get("seconds") or 0)
        if seconds:
            try:
                context.sleep(seconds)
            except BaseException:
                record(inputs, context, "end", outcome="cancelled")  # stopped cooperatively
                raise
        if inputs.get("permanent"):
            record(inputs, context, "end", outcome="permanent")
            raise PermanentError("refused on purpose")
        if _hit(inputs.get("fail_attempts"), context.attempt_number):
            record(inputs, context, "end", outcome="failed")
            raise ExecutorError(f"attempt {context.attempt_number} failed on purpose")
        record(inputs, context, "end", outcome="completed")
        if _hit(inputs.get("kill_attempts"), context.attempt_number):
            _die()  # the side effect happened; the outcome never reaches the database
        return inputs.get("result", {"attempt": context.attempt_number})


class KillSelf(CancelableExecutor):
    """SIGKILLs its own worker process after ``delay`` seconds, on ``attempts`` (default every
    attempt: a poison task); otherwise completes."""

    id = "kill_self"
    name = "Kill own worker (tests)"

    def execute(self, inputs, context):
        self.bind(context)
        record(inputs, context, "start")
        if _hit(inputs.get("attempts", True), context.attempt_number):
            delay = float(inputs.get("delay") or 0)
            if delay:
                time.sleep(delay)
            _die()
        record(inputs, context, "end", outcome="completed")
        return {"survived": context.attempt_number}


class BlockSignalsBusyLoop(CancelableExecutor):
    """Blocks every signal in its thread, busy-loops and swallows every exception."""

    id = "block_signals_busy_loop"
    name = "Block signals and busy-loop (tests)"

    def execute(self, inputs, context):
        record(inputs, context, "start")
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        except (OSError, ValueError):
            pass
        deadline = time.monotonic() + float(inputs.get("seconds") or 600)
        while time.monotonic() < deadline:
            try:
                sum(range(10_000))
            except BaseException:  # swallowing everything is the point
                pass
        record(inputs, context, "end", outcome="completed")
        return {"looped": True}


class SpawnChildThenHang(CancelableExecutor):
    """Starts ``sleep 600`` (same process group), records its pid, then hangs ignoring cancel."""

    id = "spawn_child_then_hang"
    name = "Spawn a child and hang (tests)"

    def execute(self, inputs, context):
        child = subprocess.Popen(["sleep", "600"])
        record(inputs, context, "start", child=child.pid)
        deadline = time.monotonic() + float(inputs.get("seconds") or 600)
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except BaseException:  # swallowing everything is the point
                pass
        record(inputs, context, "end", outcome="completed")
        return {"child": child.pid}


class SleepIgnoringCancel(CancelableExecutor):
    """``time.sleep`` in small steps, deaf to cancellation and timeouts."""

    id = "sleep_ignoring_cancel"
    name = "Sleep ignoring cancel (tests)"

    def execute(self, inputs, context):
        record(inputs, context, "start")
        seconds = float(inputs.get("seconds") or 60)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        record(inputs, context, "end", outcome="completed")
        return {"slept": seconds}
