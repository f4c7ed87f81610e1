import ast
import pathlib

import pytest

from tasks_app import exceptions
from tasks_app.exceptions import (
    AlreadyRunning,
    ArchivedTask,
    CannotDelete,
    DependencyCycle,
    InvalidReference,
    InvalidTransition,
    LimitExceeded,
    NotFound,
    OrchestratorError,
    TreeValidationError,
    UnknownExecutor,
    ValidationError,
)

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "tasks_app" / "engine"


@pytest.mark.parametrize(
    ("cls", "code", "base"),
    [
        (OrchestratorError, "error", Exception),
        (ValidationError, "validation", OrchestratorError),
        (TreeValidationError, "tree_validation", ValidationError),
        (DependencyCycle, "circular_dependency", TreeValidationError),
        (InvalidReference, "invalid_reference", TreeValidationError),
        (InvalidTransition, "invalid_transition", OrchestratorError),
        (UnknownExecutor, "executor_not_found", ValidationError),
        (NotFound, "not_found", OrchestratorError),
        (AlreadyRunning, "already_executing", OrchestratorError),
        (CannotDelete, "cannot_delete", OrchestratorError),
        (ArchivedTask, "archived", OrchestratorError),
        (LimitExceeded, "limit_exceeded", ValidationError),
    ],
)
def test_codes_and_hierarchy(cls, code, base):
    assert cls.code == code
    assert issubclass(cls, base)


def test_base_error_carries_message_and_details():
    error = OrchestratorError("boom", details={"id": "x"})
    assert error.message == "boom"
    assert str(error) == "boom"
    assert error.details == {"id": "x"}
    assert repr(error) == "OrchestratorError('boom')"
    assert OrchestratorError("plain").details == {}


def test_tree_validation_error_joins_errors():
    error = TreeValidationError(["one", "two"], details={"extra": 1})
    assert error.errors == ["one", "two"]
    assert error.message == "one; two"
    assert error.details == {"errors": ["one", "two"], "extra": 1}
    assert TreeValidationError("single").errors == ["single"]


def test_dependency_cycle_names_the_path():
    error = DependencyCycle(["a", "b", "a"])
    assert error.cycle == ["a", "b", "a"]
    assert error.message == "circular dependency: a -> b -> a"
    assert error.details["cycle"] == ["a", "b", "a"]
    custom = DependencyCycle(["a", "a"], errors=["task 'a' depends on itself"])
    assert custom.message == "task 'a' depends on itself"


def test_limit_exceeded_names_the_limit():
    error = LimitExceeded("too many", limit="max_tasks")
    assert error.limit == "max_tasks"
    assert error.details == {"limit": "max_tasks"}
    assert LimitExceeded("x", details={"limit": "max_depth"}).limit == "max_depth"
    assert LimitExceeded("x").limit is None


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_is_pure(path):
    for module in _imports(path):
        top = module.split(".")[0]
        if top == "tasks_app":
            assert module == "tasks_app.exceptions" or module.startswith("tasks_app.engine"), module
        else:
            assert top in {
                "__future__",
                "collections",
                "copy",
                "dataclasses",
                "enum",
                "heapq",
                "math",
                "random",
                "typing",
                # engine.schedules: time arithmetic, and two pure third-party libraries (no I/O,
                # no Django) for cron expressions and their descriptions
                "datetime",
                "re",
                "zoneinfo",
                "cronsim",
                "cron_descriptor",
            }, module


def test_exceptions_module_imports_only_stdlib():
    assert {m.split(".")[0] for m in _imports(pathlib.Path(exceptions.__file__))} <= {
        "__future__",
        "collections",
        "typing",
    }
