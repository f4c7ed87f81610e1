import os
import shlex
import sys
import time

import pytest

from tasks_app.executors import ExecutionCancelled, ExecutorError, PermanentError, shell
from tasks_app.executors.shell import (
    ShellCommandExecutor,
    active_process_groups,
    group_alive,
    kill_active_process_groups,
)
from tests.helpers import wait_for

ALLOWED_COMMANDS = "ARBOR_SHELL_ALLOWED_COMMANDS"
PY = shlex.quote(sys.executable)
SLEEP_30 = f"{PY} -c 'import time; print(\"ready\", flush=True); time.sleep(30)'"
IGNORE_TERM = (
    f"{PY} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    f'print("ready", flush=True); time.sleep(30)\''
)
WITH_GRANDCHILD = "sh -c 'sleep 30 & echo ready; sleep 30'"
LEAVES_CHILD = "sh -c 'sleep 30 & echo started'"


def executor_for(*commands):
    return ShellCommandExecutor({ALLOWED_COMMANDS: list(commands)})


def run(make_context, command, allowed=None, **inputs):
    executor = executor_for(*(allowed if allowed is not None else [command]))
    return executor.execute({"command": command, **inputs}, make_context())


def assert_group_killed(pgid):
    """The group has no running member left (orphans may linger as zombies under some inits)."""
    assert group_alive(pgid) is False
    assert pgid not in active_process_groups()


def start(make_context, run_in_thread, recorder, command, **context_overrides):
    executor = executor_for(command)
    context = make_context(**context_overrides)
    before = set(active_process_groups())
    runner = run_in_thread(executor, {"command": command}, context)
    wait_for(lambda: set(active_process_groups()) - before)
    (pgid,) = set(active_process_groups()) - before
    wait_for(lambda: "ready" in recorder.lines())
    return executor, context, runner, pgid


def test_command_not_in_allow_list_is_refused(make_context):
    with pytest.raises(PermanentError, match=f"not listed in settings.{ALLOWED_COMMANDS}") as excinfo:
        run(make_context, "echo hi", allowed=["echo hello"])
    assert excinfo.value.error_type == "not_allowed"


def test_every_command_is_refused_by_default(make_context):
    with pytest.raises(PermanentError, match=ALLOWED_COMMANDS):
        ShellCommandExecutor().execute({"command": "true"}, make_context())


def test_runs_without_a_shell_and_captures_output(make_context, recorder):
    result = run(make_context, "echo hello $HOME; world")
    assert result == {"returncode": 0, "stdout": "hello $HOME; world\n", "stderr": ""}
    assert recorder.lines("info") == ["hello $HOME; world"]


def test_stdout_and_stderr_lines_are_logged_with_levels(make_context, recorder):
    result = run(make_context, "sh -c 'echo out; echo err >&2'")
    assert result["stdout"] == "out\n"
    assert result["stderr"] == "err\n"
    assert recorder.lines("info") == ["out"]
    assert recorder.lines("warning") == ["err"]


def test_cwd_and_env_are_applied(make_context):
    # cwd is confined to the attempt's own directory (which is also HOME); env names must be allowed
    command = "sh -c 'echo $ARBOR_TEST_VAR; pwd; echo $HOME'"
    executor = ShellCommandExecutor({ALLOWED_COMMANDS: [command], "ARBOR_SHELL_USER_ENV": ["ARBOR_TEST_VAR"]})
    result = executor.execute(
        {"command": command, "cwd": "sub/dir", "env": {"ARBOR_TEST_VAR": "x1"}}, make_context()
    )
    value, cwd, home = result["stdout"].splitlines()
    assert value == "x1"
    assert cwd == os.path.join(home, "sub", "dir")
    assert not os.path.exists(home)  # removed after the attempt


def test_non_zero_exit_is_a_retryable_error_with_output(make_context):
    with pytest.raises(ExecutorError, match="exited with status 3") as excinfo:
        run(make_context, "sh -c 'echo bad >&2; exit 3'")
    assert excinfo.value.permanent is False
    assert excinfo.value.error_type == "nonzero_exit"
    assert excinfo.value.details["returncode"] == 3
    assert excinfo.value.details["stderr"] == "bad\n"


@pytest.mark.parametrize(
    ("command", "inputs", "message"),
    [
        ("", {}, "inputs.command"),
        ("no-such-program-arbor-xyz", {}, "could not be started"),
        ("echo 'unbalanced", {}, "cannot be split"),
        ("true", {"cwd": 5}, "inputs.cwd"),
        ("true", {"cwd": "/no/such/dir/arbor"}, "inputs.cwd"),
        ("true", {"env": {"A": 1}}, "inputs.env"),
        ("true", {"timeout": -1}, "inputs.timeout"),
        ("true", {"timeout": "soon"}, "inputs.timeout"),
    ],
)
def test_invalid_inputs_are_permanent_errors(make_context, command, inputs, message):
    with pytest.raises(PermanentError, match=message):
        run(make_context, command, allowed=[command], **inputs)


def test_cancel_kills_the_process_group(make_context, run_in_thread, recorder):
    executor, _, runner, pgid = start(make_context, run_in_thread, recorder, SLEEP_30)
    assert executor.cancelable is True
    cancelled_at = time.monotonic()
    executor.cancel()
    runner.join(5)
    assert isinstance(runner.error, ExecutionCancelled)
    assert runner.finished_at - cancelled_at < 1.5
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert pgid not in active_process_groups()


def test_cancel_event_kills_grandchildren_too(make_context, run_in_thread, recorder):
    _, context, runner, pgid = start(make_context, run_in_thread, recorder, WITH_GRANDCHILD)
    context.cancel_event.set()
    runner.join(5)
    assert isinstance(runner.error, ExecutionCancelled)
    assert_group_killed(pgid)


def test_cancel_escalates_to_sigkill_when_sigterm_is_ignored(
    make_context, run_in_thread, recorder, monkeypatch
):
    monkeypatch.setattr(shell, "KILL_GRACE_SECONDS", 0.3)
    executor, _, runner, pgid = start(make_context, run_in_thread, recorder, IGNORE_TERM)
    executor.cancel()
    runner.join(5)
    assert isinstance(runner.error, ExecutionCancelled)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_timeout_kills_the_group_and_is_retryable(make_context):
    start_time = time.monotonic()
    with pytest.raises(ExecutorError, match="timed out after 0.3 s") as excinfo:
        run(make_context, SLEEP_30, timeout=0.3)
    assert excinfo.value.error_type == "timeout"
    assert excinfo.value.permanent is False
    assert time.monotonic() - start_time < 2
    assert active_process_groups() == []


def test_context_timeout_applies_without_an_input_timeout(make_context):
    executor = executor_for(SLEEP_30)
    with pytest.raises(ExecutorError, match="timed out"):
        executor.execute({"command": SLEEP_30}, make_context(timeout=0.3))


def test_processes_left_behind_by_the_command_are_killed(make_context):
    start_time = time.monotonic()
    result = run(make_context, LEAVES_CHILD)
    assert result["returncode"] == 0
    assert result["stdout"] == "started\n"
    assert time.monotonic() - start_time < 2
    assert active_process_groups() == []


def test_kill_active_process_groups_for_supervisors(make_context, run_in_thread, recorder):
    _, _, runner, pgid = start(make_context, run_in_thread, recorder, SLEEP_30)
    assert pgid in kill_active_process_groups()
    runner.join(5)
    assert isinstance(runner.error, ExecutorError)
    assert "terminated by signal" in runner.error.message
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def test_output_is_truncated_to_one_mebibyte(make_context, recorder, monkeypatch):
    monkeypatch.setattr(shell, "MAX_OUTPUT_BYTES", 10)
    result = run(make_context, "sh -c 'echo 0123456789abcdef; echo more; echo more'")
    assert result["stdout"] == "0123456789"
    assert result["stdout_truncated"] is True
    assert "stderr_truncated" not in result
    assert recorder.lines() == ["0123456789abcdef [output truncated]"]
