"""The table of executors: id -> dotted path, imported lazily.

Ids come from code (``BUILTIN_EXECUTORS``) and from ``settings.ARBOR_EXECUTORS``; a task can
only name an id from this table, so user input never chooses what gets imported. apflow ids
are accepted through ``ALIASES``. ``check_registry()`` backs a Django system check.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tasks_app import conf, outbound
from tasks_app.exceptions import UnknownExecutor

from . import config as _config
from . import sandbox
from .base import Executor

BUILTIN_EXECUTORS: dict[str, str] = {
    "noop": "tasks_app.executors.builtin.NoopExecutor",
    "echo": "tasks_app.executors.builtin.EchoExecutor",
    "sleep": "tasks_app.executors.builtin.SleepExecutor",
    "fail": "tasks_app.executors.builtin.FailExecutor",
    "aggregate_results": "tasks_app.executors.builtin.AggregateResultsExecutor",
    # apflow's id, with apflow's result shape ({summary, timestamp, results, result_count})
    "aggregate_results_executor": "tasks_app.executors.builtin.ApflowAggregateResultsExecutor",
    "system_info": "tasks_app.executors.builtin.SystemInfoExecutor",
    "python_function": "tasks_app.executors.builtin.PythonFunctionExecutor",
    "http_request": "tasks_app.executors.http.HttpRequestExecutor",
    "shell_command": "tasks_app.executors.shell.ShellCommandExecutor",
}

# apflow executor ids -> Arbor ids (``aggregate_results_executor`` is a built-in of its own).
ALIASES: dict[str, str] = {
    "system_info_executor": "system_info",
    "command_executor": "shell_command",
    "rest_executor": "http_request",
}

# apflow's other built-in executor ids (0.18): none is served; each names what to use instead.
APFLOW_UNSUPPORTED: dict[str, str] = {
    "websocket_executor": (
        "a custom executor (settings.ARBOR_EXECUTORS), or http_request for a request/response API"
    ),
    "grpc_executor": "a custom executor (settings.ARBOR_EXECUTORS) with your generated stubs",
    "mcp_executor": (
        "a custom executor (settings.ARBOR_EXECUTORS), or http_request against an MCP HTTP endpoint"
    ),
    "ssh_executor": "shell_command running ssh (if your allow-list permits it), or a custom executor",
    "docker_executor": "shell_command running docker (if your allow-list permits it), or a custom executor",
    "scrape_executor": "http_request (fetches the page; parse it in a following task)",
    "llm_executor": "http_request to your LLM provider's API, or a custom executor",
    "crewai_executor": "a custom executor (settings.ARBOR_EXECUTORS) wrapping your crew",
    "batch_crewai_executor": (
        "one task per crew (a custom executor) under an aggregate_results_executor parent"
    ),
    "generate_executor": "none: Arbor does not generate trees from text; write the task array",
    "send_email_executor": "http_request to your mail provider's API, or a custom executor",
    "apflow_api_executor": "http_request to the other server's POST /tasks (tasks.execute with wait: true)",
}

# a task param: true makes a run return the executor's demo result (apflow's use_demo)
DEMO_PARAM = "use_demo"

MSG_UNKNOWN = "unknown executor {executor_id!r}"
MSG_APFLOW_UNSUPPORTED = "apflow executor {executor_id!r} is not available in Arbor; use {instead}"


def unknown_message(executor_id: str) -> str:
    """Why ``executor_id`` is refused, naming the replacement for apflow's ids."""
    instead = APFLOW_UNSUPPORTED.get(executor_id)
    if instead:
        return MSG_APFLOW_UNSUPPORTED.format(executor_id=executor_id, instead=instead)
    return MSG_UNKNOWN.format(executor_id=executor_id)


def known_ids() -> list[str]:
    return sorted(registered())


def demo_result(executor_id: str) -> object:
    """The demo result ``executor_id``'s class declares (``demo_result``), or None (no demo: it runs)."""
    try:
        cls = get_executor_class(executor_id)
    except UnknownExecutor:
        return None
    demo = getattr(cls, "demo_result", None)
    return demo() if callable(demo) else demo


MSG_NOT_IMPORTABLE = "executor {executor_id!r}: {path!r} cannot be imported: {error}"
MSG_NOT_SUBCLASS = "executor {executor_id!r}: {path!r} is not a subclass of tasks_app.executors.Executor"
MSG_MISSING_ATTR = "executor {executor_id!r}: {path!r} does not set {attr!r}"
MSG_BAD_TABLE = "settings." + _config.SETTING_EXECUTORS + " must be a dict of executor id -> dotted path"
MSG_BAD_ENTRY = (
    "settings." + _config.SETTING_EXECUTORS + " entry {executor_id!r}: the path must be a dotted string"
)
MSG_BAD_ALLOW_LIST = "settings.{name} must be a list of strings"


def registered() -> dict[str, str]:
    """Return the executor table: the built-ins updated with ``settings.ARBOR_EXECUTORS``."""
    table = dict(BUILTIN_EXECUTORS)
    extra = conf.get(_config.SETTING_EXECUTORS)
    if isinstance(extra, Mapping):
        table.update({str(k): v for k, v in extra.items() if isinstance(v, str)})
    return table


def resolve_id(executor_id: str) -> str:
    """Return the registered id for ``executor_id`` (an id or an apflow alias), unchanged if unknown."""
    return _resolve(executor_id, registered())


def get_executor_class(executor_id: str) -> type[Executor]:
    """Return the executor class registered as ``executor_id`` (aliases accepted).

    Raise UnknownExecutor if the id is not registered or its path does not import to an
    Executor subclass.
    """
    table = registered()
    key = _resolve(executor_id, table)
    path = table.get(key)
    if path is None:
        raise UnknownExecutor(
            unknown_message(executor_id),
            details={"executor": executor_id, "available": sorted(table)},
        )
    cls, error = _load(key, path)
    if cls is None:
        raise UnknownExecutor(error, details={"executor": executor_id, "path": path})
    return cls


def get_executor(executor_id: str, config: Mapping[str, Any] | None = None) -> Executor:
    """Return a new instance for one attempt; ``config`` defaults to the allow-lists from settings."""
    cls = get_executor_class(executor_id)
    return cls(config=_config.default_config() if config is None else config)


def required_permission(executor_id: str) -> str | None:
    """The ``tasks_app`` permission codename that ``executor_id`` needs (its class's
    ``permission``), or None. Unknown or unimportable ids need none here: they are refused
    elsewhere as unknown executors."""
    table = registered()
    key = _resolve(executor_id, table)
    path = table.get(key)
    if path is None:
        return None
    cls, _ = _load(key, path)
    return getattr(cls, "permission", None) if cls is not None else None


def executor_choices() -> list[tuple[str, str]]:
    """Return ``(id, name)`` pairs sorted by id, skipping entries that do not import."""
    return [(item["id"], item["name"]) for item in describe_all()]


def describe_all() -> list[dict[str, Any]]:
    """Return ``{id, name, description, input_schema, cancelable, permission}`` per importable executor,
    by id (``permission``: the full Django permission name the executor needs, or None)."""
    described = []
    for executor_id, path in sorted(registered().items()):
        cls, _ = _load(executor_id, path)
        if cls is None:
            continue
        described.append(
            {
                "id": executor_id,
                "name": cls.name,
                "description": cls.description,
                "input_schema": cls.input_schema,
                "cancelable": cls.cancelable,
                "permission": f"tasks_app.{cls.permission}" if cls.permission else None,
            }
        )
    return described


def check_inputs(executor_id: str, inputs: object) -> list[str]:
    """Return the problems the executor finds in a task's own ``inputs`` (see Executor.check_inputs)."""
    if not isinstance(inputs, Mapping) or not inputs:
        return []
    try:
        cls = get_executor_class(executor_id)
    except UnknownExecutor:
        return []
    return list(cls.check_inputs(inputs, _config.default_config()))


def check_registry() -> list[str]:
    """Return one message per misconfiguration: bad ARBOR_EXECUTORS entries or allow-lists."""
    errors: list[str] = []
    extra = conf.get(_config.SETTING_EXECUTORS)
    if extra is not None and not isinstance(extra, Mapping):
        errors.append(MSG_BAD_TABLE)
    elif extra:
        errors.extend(
            MSG_BAD_ENTRY.format(executor_id=k) for k, v in extra.items() if not isinstance(v, str) or not v
        )
    for executor_id, path in sorted(registered().items()):
        _, error = _load(executor_id, path)
        if error:
            errors.append(error)
    for name in _config.ALLOW_LIST_SETTINGS:
        value = conf.get(name)
        if value is not None and (
            not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in value)
        ):
            errors.append(MSG_BAD_ALLOW_LIST.format(name=name))
    config = _config.default_config()
    errors.extend(
        outbound.check_allow_list(
            config[_config.SETTING_HTTP_ALLOWED_HOSTS], _config.SETTING_HTTP_ALLOWED_HOSTS
        )
    )
    errors.extend(sandbox.check_env_settings(config))
    return errors


def _resolve(executor_id: str, table: Mapping[str, str]) -> str:
    if executor_id not in table and executor_id in ALIASES:
        return ALIASES[executor_id]
    return executor_id


def _load(executor_id: str, path: str) -> tuple[type[Executor] | None, str]:
    """Import ``path``; return ``(class, "")`` or ``(None, error message)``."""
    module_path, _, attr = path.rpartition(".")
    try:
        if not module_path:
            raise ImportError("not a dotted path")
        obj = getattr(importlib.import_module(module_path), attr)
    except Exception as exc:
        return None, MSG_NOT_IMPORTABLE.format(executor_id=executor_id, path=path, error=exc)
    if not (isinstance(obj, type) and issubclass(obj, Executor)):
        return None, MSG_NOT_SUBCLASS.format(executor_id=executor_id, path=path)
    for attr_name in ("id", "name"):
        if not isinstance(getattr(obj, attr_name, None), str):
            return None, MSG_MISSING_ATTR.format(executor_id=executor_id, path=path, attr=attr_name)
    return obj, ""
