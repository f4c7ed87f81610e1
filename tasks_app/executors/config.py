"""Setting names the executors understand, and the one place that reads them (through ``tasks_app.conf``).

Executors receive these values in their ``config`` mapping (built by the registry); they never
read settings themselves, so they can be constructed and tested without Django.
"""

from __future__ import annotations

from typing import Any

from tasks_app import conf

SETTING_EXECUTORS = "ARBOR_EXECUTORS"
SETTING_HTTP_ALLOWED_HOSTS = "ARBOR_HTTP_ALLOWED_HOSTS"
SETTING_SHELL_ALLOWED_COMMANDS = "ARBOR_SHELL_ALLOWED_COMMANDS"
SETTING_SHELL_PASS_ENV = "ARBOR_SHELL_PASS_ENV"  # names copied from the worker's environment to a child
SETTING_SHELL_USER_ENV = "ARBOR_SHELL_USER_ENV"  # names a task's inputs.env may set
SETTING_PYTHON_FUNCTIONS = "ARBOR_PYTHON_FUNCTIONS"

# Allow-list settings copied into every executor's config; all default to "nothing allowed".
ALLOW_LIST_SETTINGS = (
    SETTING_HTTP_ALLOWED_HOSTS,
    SETTING_SHELL_ALLOWED_COMMANDS,
    SETTING_SHELL_PASS_ENV,
    SETTING_SHELL_USER_ENV,
    SETTING_PYTHON_FUNCTIONS,
)


def default_config() -> dict[str, Any]:
    """Return the allow-lists from settings, as lists (empty when unset)."""
    config: dict[str, Any] = {}
    for name in ALLOW_LIST_SETTINGS:
        value = conf.get(name)
        config[name] = list(value) if isinstance(value, (list, tuple, set, frozenset)) else []
    return config
