"""Input serializers (shape only) and output representations of the REST API.

Input serializers validate the *shape* of a body; the services validate meaning (names,
references, cycles, limits) and raise domain errors. Output: tasks are rendered by
:func:`render_tasks` straight from ``values_list()`` rows (a 10,000-task tree renders in well under a
second); :class:`TaskSerializer` declares the same fields for the OpenAPI schema, and a test
keeps the two identical.
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from typing import Any, cast

from django.db.models import CharField, Count
from django.db.models.functions import Cast
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks_app.engine import COPY_MODES
from tasks_app.engine.states import Status
from tasks_app.exceptions import NotFound
from tasks_app.models import ApiToken, Attempt, Dependency, Run, Task, Tree
from tasks_app.perf import gc_paused
from tasks_app.services import task_fields, trees

# --- shared field shapes -------------------------------------------------------------------------

DEPENDENCY_REF_SCHEMA = {
    "oneOf": [
        {"type": "string", "description": "id, client id or name of a task of the same tree"},
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "required": {"type": "boolean", "default": True},
            },
        },
    ]
}


@extend_schema_field(DEPENDENCY_REF_SCHEMA)
class DependencyRefField(serializers.JSONField):
    """A dependency as apflow writes it: a bare id/name, or ``{"id"|"name", "required"}``."""


@extend_schema_field(OpenApiTypes.OBJECT)
class ObjectField(serializers.JSONField):
    pass


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "integer"}, "example": {s.value: 0 for s in Status}}
)
class CountsField(serializers.DictField):
    pass


class ResourceSerializer(serializers.Serializer):
    type = serializers.CharField()
    identifier = serializers.CharField()
    mode = serializers.ChoiceField(choices=["read", "write", "exclusive"], required=False)


def task_field(spec: task_fields.TaskField, *, update: bool) -> serializers.Field:
    """The DRF field (for the OpenAPI schema) of one declared task field (services.task_fields):
    its type, limits, doc and, on creation, its default. These serializers only document the
    bodies: the service validates them (``task_fields.clean``) and its messages are the answer."""
    kw: dict = {
        "required": spec.required and not update,
        # at creation null means "not given"; in an edit, null resets the field
        "allow_null": bool(spec.on_null) if update else spec.nullable,
    }
    doc = (spec.doc_update or spec.doc) if update else spec.doc
    if doc:
        kw["help_text"] = doc
    if spec.default is not None and not update:
        kw["default"] = spec.default
        del kw["required"]
    if spec.type == task_fields.STRING:
        if spec.length() is not None:
            kw["max_length"] = spec.length()
        return serializers.CharField(**kw)
    if spec.type == task_fields.OBJECT:
        return ObjectField(**kw)
    if spec.type == task_fields.ARRAY:
        if spec.items == "resource":
            return ResourceSerializer(many=True, **kw)
        child = DependencyRefField() if spec.items == "dependency" else serializers.CharField()
        return serializers.ListField(child=child, **kw)
    limits: dict[str, Any] = {"min_value": spec.minimum, "max_value": spec.limit()}
    if spec.type == task_fields.INTEGER:
        return serializers.IntegerField(**limits, **kw)
    if spec.exclusive_minimum:  # OpenAPI 3.0: minimum + exclusiveMinimum: true
        return _exclusive_number(spec)(max_value=spec.limit(), **kw)
    return serializers.FloatField(**limits, **kw)


def _exclusive_number(spec: task_fields.TaskField) -> type:
    schema = {"type": "number", "format": "double", "minimum": spec.minimum, "exclusiveMinimum": True}
    return extend_schema_field(schema)(type(f"{spec.name.title()}Field", (serializers.FloatField,), {}))


def _task_serializer(name: str, doc: str, *, update: bool) -> type[serializers.Serializer]:
    fields: dict = {}
    for spec in task_fields.FIELDS:
        if not (spec.updatable if update else spec.creatable):
            continue
        if update and spec.name == "parent_id":
            fields[task_fields.PARENT_ALIAS] = serializers.CharField(
                required=False, help_text="alias of parent_id"
            )
        fields[spec.name] = task_field(spec, update=update)
    return type(name, (serializers.Serializer,), {"__doc__": doc, "__module__": __name__, **fields})


TaskSpecSerializer = _task_serializer(
    "TaskSpecSerializer",
    "One task of a create request (apflow's array format). Validated by the service.",
    update=False,
)
TaskUpdateSerializer = _task_serializer(
    "TaskUpdateSerializer",
    "PATCH body: any subset of the editable fields. Others are refused with 400 naming them.",
    update=True,
)


class TreeCreateSerializer(serializers.Serializer):
    tasks = serializers.ListField(child=ObjectField(), help_text="the task array (see TaskSpec)")
    execute = serializers.BooleanField(default=False, help_text="start a run right after creating")


class CopySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=list(COPY_MODES), default="minimal")
    children = serializers.BooleanField(default=False)
    custom_task_ids = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    custom_include_children = serializers.BooleanField(default=False)
    reset_fields = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    save = serializers.BooleanField(default=True)


class DependencyAddSerializer(serializers.Serializer):
    upstream = serializers.CharField(help_text="id of a task of the same tree")
    required = serializers.BooleanField(default=True)


class PreviewQuerySerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["retry", "rerun", "cancel", "mark_success", "skip"])


class AfterSeqQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class StatsQuerySerializer(serializers.Serializer):
    tree = serializers.CharField(required=False)


class ThroughputQuerySerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["minute", "hour", "day"], default="minute")
    count = serializers.IntegerField(min_value=1, max_value=366, default=60)
    tree = serializers.CharField(required=False)


class ThroughputPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    count = serializers.IntegerField()


class ThroughputSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    series = ThroughputPointSerializer(many=True)


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, default="api")
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        help_text=(
            "lifetime in days; without it (and without expires_at) the server default "
            "ARBOR_TOKEN_DEFAULT_DAYS"
        ),
    )
    expires_at = serializers.DateTimeField(required=False, help_text="an exact expiry, in the future")


# --- outputs -------------------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = ObjectField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class DependencyOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    required = serializers.BooleanField()


class TaskSerializer(serializers.ModelSerializer):
    """The task representation (schema). Rendering goes through :func:`render_tasks`."""

    tree = serializers.UUIDField(source="tree_id")
    parent = serializers.UUIDField(source="parent_id", allow_null=True)
    original_task = serializers.UUIDField(source="original_task_id", allow_null=True)
    inputs = ObjectField()
    params = ObjectField()
    schemas = ObjectField()
    metadata = ObjectField()
    resources = ResourceSerializer(many=True)
    tags = serializers.ListField(child=serializers.CharField())
    result = serializers.JSONField(allow_null=True)
    dependencies = DependencyOutSerializer(many=True)
    is_root = serializers.BooleanField()

    class Meta:
        model = Task
        fields = [
            "id",
            "tree",
            "parent",
            "name",
            "ref",
            "executor",
            "priority",
            "inputs",
            "params",
            "schemas",
            "resources",
            "timeout",
            "max_retries",
            "retry_delay",
            "tags",
            "metadata",
            "status",
            "result",
            "error",
            "error_type",
            "progress",
            "progress_message",
            "waiting_reason",
            "attempt_count",
            "dependencies",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "original_task",
            "origin_type",
            "position",
            "is_root",
        ]
        read_only_fields = fields


# Ids and timestamps are read as text and formatted here: on a 10,000-task tree, building
# 50,000 uuid.UUID and 20,000 datetime objects only to print them again is most of the time.
# JSON columns are read as text too and decoded a column at a time (see json_column), and rows
# are tuples (values_list), not dicts.
TASK_PLAIN_FIELDS = (
    "name",
    "ref",
    "executor",
    "priority",
    "timeout",
    "max_retries",
    "retry_delay",
    "status",
    "error",
    "error_type",
    "progress",
    "progress_message",
    "waiting_reason",
    "attempt_count",
    "origin_type",
    "position",
)
TASK_UUID_FIELDS = ("id", "tree_id", "parent_id", "original_task_id")
TASK_DATETIME_FIELDS = ("created_at", "updated_at", "started_at", "completed_at")
TASK_JSON_FIELDS = ("inputs", "params", "schemas", "resources", "tags", "metadata", "result")
# the tuple layout of task_values rows
TASK_ROW = (*TASK_PLAIN_FIELDS, *TASK_UUID_FIELDS, *TASK_DATETIME_FIELDS, *TASK_JSON_FIELDS)
_JSON_START = len(TASK_ROW) - len(TASK_JSON_FIELDS)


def _as_text(field: str) -> Cast:
    return Cast(field, output_field=CharField())


def task_values(queryset):
    """The rows :func:`render_tasks` needs (``TASK_ROW`` tuples), as a ``values_list()`` queryset
    that keeps filters and order."""
    texts = (_as_text(f) for f in (*TASK_UUID_FIELDS, *TASK_DATETIME_FIELDS, *TASK_JSON_FIELDS))
    return queryset.values_list(*TASK_PLAIN_FIELDS, *texts)


def json_column(texts: list) -> list:
    """Decode the JSON texts of one column (``None`` for SQL NULL) with a single ``json.loads``:
    on a 10,000-task tree, 70,000 separate calls (Django's ``from_db_value``) cost more than
    parsing the same text at once."""
    if not texts:
        return []
    try:
        return json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
    except ValueError:  # not expected: report the offending value the way a single decode would
        return [None if t is None else json.loads(t) for t in texts]


def uuid_text(value) -> str | None:
    """A UUID read as text: 32 hex digits on SQLite, canonical on PostgreSQL -> canonical."""
    if value is None:
        return None
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def datetime_text(value) -> str | None:
    """A UTC timestamp read as text ("2026-01-02 03:04:05.123456", PostgreSQL adds "+00") -> DRF's
    ISO 8601 format ("2026-01-02T03:04:05.123456Z")."""
    if value is None:
        return None
    value = value.replace(" ", "T", 1)
    if value.endswith("+00"):
        value = value[:-3]
    elif value.endswith("+00:00"):
        value = value[:-6]
    elif value.endswith("Z"):
        value = value[:-1]
    head, dot, fraction = value.partition(".")
    if dot:  # PostgreSQL drops trailing zeros of the microseconds; DRF prints all six
        fraction = fraction.ljust(6, "0")
        if fraction == "000000":
            return head + "Z"
        return f"{head}.{fraction}Z"
    return head + "Z"


def _memo(convert):
    """``convert`` with a per-render cache: a tree's tasks share their tree id, mostly their parent
    and their creation timestamps (often the very same object as the previous row's)."""
    cache: dict = {None: None}
    last = [None, None]

    def converted(value):
        if value is last[0]:
            return last[1]
        try:
            out = cache[value]
        except KeyError:
            out = cache[value] = convert(value)
        last[0], last[1] = value, out
        return out

    return converted


def iso(value) -> str | None:
    """DRF's datetime format: ISO 8601, UTC written as ``Z``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def dependency_map(task_ids) -> dict:
    """``{downstream id: [{id, name, required}, ...]}`` in list order, one query."""
    out: dict = defaultdict(list)
    if not task_ids:
        return out
    rows = (
        Dependency.objects.filter(downstream_id__in=list(task_ids))
        .order_by("downstream_id", "position")
        .values_list(_as_text("downstream_id"), _as_text("upstream_id"), "upstream__name", "required")
    )
    for down, up, name, required in rows:
        out[uuid_text(down)].append({"id": uuid_text(up), "name": name, "required": required})
    return out


def tree_dependency_map(tree_id, rows) -> dict:
    """Like :func:`dependency_map` for every task of one tree (``rows``): no join, no id list."""
    i_id, i_name = TASK_ROW.index("id"), TASK_ROW.index("name")
    names = {r[i_id]: r[i_name] for r in rows}
    out: dict = defaultdict(list)
    edges = (
        Dependency.objects.filter(tree_id=tree_id)
        .order_by("downstream_id", "position")
        .values_list(_as_text("downstream_id"), _as_text("upstream_id"), "required")
    )
    for down, up, required in edges:
        out[uuid_text(down)].append({"id": uuid_text(up), "name": names.get(up), "required": required})
    return out


def render_tasks(rows, *, deps: dict | None = None) -> list[dict]:
    """Render :func:`task_values` rows as task representations (``deps``: a dependency map)."""
    rows = list(rows)
    if deps is None:
        deps = dependency_map([uuid_text(r[TASK_ROW.index("id")]) for r in rows])
    json_columns = [json_column([r[i] for r in rows]) for i in range(_JSON_START, len(TASK_ROW))]
    some_uuid, some_datetime = _memo(uuid_text), _memo(datetime_text)
    out = []
    for i, (
        name,
        ref,
        executor,
        priority,
        timeout,
        max_retries,
        retry_delay,
        status,
        error,
        error_type,
        progress,
        progress_message,
        waiting_reason,
        attempt_count,
        origin_type,
        position,
        task_id,
        tree_id,
        parent_id,
        original_task_id,
        created_at,
        updated_at,
        started_at,
        completed_at,
        *_json,
    ) in enumerate(rows):
        task_id = uuid_text(task_id)
        parent = some_uuid(parent_id)
        inputs, params, schemas, resources, tags, metadata, result = (column[i] for column in json_columns)
        out.append(
            {
                "id": task_id,
                "tree": some_uuid(tree_id),
                "parent": parent,
                "name": name,
                "ref": ref,
                "executor": executor,
                "priority": priority,
                "inputs": inputs,
                "params": params,
                "schemas": schemas,
                "resources": resources,
                "timeout": timeout,
                "max_retries": max_retries,
                "retry_delay": retry_delay,
                "tags": tags,
                "metadata": metadata,
                "status": status,
                "result": result,
                "error": error,
                "error_type": error_type,
                "progress": progress,
                "progress_message": progress_message,
                "waiting_reason": waiting_reason,
                "attempt_count": attempt_count,
                "dependencies": deps.get(task_id, []),
                "created_at": some_datetime(created_at),
                "updated_at": some_datetime(updated_at),
                "started_at": some_datetime(started_at),
                "completed_at": some_datetime(completed_at),
                "original_task": some_uuid(original_task_id),
                "origin_type": origin_type,
                "position": position,
                "is_root": parent is None,
            }
        )
    return out


def render_task(task: Task) -> dict:
    rows = render_tasks(task_values(Task.objects.filter(id=task.id)))
    if not rows:  # deleted by a concurrent request after the write committed: it is gone now
        raise NotFound(f"task '{task.id}' not found", details={"task": str(task.id)})
    return rows[0]


def task_rows_by_id(ids) -> list[tuple]:
    """:func:`task_values` rows of the tasks ``ids`` (a page of a list), in that order."""
    ids = list(ids)
    if not ids:
        return []
    i_id = TASK_ROW.index("id")
    rows = {uuid_text(row[i_id]): row for row in task_values(Task.objects.filter(id__in=ids).order_by())}
    return [rows[str(task_id)] for task_id in ids if str(task_id) in rows]


def tree_task_rows(tree_id) -> list[dict]:
    return list(task_values(Task.objects.filter(tree_id=tree_id).order_by("position")))


class TreeSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    original_tree = serializers.UUIDField(source="original_tree_id", allow_null=True)
    counts = CountsField(child=serializers.IntegerField(), help_text="tasks by status")

    class Meta:
        model = Tree
        fields = [
            "id",
            "name",
            "owner",
            "status",
            "handled_failures",
            "task_count",
            "run_count",
            "last_seq",
            "archived",
            "cancel_requested",
            "original_tree",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "counts",
        ]
        read_only_fields = fields


class TreeDetailSerializer(TreeSerializer):
    tasks = TaskSerializer(many=True)

    class Meta(TreeSerializer.Meta):
        fields = [*TreeSerializer.Meta.fields, "tasks"]
        read_only_fields = fields


def status_counts(tree_ids) -> dict:
    """``{tree id: {status: n}}`` with every status present, one grouped query."""
    out = {tid: {s.value: 0 for s in Status} for tid in tree_ids}
    rows = (
        Task.objects.filter(tree_id__in=list(tree_ids))
        .values_list("tree_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for tid, status, n in rows:
        out.setdefault(tid, {s.value: 0 for s in Status})[status] = n
    return out


def render_trees(trees) -> list[dict]:
    trees = list(trees)
    counts = status_counts([t.id for t in trees])
    for tree in trees:
        tree.counts = counts.get(tree.id, {})
    return cast(list[dict], TreeSerializer(trees, many=True).data)


def render_tree(tree: Tree, *, detail: bool = False, rendered_tasks=None) -> dict:
    """The tree representation; ``detail`` adds its tasks, read from the database, or given as
    ``rendered_tasks`` (a just created tree's: ``render_written_tasks`` of the rows written, built
    during its commit by ``trees.tree_create``)."""
    data = dict(render_trees([tree])[0])
    if detail:
        with gc_paused():  # up to 10,000 tasks: see tasks_app.perf
            if rendered_tasks is not None:
                data["tasks"] = rendered_tasks
            else:
                rows = tree_task_rows(tree.id)
                data["tasks"] = render_tasks(rows, deps=tree_dependency_map(tree.id, rows))
    return data


# render_written_tasks: the output keys and the column each is read from ("dependencies" and
# "is_root" are computed; they read the id and the parent)
_WRITTEN_FIELDS = (
    ("id", "id"),
    ("tree", "tree_id"),
    ("parent", "parent_id"),
    ("name", "name"),
    ("ref", "ref"),
    ("executor", "executor"),
    ("priority", "priority"),
    ("inputs", "inputs"),
    ("params", "params"),
    ("schemas", "schemas"),
    ("resources", "resources"),
    ("timeout", "timeout"),
    ("max_retries", "max_retries"),
    ("retry_delay", "retry_delay"),
    ("tags", "tags"),
    ("metadata", "metadata"),
    ("status", "status"),
    ("result", "result"),
    ("error", "error"),
    ("error_type", "error_type"),
    ("progress", "progress"),
    ("progress_message", "progress_message"),
    ("waiting_reason", "waiting_reason"),
    ("attempt_count", "attempt_count"),
    ("dependencies", "id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("started_at", "started_at"),
    ("completed_at", "completed_at"),
    ("original_task", "original_task_id"),
    ("origin_type", "origin_type"),
    ("position", "position"),
    ("is_root", "parent_id"),
)
_WRITTEN_KEYS = tuple(key for key, _ in _WRITTEN_FIELDS)
_W = {key: i for i, key in enumerate(_WRITTEN_KEYS)}  # "id" is 0


def render_written_tasks(rows: list, edges: list) -> list[dict]:
    """Render the rows ``services.trees.tree_create`` wrote (``TASK_COLUMNS`` order, Python values)
    exactly as :func:`render_tasks` renders them read back, without reading 10,000 rows again.
    (JSON objects keep the request's key order; PostgreSQL's jsonb returns them in its own.)
    Ids are looked up by ``UUID.int``: ``uuid.UUID`` hashes in Python, an int in C."""
    column = trees.TASK_COLUMN_INDEX
    pick = operator.itemgetter(*(column[name] for _, name in _WRITTEN_FIELDS))
    i_id, i_name = column["id"], column["name"]
    text: dict = {}
    names: dict = {}
    for row in rows:
        task_id = row[i_id]
        text[task_id.int] = str(task_id)
        names[task_id.int] = row[i_name]

    def as_text(value):
        return None if value is None else text.get(value.int) or str(value)

    deps: dict = defaultdict(list)
    for _tree, up, down, required, _position in edges:  # in list order per task
        deps[down.int].append({"id": as_text(up), "name": names.get(up.int), "required": required})
    as_iso = _memo(iso)
    i_deps, i_root, i_parent = _W["dependencies"], _W["is_root"], _W["parent"]
    ids = (_W["tree"], _W["parent"], _W["original_task"])
    timestamps = (_W["created_at"], _W["updated_at"], _W["started_at"], _W["completed_at"])
    out = []
    for row in rows:
        v = list(pick(row))
        key = v[0].int
        v[0] = text[key]
        v[i_deps] = deps.get(key, [])
        v[i_root] = v[i_parent] is None
        for i in ids:
            v[i] = as_text(v[i])
        for i in timestamps:
            v[i] = as_iso(v[i])
        out.append(dict(zip(_WRITTEN_KEYS, v, strict=True)))
    return out


class AttemptSerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id")
    run = serializers.IntegerField(
        source="run.number",
        allow_null=True,
        default=None,
        help_text="number of the run it belongs to (null: recorded before runs)",
    )
    effective_inputs = ObjectField()
    result = serializers.JSONField(allow_null=True)
    logs = serializers.JSONField()
    duration = serializers.FloatField(allow_null=True, help_text="seconds")

    class Meta:
        model = Attempt
        fields = [
            "id",
            "task",
            "run",
            "number",
            "outcome",
            "executor",
            "effective_inputs",
            "result",
            "error",
            "error_type",
            "worker",
            "started_at",
            "finished_at",
            "duration",
            "logs",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    """One run of a tree (docs/semantics.md "Run records")."""

    tree = serializers.UUIDField(source="tree_id")
    started_by = serializers.CharField(
        source="started_by.username",
        allow_null=True,
        default=None,
        help_text="the user who started it (null: a schedule, a migration)",
    )
    target_task = serializers.UUIDField(
        source="target_task_id",
        allow_null=True,
        help_text="the task a partial run, retry or re-run started at",
    )
    counts = ObjectField(
        help_text="at its end: {tasks: {status: n}, attempts: n, attempt_outcomes: {outcome: n}}"
    )
    duration = serializers.FloatField(allow_null=True, help_text="seconds; null while it runs")

    class Meta:
        model = Run
        fields = [
            "number",
            "tree",
            "trigger",
            "source",
            "started_by",
            "target_task",
            "status",
            "handled_failures",
            "scope",
            "started_at",
            "finished_at",
            "duration",
            "counts",
        ]
        read_only_fields = fields


class RunAttemptSerializer(AttemptSerializer):
    """An attempt in a run's attempt list: with its task's name (for timelines)."""

    task_name = serializers.CharField(source="task.name")

    class Meta(AttemptSerializer.Meta):
        fields = [*AttemptSerializer.Meta.fields[:2], "task_name", *AttemptSerializer.Meta.fields[2:]]
        read_only_fields = fields


class EventSerializer(serializers.Serializer):
    """Documents the event form (the schema); the views render events with ``selectors.event_wire``,
    the same function as the websocket and the SSE stream."""

    type = serializers.ChoiceField(choices=["event"])
    tree = serializers.UUIDField()
    seq = serializers.IntegerField()
    kind = serializers.CharField()
    task = serializers.UUIDField(allow_null=True)
    data = ObjectField()
    actor = serializers.CharField(allow_null=True, help_text="username of who caused it, null for the system")
    source = serializers.CharField()
    at = serializers.DateTimeField()


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, null when caught up")
    last_seq = serializers.IntegerField(help_text="the tree's latest sequence number")


class LineageTaskSerializer(serializers.ModelSerializer):
    tree = serializers.UUIDField(source="tree_id")

    class Meta:
        model = Task
        fields = ["id", "tree", "name", "status", "origin_type", "created_at"]
        read_only_fields = fields


class LineageSerializer(serializers.Serializer):
    original = LineageTaskSerializer(allow_null=True)
    copies = LineageTaskSerializer(many=True)


class PreviewTaskSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    action = serializers.CharField()
    tasks = PreviewTaskSerializer(many=True)


class CopyArraySerializer(serializers.Serializer):
    tasks = serializers.ListField(
        child=ObjectField(), help_text="a task array that POST /api/v1/trees/ accepts"
    )


class DeleteResultSerializer(serializers.Serializer):
    tree = serializers.UUIDField()
    deleted = serializers.ListField(child=serializers.UUIDField())
    tree_deleted = serializers.BooleanField()


class ValidateResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    order = serializers.ListField(child=serializers.CharField(), help_text="task keys (client id, else name)")
    names = serializers.ListField(child=serializers.CharField(), help_text="task names, same order")


class ExecutorSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    input_schema = ObjectField(allow_null=True)
    cancelable = serializers.BooleanField()
    permission = serializers.CharField(allow_null=True, help_text="the permission it needs (null: none)")
    allowed = serializers.BooleanField(help_text="whether you may use it")


class ExecutorQuerySerializer(serializers.Serializer):
    all = serializers.BooleanField(default=False, help_text="also list the executors you may not use")


class StatsSerializer(serializers.Serializer):
    counts = CountsField(child=serializers.IntegerField())
    total = serializers.IntegerField()
    finished = serializers.IntegerField()
    total_execution_seconds = serializers.FloatField()
    average_execution_seconds = serializers.FloatField(allow_null=True)
    slowest = serializers.ListField(child=ObjectField())
    attempts = ObjectField(help_text="{by_outcome: {outcome: n}}")


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at", "expires_at", "revoked"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="shown once; only its hash is stored")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
