"""The environment and working directory of every process an executor starts.

A child process never inherits the worker's environment (it holds ``SECRET_KEY``,
``DATABASE_URL``...). It gets a minimal, explicit one built by ``child_env``: ``PATH``, ``LANG``,
``HOME``/``TMPDIR``/``PWD`` pointing into a fresh per-attempt directory, the names the operator
passes through (``ARBOR_SHELL_PASS_ENV``) and the names a task's ``inputs.env`` may set
(``ARBOR_SHELL_USER_ENV``). Names that change how a shell, the dynamic loader or an interpreter
behaves (``BASH_FUNC_*``, ``LD_*``, ``PYTHON*``...) are refused whatever the allow-lists say.

``attempt_dir`` creates the per-attempt directory and removes it afterwards; ``child_cwd``
confines a task's ``inputs.cwd`` to it. Nothing here modifies ``os.environ``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .base import PermanentError
from .config import SETTING_SHELL_PASS_ENV, SETTING_SHELL_USER_ENV

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_LANG = "C.UTF-8"
WORKDIR_PREFIX = "arbor-attempt-"

# Refused in every allow-list and in inputs.env: they make a shell, the dynamic loader or an
# interpreter run code or read files the command did not ask for.
DENIED_ENV_NAMES = frozenset(
    {
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
    }
)
DENIED_ENV_PREFIXES = ("BASH_FUNC_", "LD_", "DYLD_", "PYTHON", "GIT_")
# Set by the sandbox itself; inputs.env may not change them (PATH chooses the program that runs).
RESERVED_ENV_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "PWD"})
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

MSG_ENV = "inputs.env must be an object of string values"
MSG_ENV_DENIED = "environment variable {name!r} is never allowed (it can make the child run other code)"
MSG_ENV_SETTING_DENIED = (
    "settings.{setting} lists {name!r}, which is never allowed (it can make the child run other code)"
)
MSG_ENV_RESERVED = "environment variable {name!r} is set by Arbor's sandbox and cannot be set in inputs.env"
MSG_ENV_NOT_ALLOWED = (
    "environment variable {name!r} is not listed in settings."
    + SETTING_SHELL_USER_ENV
    + " (the names inputs.env may set)"
)
MSG_CWD = "inputs.cwd must be a string"
MSG_CWD_ESCAPES = (
    "inputs.cwd {cwd!r} must be a relative path inside the attempt's working directory "
    "(no absolute path, no '..')"
)
MSG_CWD_SYMLINK = "inputs.cwd {cwd!r} leaves the attempt's working directory"


def env_name_denied(name: str) -> bool:
    """Return True if ``name`` may never be set in a child's environment."""
    upper = name.upper()
    return upper in DENIED_ENV_NAMES or upper.startswith(DENIED_ENV_PREFIXES) or not _VALID_NAME.match(name)


def check_env_settings(config: Mapping[str, Any]) -> list[str]:
    """Return one message per denied name in the pass-through or user allow-lists of ``config``."""
    errors = []
    for setting in (SETTING_SHELL_PASS_ENV, SETTING_SHELL_USER_ENV):
        for name in config.get(setting) or ():
            if env_name_denied(str(name)):
                errors.append(MSG_ENV_SETTING_DENIED.format(setting=setting, name=name))
            elif setting == SETTING_SHELL_USER_ENV and str(name).upper() in RESERVED_ENV_NAMES:
                errors.append(f"settings.{setting} lists {name!r}, which Arbor's sandbox sets itself")
    return errors


def check_user_env(value: object, config: Mapping[str, Any]) -> dict[str, str]:
    """Return ``inputs.env`` as a dict once every name is allowed; raise PermanentError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PermanentError(MSG_ENV)
    allowed = {str(name) for name in config.get(SETTING_SHELL_USER_ENV) or ()}
    for name in value:
        if env_name_denied(name):
            raise PermanentError(MSG_ENV_DENIED.format(name=name), error_type="not_allowed")
        if name.upper() in RESERVED_ENV_NAMES:
            raise PermanentError(MSG_ENV_RESERVED.format(name=name), error_type="not_allowed")
        if name not in allowed:
            raise PermanentError(MSG_ENV_NOT_ALLOWED.format(name=name), error_type="not_allowed")
    return dict(value)


def child_env(
    workdir: str,
    cwd: str,
    user_env: Mapping[str, str],
    config: Mapping[str, Any],
    parent_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Build the complete environment of a child process started for one attempt.

    ``parent_env`` (default ``os.environ``, only read) supplies the names listed in
    ``ARBOR_SHELL_PASS_ENV``; ``user_env`` must come from ``check_user_env``.
    """
    errors = check_env_settings(config)
    if errors:
        raise PermanentError(errors[0], error_type="not_allowed")
    parent = os.environ if parent_env is None else parent_env
    env = {"PATH": DEFAULT_PATH, "LANG": DEFAULT_LANG}
    for name in config.get(SETTING_SHELL_PASS_ENV) or ():
        if name in parent:
            env[name] = parent[name]
    env.update(user_env)
    env.update({"HOME": workdir, "TMPDIR": workdir, "PWD": cwd})
    return env


def check_cwd(value: object) -> None:
    """Raise PermanentError unless ``inputs.cwd`` is empty or a plain relative path without ``..``."""
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise PermanentError(MSG_CWD)
    parts = value.replace("\\", "/").split("/")
    if os.path.isabs(value) or value.startswith("~") or ".." in parts or "\0" in value:
        raise PermanentError(MSG_CWD_ESCAPES.format(cwd=value), error_type="not_allowed")


def child_cwd(workdir: str, value: object) -> str:
    """Return the directory to run in: ``workdir`` or a relative ``inputs.cwd`` created inside it."""
    check_cwd(value)
    if value is None or value == "":
        return workdir
    assert isinstance(value, str)
    root = os.path.realpath(workdir)
    path = os.path.join(root, value)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise PermanentError(f"inputs.cwd {value!r} cannot be created: {exc.strerror}") from None
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise PermanentError(MSG_CWD_SYMLINK.format(cwd=value), error_type="not_allowed")
    return real


@contextlib.contextmanager
def attempt_dir() -> Iterator[str]:
    """Create a private (0700) directory for one attempt; remove it, whatever is left in it, on exit."""
    path = os.path.realpath(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    try:
        yield path
    finally:
        remove_tree(path)


def remove_tree(path: str) -> None:
    """Remove ``path``, also when the child made parts of it read-only."""

    def _retry(func: Callable[[str], object], failed_path: str, _exc_info: object) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(failed_path)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            if not os.path.islink(failed_path) and os.path.isdir(failed_path):
                os.chmod(failed_path, stat.S_IRWXU)
            func(failed_path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=_retry)
    else:
        shutil.rmtree(path, onerror=_retry)
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)
