"""``shell_command``: run one allow-listed command line in its own process group.

The command string must appear verbatim in ``ARBOR_SHELL_ALLOWED_COMMANDS``. It is split with
``shlex`` and run without a shell, in a fresh per-attempt directory (its HOME, TMPDIR and cwd,
removed afterwards) with the minimal environment of ``sandbox.child_env``, never the worker's.
Every process group started here is recorded until it is gone, so a supervisor can kill leftovers
with ``kill_active_process_groups()`` on a hard timeout.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from . import sandbox
from .base import CancelableExecutor, ExecutionCancelled, ExecutionContext, ExecutorError, PermanentError
from .config import SETTING_SHELL_ALLOWED_COMMANDS

MAX_OUTPUT_BYTES = 1024 * 1024  # per stream
MAX_LINE_BYTES = 64 * 1024  # longer lines are logged in pieces
ERROR_DETAIL_CHARS = 4096
KILL_GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL
POLL_SECONDS = 0.05

MSG_COMMAND_REQUIRED = "inputs.command must be a non-empty string"
MSG_COMMAND_NOT_ALLOWED = "command {command!r} is not listed in settings." + SETTING_SHELL_ALLOWED_COMMANDS
MSG_COMMAND_UNPARSABLE = "command {command!r} cannot be split into arguments: {error}"
MSG_TIMEOUT = "inputs.timeout must be a positive number of seconds"
MSG_START_FAILED = "command {command!r} could not be started: {error}"
MSG_TIMED_OUT = "command {command!r} timed out after {seconds:g} s"
MSG_EXIT_STATUS = "command {command!r} exited with status {returncode}"
MSG_EXIT_SIGNAL = "command {command!r} was terminated by signal {signal}"

_active_lock = threading.Lock()
_active: dict[int, subprocess.Popen[bytes]] = {}


def active_process_groups() -> list[int]:
    """Return the ids of process groups started by shell_command that may still be running."""
    with _active_lock:
        return sorted(_active)


def kill_active_process_groups(grace: float | None = None) -> list[int]:
    """Kill every recorded process group (SIGTERM, then SIGKILL after ``grace``); return their ids."""
    with _active_lock:
        groups = dict(_active)
    for pgid, process in groups.items():
        kill_process_group(pgid, grace=grace, process=process)
    return sorted(groups)


def kill_process_group(
    pgid: int, *, grace: float | None = None, process: subprocess.Popen[bytes] | None = None
) -> bool:
    """Send SIGTERM to the group, SIGKILL after ``grace`` seconds; return True once it is gone.

    ``process`` (the group leader, if it is a child of this process) is reaped on the way, so the
    group id disappears as soon as every member has exited.
    """
    grace = KILL_GRACE_SECONDS if grace is None else grace
    if not _signal_group(pgid, signal.SIGTERM):
        _reap(process)
        return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(process)
        if not group_alive(pgid):
            return True
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        _reap(process)
        if not group_alive(pgid):
            return True
        time.sleep(0.01)
    return False


def group_alive(pgid: int) -> bool:
    """Return True if the group has a member that is not a zombie."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Orphaned members that already exited stay zombies until their new parent reaps them, which
    # some container init processes never do; they no longer run, so they do not count.
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _reap(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        process.poll()


class ShellCommandExecutor(CancelableExecutor):
    """Run an allow-listed command; the result is ``{returncode, stdout, stderr}``.

    Output lines are sent to ``context.log`` from the executing thread (stdout as "info", stderr
    as "warning"). A non-zero exit raises ExecutorError. Cancel and timeout kill the whole
    process group; processes left behind by a command that exited are killed too.
    """

    demo_result = {"demo": True, "returncode": 0, "stdout": "demo output\n", "stderr": ""}
    id = "shell_command"
    permission = "use_shell_command"
    name = "Shell command"
    description = "Runs a command listed in settings.ARBOR_SHELL_ALLOWED_COMMANDS (no shell)."
    input_schema = {
        "type": "object",
        "required": ["command"],
        "properties": {
            "command": {"type": "string", "description": "Exactly as listed in the allow-list"},
            "cwd": {"type": "string", "description": "Relative path inside the attempt's own directory"},
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Only names listed in settings.ARBOR_SHELL_USER_ENV",
            },
            "timeout": {"type": "number", "exclusiveMinimum": 0},
        },
    }

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def check_inputs(cls, inputs: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
        problems = []
        for check in (
            lambda: sandbox.check_user_env(inputs.get("env"), config),
            lambda: sandbox.check_cwd(inputs.get("cwd")),
        ):
            try:
                check()
            except PermanentError as exc:
                problems.append(exc.message)
        return problems

    def execute(self, inputs: dict[str, Any], context: ExecutionContext) -> dict[str, Any]:
        self.bind(context)
        command = inputs.get("command")
        if not isinstance(command, str) or not command.strip():
            raise PermanentError(MSG_COMMAND_REQUIRED)
        allowed = self.config.get(SETTING_SHELL_ALLOWED_COMMANDS) or ()
        if command not in allowed:
            raise PermanentError(MSG_COMMAND_NOT_ALLOWED.format(command=command), error_type="not_allowed")
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise PermanentError(MSG_COMMAND_UNPARSABLE.format(command=command, error=exc)) from None
        user_env = sandbox.check_user_env(inputs.get("env"), self.config)
        timeout = _timeout(inputs.get("timeout"), context)

        context.check_cancelled()
        with sandbox.attempt_dir() as workdir:
            cwd = sandbox.child_cwd(workdir, inputs.get("cwd"))
            env = sandbox.child_env(workdir, cwd, user_env, self.config)
            return self._run(command, argv, cwd, env, context, timeout)

    def _run(
        self,
        command: str,
        argv: list[str],
        cwd: str,
        env: dict[str, str],
        context: ExecutionContext,
        timeout: float | None,
    ) -> dict[str, Any]:
        try:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise PermanentError(MSG_START_FAILED.format(command=command, error=exc)) from None
        pgid = process.pid  # start_new_session: the child leads a new group with its own pid
        with _active_lock:
            _active[pgid] = process
        with self._lock:
            self._process = process
        try:
            return self._supervise(command, process, pgid, context, timeout)
        finally:
            if process.poll() is None or group_alive(pgid):
                kill_process_group(pgid, process=process)
            with self._lock:
                self._process = None
            with _active_lock:
                _active.pop(pgid, None)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    def cancel(self) -> None:
        """Send SIGTERM to the process group now; ``execute`` escalates to SIGKILL after the grace.

        Does not block, so a supervisor calling it keeps its own heartbeat going.
        """
        super().cancel()
        with self._lock:
            process = self._process
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)

    def _supervise(
        self,
        command: str,
        process: subprocess.Popen[bytes],
        pgid: int,
        context: ExecutionContext,
        timeout: float | None,
    ) -> dict[str, Any]:
        lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
        outputs = {"stdout": _Capture(), "stderr": _Capture()}
        readers = [
            threading.Thread(
                target=_read_lines, args=(getattr(process, name), name, outputs[name], lines), daemon=True
            )
            for name in ("stdout", "stderr")
        ]
        for reader in readers:
            reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        open_streams = len(readers)
        while process.poll() is None or open_streams:
            try:
                item = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                item = ("", "")
            if item is None:
                open_streams -= 1
            elif item[1]:
                context.log(item[1], "warning" if item[0] == "stderr" else "info")
            if context.cancelled:
                kill_process_group(pgid, process=process)
                raise ExecutionCancelled()
            if deadline is not None and time.monotonic() >= deadline:
                kill_process_group(pgid, process=process)
                raise ExecutorError(
                    MSG_TIMED_OUT.format(command=command, seconds=timeout), error_type="timeout"
                )
            if process.returncode is not None and open_streams and group_alive(pgid):
                # The command exited but left processes holding its output open: end them.
                kill_process_group(pgid, process=process)
        if context.cancelled:  # cancel() may have ended the command before the loop saw the flag
            raise ExecutionCancelled()
        returncode = process.returncode
        stdout, stderr = outputs["stdout"].text(), outputs["stderr"].text()
        if returncode != 0:
            details = {
                "returncode": returncode,
                "stdout": stdout[-ERROR_DETAIL_CHARS:],
                "stderr": stderr[-ERROR_DETAIL_CHARS:],
            }
            if returncode < 0:
                message = MSG_EXIT_SIGNAL.format(command=command, signal=-returncode)
            else:
                message = MSG_EXIT_STATUS.format(command=command, returncode=returncode)
            raise ExecutorError(message, error_type="nonzero_exit", details=details)
        result: dict[str, Any] = {"returncode": returncode, "stdout": stdout, "stderr": stderr}
        for name, capture in outputs.items():
            if capture.truncated:
                result[f"{name}_truncated"] = True
        return result


class _Capture:
    """Keeps the first MAX_OUTPUT_BYTES of a stream."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = MAX_OUTPUT_BYTES - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _read_lines(
    stream: IO[bytes], name: str, capture: _Capture, lines: queue.Queue[tuple[str, str] | None]
) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
            if capture.truncated:
                continue  # keep draining the pipe, but hold and log no more than MAX_OUTPUT_BYTES
            capture.add(raw)
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            lines.put((name, text + (" [output truncated]" if capture.truncated else "")))
    lines.put(None)


def _timeout(value: object, context: ExecutionContext) -> float | None:
    timeout: float | None = None
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise PermanentError(MSG_TIMEOUT)
        timeout = float(value)
    remaining = context.time_remaining()
    if remaining is not None:
        timeout = remaining if timeout is None else min(timeout, remaining)
    return timeout
