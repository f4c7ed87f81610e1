import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks_app.exceptions import UnknownExecutor, ValidationError
from tasks_app.executors import (
    ALIASES,
    BUILTIN_EXECUTORS,
    Executor,
    check_registry,
    describe_all,
    executor_choices,
    get_executor,
    get_executor_class,
    registered,
    resolve_id,
)
from tasks_app.executors.builtin import EchoExecutor, PythonFunctionExecutor
from tasks_app.executors.config import ALLOW_LIST_SETTINGS, default_config

EXECUTORS_DIR = Path(__file__).resolve().parents[2] / "tasks_app" / "executors"


class CustomExecutor(Executor):
    id = "custom"
    name = "Custom"
    description = "A test executor"
    input_schema = {"type": "object", "properties": {"x": {"type": "integer"}}}

    def execute(self, inputs, context):
        return {"x": inputs.get("x")}


class NamelessExecutor(Executor):
    def execute(self, inputs, context):
        return None


NOT_A_CLASS = object()


def test_builtin_ids_are_exactly_the_documented_ones():
    assert set(BUILTIN_EXECUTORS) == {
        "noop",
        "echo",
        "sleep",
        "fail",
        "aggregate_results",
        "aggregate_results_executor",  # apflow's id, with apflow's result shape
        "system_info",
        "http_request",
        "shell_command",
        "python_function",
    }


@pytest.mark.parametrize("executor_id", sorted(BUILTIN_EXECUTORS))
def test_every_builtin_imports_and_declares_its_own_id(fake_settings, executor_id):
    cls = get_executor_class(executor_id)
    assert issubclass(cls, Executor)
    assert cls.id == executor_id
    assert cls.name
    assert cls.input_schema["type"] == "object"
    json.dumps(cls.input_schema)


def test_unknown_id_raises_unknown_executor(fake_settings):
    with pytest.raises(UnknownExecutor, match="unknown executor 'nope'") as excinfo:
        get_executor_class("nope")
    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.code == "executor_not_found"
    assert excinfo.value.details["executor"] == "nope"
    assert "noop" in excinfo.value.details["available"]
    with pytest.raises(UnknownExecutor):
        get_executor("nope", config={})


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_apflow_aliases_resolve_to_builtins(fake_settings, alias, target):
    assert resolve_id(alias) == target
    assert get_executor_class(alias) is get_executor_class(target)


def test_resolve_id_keeps_unknown_and_registered_ids(fake_settings):
    assert resolve_id("echo") == "echo"
    assert resolve_id("whatever") == "whatever"


def test_get_executor_returns_a_new_instance_with_the_given_config(fake_settings):
    config = {"ARBOR_PYTHON_FUNCTIONS": ["json.dumps"]}
    first = get_executor("python_function", config=config)
    second = get_executor("python_function", config=config)
    assert isinstance(first, PythonFunctionExecutor)
    assert first is not second
    assert first.config == config


def test_get_executor_default_config_reads_the_allow_list_settings(fake_settings):
    fake_settings["ARBOR_HTTP_ALLOWED_HOSTS"] = ("api.example.com",)
    fake_settings["ARBOR_SHELL_ALLOWED_COMMANDS"] = ["true"]
    executor = get_executor("http_request")
    assert executor.config == {
        "ARBOR_HTTP_ALLOWED_HOSTS": ["api.example.com"],
        "ARBOR_SHELL_ALLOWED_COMMANDS": ["true"],
        "ARBOR_SHELL_PASS_ENV": [],
        "ARBOR_SHELL_USER_ENV": [],
        "ARBOR_PYTHON_FUNCTIONS": [],
    }


def test_default_config_is_empty_without_django_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = "from tasks_app.executors.config import default_config; print(default_config())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=EXECUTORS_DIR.parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(dict.fromkeys(ALLOW_LIST_SETTINGS, []))


def test_default_config_ignores_allow_lists_that_are_not_lists(fake_settings):
    fake_settings["ARBOR_HTTP_ALLOWED_HOSTS"] = "example.com"
    assert default_config()["ARBOR_HTTP_ALLOWED_HOSTS"] == []


def test_settings_add_and_override_executors(fake_settings):
    fake_settings["ARBOR_EXECUTORS"] = {
        "custom": f"{__name__}.CustomExecutor",
        "echo": f"{__name__}.CustomExecutor",
    }
    table = registered()
    assert table["custom"] == f"{__name__}.CustomExecutor"
    assert table["noop"] == BUILTIN_EXECUTORS["noop"]
    assert get_executor_class("custom") is CustomExecutor
    assert get_executor_class("echo") is CustomExecutor
    assert BUILTIN_EXECUTORS["echo"] == "tasks_app.executors.builtin.EchoExecutor"


def test_builtins_are_used_when_settings_add_nothing(fake_settings):
    assert registered() == BUILTIN_EXECUTORS
    assert get_executor_class("echo") is EchoExecutor


def test_describe_all_lists_every_executor_sorted_by_id(fake_settings):
    fake_settings["ARBOR_EXECUTORS"] = {"custom": f"{__name__}.CustomExecutor"}
    described = describe_all()
    ids = [item["id"] for item in described]
    assert ids == sorted(set(BUILTIN_EXECUTORS) | {"custom"})
    custom = described[ids.index("custom")]
    assert custom == {
        "id": "custom",
        "name": "Custom",
        "description": "A test executor",
        "input_schema": CustomExecutor.input_schema,
        "cancelable": False,
        "permission": None,
    }
    cancelable = {item["id"] for item in described if item["cancelable"]}
    assert cancelable == {"sleep", "http_request", "shell_command"}
    json.dumps(described)


def test_executor_choices_are_id_name_pairs(fake_settings):
    choices = executor_choices()
    assert ("noop", "No-op") in choices
    assert [c[0] for c in choices] == sorted(BUILTIN_EXECUTORS)


def test_check_registry_is_clean_for_the_builtins(fake_settings):
    assert check_registry() == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_arbor.Thing", "cannot be imported"),
        (f"{__name__}.Missing", "cannot be imported"),
        ("nodots", "cannot be imported"),
        (f"{__name__}.NOT_A_CLASS", "is not a subclass of tasks_app.executors.Executor"),
        ("json.JSONDecoder", "is not a subclass"),
        (f"{__name__}.NamelessExecutor", "does not set 'id'"),
    ],
)
def test_check_registry_reports_bad_paths(fake_settings, path, message):
    fake_settings["ARBOR_EXECUTORS"] = {"broken": path}
    errors = check_registry()
    assert len(errors) == 1
    assert errors[0].startswith(f"executor 'broken': {path!r}")
    assert message in errors[0]
    # A broken entry is unknown to the worker and hidden from the UI, not a crash.
    with pytest.raises(UnknownExecutor, match=message):
        get_executor_class("broken")
    assert "broken" not in [item["id"] for item in describe_all()]


def test_check_registry_reports_malformed_settings(fake_settings):
    fake_settings["ARBOR_EXECUTORS"] = ["not", "a", "dict"]
    fake_settings["ARBOR_SHELL_ALLOWED_COMMANDS"] = "true"
    fake_settings["ARBOR_PYTHON_FUNCTIONS"] = ["ok.path", 3]
    assert check_registry() == [
        "settings.ARBOR_EXECUTORS must be a dict of executor id -> dotted path",
        "settings.ARBOR_SHELL_ALLOWED_COMMANDS must be a list of strings",
        "settings.ARBOR_PYTHON_FUNCTIONS must be a list of strings",
    ]


def test_check_registry_reports_denied_environment_names(fake_settings):
    fake_settings["ARBOR_SHELL_PASS_ENV"] = ["LANG", "LD_PRELOAD"]
    fake_settings["ARBOR_SHELL_USER_ENV"] = ["BASH_FUNC_echo%%", "PATH", "MY_VAR"]
    errors = check_registry()
    assert len(errors) == 3
    assert "settings.ARBOR_SHELL_PASS_ENV lists 'LD_PRELOAD', which is never allowed" in errors[0]
    assert "settings.ARBOR_SHELL_USER_ENV lists 'BASH_FUNC_echo%%', which is never allowed" in errors[1]
    assert "'PATH'" in errors[2]


def test_check_registry_reports_non_string_paths(fake_settings):
    fake_settings["ARBOR_EXECUTORS"] = {"custom": CustomExecutor}
    assert check_registry() == [
        "settings.ARBOR_EXECUTORS entry 'custom': the path must be a dotted string",
    ]


FORBIDDEN_IMPORTS = ("django.db", "tasks_app.models", "tasks_app.services", "tasks_app.selectors")


@pytest.mark.parametrize("module", sorted(p.name for p in EXECUTORS_DIR.glob("*.py")))
def test_executors_never_import_the_database_layer(module):
    tree = ast.parse((EXECUTORS_DIR / module).read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    bad = [name for name in imported if name.startswith(FORBIDDEN_IMPORTS)]
    assert bad == []


def test_settings_are_read_from_django_when_configured(request):
    if not request.config.pluginmanager.hasplugin("django"):
        pytest.skip("needs pytest-django")
    settings = request.getfixturevalue("settings")
    settings.ARBOR_HTTP_ALLOWED_HOSTS = ["api.example.com"]
    settings.ARBOR_EXECUTORS = {"custom": f"{__name__}.CustomExecutor"}
    assert default_config()["ARBOR_HTTP_ALLOWED_HOSTS"] == ["api.example.com"]
    assert get_executor("http_request").config["ARBOR_HTTP_ALLOWED_HOSTS"] == ["api.example.com"]
    assert get_executor_class("custom") is CustomExecutor
    assert check_registry() == []
