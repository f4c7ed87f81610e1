"""Input serializers (shape only) and output representations of the REST API.

Input serializers validate the *shape* of a body; the services validate meaning (names,
references, cycles, limits) and raise domain errors. Output: tasks are rendered by
:func:`render_tasks` straight from ``values()`` rows (a 10,000-task tree renders in well under a
second); :class:`TaskSerializer` declares the same fields for the OpenAPI schema, and a test
keeps the two identical.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import CharField, Count
from django.db.models.functions import Cast
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks_app.engine import COPY_MODES
from tasks_app.engine.states import Status
from tasks_app.models import ApiToken, Attempt, Dependency, Event, Task, Tree

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


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"},
                      "example": {s.value: 0 for s in Status}})
class CountsField(serializers.DictField):
    pass


class ResourceSerializer(serializers.Serializer):
    type = serializers.CharField()
    identifier = serializers.CharField()
    mode = serializers.ChoiceField(choices=["read", "write", "exclusive"], required=False)


class TaskSpecSerializer(serializers.Serializer):
    """One task of a create request (apflow's array format). Validated by the service."""

    id = serializers.CharField(required=False, help_text="client id; a free UUID is kept as the task id")
    name = serializers.CharField(max_length=200)
    executor = serializers.CharField(required=False, help_text="registered executor id (see /api/v1/executors/)")
    parent_id = serializers.CharField(required=False, allow_null=True)
    dependencies = serializers.ListField(child=DependencyRefField(), required=False)
    priority = serializers.IntegerField(min_value=0, max_value=3, required=False, help_text="0 = urgent; default 2")
    inputs = ObjectField(required=False)
    params = ObjectField(required=False)
    schemas = ObjectField(required=False)
    resources = ResourceSerializer(many=True, required=False)
    timeout = serializers.FloatField(required=False, allow_null=True)
    max_retries = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    retry_delay = serializers.FloatField(min_value=0, max_value=86400, required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    metadata = ObjectField(required=False)


class TreeCreateSerializer(serializers.Serializer):
    tasks = serializers.ListField(child=ObjectField(), help_text="the task array (see TaskSpec)")
    execute = serializers.BooleanField(default=False, help_text="start a run right after creating")


class TaskUpdateSerializer(serializers.Serializer):
    """PATCH body: any subset of the editable fields. Others are refused with 400 naming them."""

    name = serializers.CharField(max_length=200, required=False)
    executor = serializers.CharField(required=False)
    parent = serializers.CharField(required=False, help_text="alias of parent_id")
    parent_id = serializers.CharField(required=False)
    dependencies = serializers.ListField(child=DependencyRefField(), required=False,
                                         help_text="replaces the whole list")
    priority = serializers.IntegerField(min_value=0, max_value=3, required=False)
    inputs = ObjectField(required=False)
    params = ObjectField(required=False)
    schemas = ObjectField(required=False)
    resources = ResourceSerializer(many=True, required=False)
    timeout = serializers.FloatField(required=False, allow_null=True)
    max_retries = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    retry_delay = serializers.FloatField(min_value=0, max_value=86400, required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    metadata = ObjectField(required=False)


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
    action = serializers.ChoiceField(choices=["retry", "rerun", "cancel"])


class AfterSeqQuerySerializer(serializers.Serializer):
    after_seq = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class StatsQuerySerializer(serializers.Serializer):
    tree = serializers.CharField(required=False)


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, default="api")


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
            "id", "tree", "parent", "name", "ref", "executor", "priority", "inputs", "params", "schemas",
            "resources", "timeout", "max_retries", "retry_delay", "tags", "metadata", "status", "result",
            "error", "error_type", "progress", "progress_message", "waiting_reason", "attempt_count",
            "dependencies", "created_at", "updated_at", "started_at", "completed_at", "original_task",
            "origin_type", "position", "is_root",
        ]
        read_only_fields = fields


# Ids and timestamps are read as text and formatted here: on a 10,000-task tree, building
# 50,000 uuid.UUID and 20,000 datetime objects only to print them again is most of the time.
TASK_UUID_FIELDS = ("id", "tree_id", "parent_id", "original_task_id")
TASK_DATETIME_FIELDS = ("created_at", "updated_at", "started_at", "completed_at")
TASK_PLAIN_FIELDS = (
    "name", "ref", "executor", "priority", "inputs", "params", "schemas", "resources", "timeout", "max_retries",
    "retry_delay", "tags", "metadata", "status", "result", "error", "error_type", "progress",
    "progress_message", "waiting_reason", "attempt_count", "origin_type", "position",
)


def _as_text(field: str) -> Cast:
    return Cast(field, output_field=CharField())


def task_values(queryset):
    """The rows :func:`render_tasks` needs, as a ``values()`` queryset (keeps filters and order)."""
    casts = {f"{f}_text": _as_text(f) for f in (*TASK_UUID_FIELDS, *TASK_DATETIME_FIELDS)}
    return queryset.values(*TASK_PLAIN_FIELDS, **casts)


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
    names = {r["id_text"]: r["name"] for r in rows}
    out: dict = defaultdict(list)
    edges = (
        Dependency.objects.filter(tree_id=tree_id).order_by("downstream_id", "position")
        .values_list(_as_text("downstream_id"), _as_text("upstream_id"), "required")
    )
    for down, up, required in edges:
        out[uuid_text(down)].append({"id": uuid_text(up), "name": names.get(up), "required": required})
    return out


def render_tasks(rows, *, deps: dict | None = None) -> list[dict]:
    """Render :func:`task_values` rows as task representations (``deps``: a dependency map)."""
    rows = list(rows)
    if deps is None:
        deps = dependency_map([uuid_text(r["id_text"]) for r in rows])
    out = []
    for r in rows:
        task_id = uuid_text(r["id_text"])
        parent = uuid_text(r["parent_id_text"])
        out.append({
            "id": task_id,
            "tree": uuid_text(r["tree_id_text"]),
            "parent": parent,
            "name": r["name"],
            "ref": r["ref"],
            "executor": r["executor"],
            "priority": r["priority"],
            "inputs": r["inputs"],
            "params": r["params"],
            "schemas": r["schemas"],
            "resources": r["resources"],
            "timeout": r["timeout"],
            "max_retries": r["max_retries"],
            "retry_delay": r["retry_delay"],
            "tags": r["tags"],
            "metadata": r["metadata"],
            "status": r["status"],
            "result": r["result"],
            "error": r["error"],
            "error_type": r["error_type"],
            "progress": r["progress"],
            "progress_message": r["progress_message"],
            "waiting_reason": r["waiting_reason"],
            "attempt_count": r["attempt_count"],
            "dependencies": deps.get(task_id, []),
            "created_at": datetime_text(r["created_at_text"]),
            "updated_at": datetime_text(r["updated_at_text"]),
            "started_at": datetime_text(r["started_at_text"]),
            "completed_at": datetime_text(r["completed_at_text"]),
            "original_task": uuid_text(r["original_task_id_text"]),
            "origin_type": r["origin_type"],
            "position": r["position"],
            "is_root": parent is None,
        })
    return out


def render_task(task: Task) -> dict:
    return render_tasks(task_values(Task.objects.filter(id=task.id)))[0]


def tree_task_rows(tree_id) -> list[dict]:
    return list(task_values(Task.objects.filter(tree_id=tree_id).order_by("position")))


class TreeSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    original_tree = serializers.UUIDField(source="original_tree_id", allow_null=True)
    counts = CountsField(child=serializers.IntegerField(), help_text="tasks by status")

    class Meta:
        model = Tree
        fields = [
            "id", "name", "owner", "status", "task_count", "run_count", "last_seq", "archived",
            "cancel_requested", "original_tree", "created_at", "updated_at", "started_at", "finished_at",
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
        Task.objects.filter(tree_id__in=list(tree_ids)).values_list("tree_id", "status")
        .annotate(n=Count("id")).order_by()
    )
    for tid, status, n in rows:
        out.setdefault(tid, {s.value: 0 for s in Status})[status] = n
    return out


def render_trees(trees) -> list[dict]:
    trees = list(trees)
    counts = status_counts([t.id for t in trees])
    for tree in trees:
        tree.counts = counts.get(tree.id, {})
    return TreeSerializer(trees, many=True).data


def render_tree(tree: Tree, *, detail: bool = False) -> dict:
    data = dict(render_trees([tree])[0])
    if detail:
        rows = tree_task_rows(tree.id)
        data["tasks"] = render_tasks(rows, deps=tree_dependency_map(tree.id, rows))
    return data


class AttemptSerializer(serializers.ModelSerializer):
    task = serializers.UUIDField(source="task_id")
    effective_inputs = ObjectField()
    result = serializers.JSONField(allow_null=True)
    logs = serializers.JSONField()
    duration = serializers.FloatField(allow_null=True, help_text="seconds")

    class Meta:
        model = Attempt
        fields = [
            "id", "task", "number", "outcome", "executor", "effective_inputs", "result", "error", "error_type",
            "worker", "started_at", "finished_at", "duration", "logs",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    tree = serializers.UUIDField(source="tree_id")
    task = serializers.UUIDField(source="task_id", allow_null=True)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    data = ObjectField()

    class Meta:
        model = Event
        fields = ["seq", "tree", "kind", "task", "data", "actor", "source", "created_at"]
        read_only_fields = fields


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
    tasks = serializers.ListField(child=ObjectField(), help_text="a task array that POST /api/v1/trees/ accepts")


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
