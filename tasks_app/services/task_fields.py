"""The fields of a task, declared once: name, JSON type, default, limits, doc, whether a PATCH may
change it, and the message that refuses a bad value.

This one table drives

* validation: :func:`clean` (``services.trees.parse_task_fields``, used by creation, edits and
  copies) and the field sets of ``services.tasks.task_update`` (:data:`UPDATABLE`, nulls);
* the OpenAPI schema: ``api.serializers.TaskSpecSerializer`` / ``TaskUpdateSerializer`` are built
  from it (``api.serializers.task_field``);
* the JSON-RPC catalogue (``tasks.methods``: :func:`catalogue`).

Limits that are settings (``ARBOR_MAX_TIMEOUT``, ``ARBOR_LIMITS``) are read when used, so a test
that overrides them sees them applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tasks_app.engine.resources import normalise as normalise_resources
from tasks_app.exceptions import ValidationError

# JSON types, as the OpenAPI schema and the RPC catalogue name them
STRING, INTEGER, NUMBER, OBJECT, ARRAY = "string", "integer", "number", "object", "array"


def _max_timeout() -> float:
    return float(settings.ARBOR_MAX_TIMEOUT)


def _limit(name: str) -> Callable[[], int]:
    return lambda: settings.ARBOR_LIMITS[name]


@dataclass(frozen=True)
class TaskField:
    name: str
    type: str
    doc: str = ""
    #: what a new task gets when the field is omitted (None: nothing to say, or null)
    default: Any = None
    #: array items: "string", "resource" or "dependency"
    items: str | None = None
    minimum: float | None = None
    #: a number or a callable reading a setting
    maximum: float | Callable[[], float] | None = None
    exclusive_minimum: bool = False
    max_length: int | Callable[[], int] | None = None
    #: null is accepted at creation (the same as omitting it)
    nullable: bool = True
    #: null in an edit sets the field back to None ("nullable") or to its empty default ("empty")
    on_null: str = ""
    required: bool = False
    #: on creation / in a PATCH
    creatable: bool = True
    updatable: bool = True
    #: validated by :func:`clean` (the others are resolved by ``parse_tree`` / ``task_update``)
    cleaned: bool = True
    #: stored as a task column exactly as given (ids and references are resolved first)
    column: bool = True
    #: the message refusing a bad value ({name}, {value}, {minimum}, {maximum} are filled in)
    error: str = ""
    doc_update: str = ""

    def limit(self) -> float | None:
        return self.maximum() if callable(self.maximum) else self.maximum

    def length(self) -> int | None:
        return self.max_length() if callable(self.max_length) else self.max_length

    def message(self, value) -> str:
        maximum = self.limit()
        return self.error.format(name=self.name, value=value, minimum=self.minimum, maximum=maximum)


FIELDS: tuple[TaskField, ...] = (
    TaskField(
        "id",
        STRING,
        "client id; a free UUID is kept as the task id",
        updatable=False,
        cleaned=False,
        column=False,
        nullable=False,
    ),
    TaskField(
        "name",
        STRING,
        "unique in its tree",
        max_length=_limit("max_name_length"),
        required=True,
        nullable=False,
        cleaned=False,
    ),
    TaskField(
        "executor",
        STRING,
        "registered executor id (see /api/v1/executors/)",
        nullable=False,
        cleaned=False,
    ),
    TaskField(
        "parent_id",
        STRING,
        "the parent task (id, client id or name); none for the root",
        cleaned=False,
        column=False,
        doc_update="the new parent (id, client id or name); the root keeps none",
    ),
    TaskField(
        "dependencies",
        ARRAY,
        "the tasks this one waits for",
        items="dependency",
        cleaned=False,
        column=False,
        nullable=False,
        doc_update="replaces the whole list",
    ),
    TaskField(
        "priority",
        INTEGER,
        "0 = urgent; default 2",
        default=2,
        minimum=0,
        maximum=3,
        nullable=False,
        error="{name} must be an integer 0..3 (0 = urgent), got {value!r}",
    ),
    TaskField("inputs", OBJECT, "the executor's inputs", default={}, on_null="empty"),
    TaskField("params", OBJECT, "executor parameters (apflow)", default={}, on_null="empty"),
    TaskField("schemas", OBJECT, "input/output schemas (apflow)", default={}, on_null="empty"),
    TaskField(
        "resources",
        ARRAY,
        "shared resources held while running: {type, identifier, mode}",
        default=[],
        items="resource",
        on_null="empty",
        maximum=_limit("max_resources_per_task"),
        error="{name} must be a list of {{type, identifier, mode}}",
    ),
    TaskField(
        "timeout",
        NUMBER,
        "seconds; null: ARBOR_DEFAULT_TIMEOUT",
        minimum=0,
        exclusive_minimum=True,
        maximum=_max_timeout,
        on_null="nullable",
        error="{name} must be a number of seconds in (0, {maximum:g}]",
    ),
    TaskField(
        "max_retries",
        INTEGER,
        "retries after a failure; null: ARBOR_DEFAULT_MAX_RETRIES",
        minimum=0,
        maximum=100,
        on_null="nullable",
        error="{name} must be an integer 0..100",
    ),
    TaskField(
        "retry_delay",
        NUMBER,
        "seconds before the first retry, doubled per attempt up to ARBOR_MAX_RETRY_DELAY; "
        "null: ARBOR_DEFAULT_RETRY_DELAY",
        minimum=0,
        maximum=86400,
        on_null="nullable",
        error="{name} must be a number of seconds 0..86400",
    ),
    TaskField(
        "tags",
        ARRAY,
        "labels",
        default=[],
        items="string",
        on_null="empty",
        error="{name} must be a list of strings",
    ),
    TaskField("metadata", OBJECT, "anything the client keeps with the task", default={}, on_null="empty"),
)
BY_NAME = {f.name: f for f in FIELDS}

#: fields a create request may name
CREATABLE = frozenset(f.name for f in FIELDS if f.creatable)
#: fields a PATCH (``task_update``, JSON-RPC ``tasks.update``) may change; ``parent`` is an alias
UPDATABLE = frozenset(f.name for f in FIELDS if f.updatable)
PARENT_ALIAS = "parent"
#: null in an edit: back to None / to the empty default
NULL_RESETS = frozenset(f.name for f in FIELDS if f.on_null == "nullable")
EMPTY_DEFAULTS = {f.name: (dict if f.type == OBJECT else list) for f in FIELDS if f.on_null == "empty"}
#: the task columns taken from a request as they are (creation, tree edits)
COLUMNS = tuple(f.name for f in FIELDS if f.column)
#: what :func:`clean` checks
CLEANED = tuple(f for f in FIELDS if f.cleaned)
UNCLEANED = frozenset(f.name for f in FIELDS if not f.cleaned)


def json_depth(value, limit: int, _depth: int = 0) -> int:
    if _depth > limit:
        return _depth
    if isinstance(value, dict):
        return max([json_depth(v, limit, _depth + 1) for v in value.values()] or [_depth + 1])
    if isinstance(value, list):
        return max([json_depth(v, limit, _depth + 1) for v in value] or [_depth + 1])
    return _depth


def _is_number(value, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, int | float)


def _in_range(spec: TaskField, value) -> bool:
    low, high = spec.minimum, spec.limit()
    if low is not None and (value <= low if spec.exclusive_minimum else value < low):
        return False
    return high is None or value <= high


def clean(raw: dict, label: str, errors: list[str]) -> dict:
    """Check the values of the cleaned fields present in ``raw`` (null is "not given", except
    for fields that are not nullable); return them cleaned, append ``"{label}: problem"``."""
    out: dict = {}
    depth = settings.ARBOR_LIMITS["max_json_depth"]
    for spec in CLEANED:
        if spec.name not in raw:
            continue
        value = raw[spec.name]
        if value is None and spec.nullable:
            continue
        problem = _problem(spec, value, depth)
        if problem:
            errors.append(f"{label}: {problem}")
        else:
            out[spec.name] = float(value) if spec.type == NUMBER else value
    return out


def _problem(spec: TaskField, value, depth: int) -> str:
    if spec.type in (INTEGER, NUMBER):
        ok = _is_number(value, spec.type == INTEGER) and _in_range(spec, value)
        return "" if ok else spec.message(value)
    if spec.type == OBJECT:
        if not isinstance(value, dict):
            return f"{spec.name} must be an object"
        if json_depth(value, depth) > depth:
            return f"{spec.name} is nested deeper than {depth} levels"
        return ""
    if spec.items == "string":
        ok = isinstance(value, list) and all(isinstance(t, str) for t in value)
        return "" if ok else spec.message(value)
    if spec.items == "resource":
        if not isinstance(value, list):
            return spec.message(value)
        most = spec.limit()
        if most is not None and len(value) > most:
            return f"more than {most} resources"
        try:
            normalise_resources(value)
        except ValidationError as exc:
            return exc.message
        return ""
    raise AssertionError(f"no check for task field {spec.name}")  # pragma: no cover


def catalogue() -> list[dict]:
    """The task fields for the JSON-RPC catalogue (``tasks.methods``): one entry a field."""
    out = []
    for spec in FIELDS:
        entry: dict = {"name": spec.name, "type": spec.type, "description": spec.doc}
        if spec.items:
            entry["items"] = spec.items
        if spec.default is not None:
            entry["default"] = spec.default
        if spec.minimum is not None:
            entry["exclusive_minimum" if spec.exclusive_minimum else "minimum"] = spec.minimum
        if spec.limit() is not None and spec.type in (INTEGER, NUMBER):
            entry["maximum"] = spec.limit()
        if spec.length() is not None:
            entry["max_length"] = spec.length()
        entry.update(required=spec.required, nullable=spec.nullable, updatable=spec.updatable)
        out.append(entry)
    return out


__all__ = [
    "BY_NAME",
    "COLUMNS",
    "CREATABLE",
    "EMPTY_DEFAULTS",
    "FIELDS",
    "NULL_RESETS",
    "PARENT_ALIAS",
    "UPDATABLE",
    "TaskField",
    "catalogue",
    "clean",
    "json_depth",
]
