"""Creating trees from apflow's task array (``create_task_tree_from_array``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from tasks_app.engine import validation
from tasks_app.engine.resources import normalise as normalise_resources
from tasks_app.exceptions import LimitExceeded, TreeValidationError, UnknownExecutor, ValidationError
from tasks_app.executors import registry
from tasks_app.models import Dependency, Task, Tree

from .events import EventBuffer

TASK_FIELDS = {
    "id", "name", "executor", "parent_id", "dependencies", "priority", "inputs", "params", "schemas",
    "resources", "timeout", "max_retries", "retry_delay", "tags", "metadata", "description",
}
# accepted for apflow compatibility and ignored (ownership comes from the authenticated user)
IGNORED_FIELDS = {"user_id", "task_tree_id", "has_children", "type", "created_at", "updated_at"}
READ_ONLY_FIELDS = {
    "status", "result", "error", "error_type", "progress", "started_at", "completed_at", "owner",
    "original_task_id", "origin_type", "attempts", "attempt_count", "has_references", "tree",
}


@dataclass
class TaskDraft:
    """A validated task of a create request, before it has a database row."""

    key: str
    name: str
    executor: str
    parent_key: str | None = None
    deps: tuple = ()
    priority: int = 2
    inputs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    schemas: dict = field(default_factory=dict)
    resources: list = field(default_factory=list)
    timeout: float | None = None
    max_retries: int | None = None
    retry_delay: float | None = None
    tags: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    ref: str = ""
    # lineage and carried state (copies)
    original_task_id: object = None
    origin_type: str = "create"
    carry: dict | None = None


def json_depth(value, limit: int, _depth: int = 0) -> int:
    if _depth > limit:
        return _depth
    if isinstance(value, dict):
        return max([json_depth(v, limit, _depth + 1) for v in value.values()] or [_depth + 1])
    if isinstance(value, list):
        return max([json_depth(v, limit, _depth + 1) for v in value] or [_depth + 1])
    return _depth


def resolve_executor(raw: dict) -> str:
    executor = raw.get("executor")
    if not executor:
        params = raw.get("params") if isinstance(raw.get("params"), dict) else {}
        schemas = raw.get("schemas") if isinstance(raw.get("schemas"), dict) else {}
        executor = params.get("executor_id") or schemas.get("method")
    if not executor or not isinstance(executor, str):
        return ""
    return registry.ALIASES.get(executor, executor)


def parse_task_fields(raw: dict, label: str, errors: list[str]) -> dict:
    """Validate the plain fields of one task dict; returns cleaned values, appends errors."""
    limits = settings.ARBOR_LIMITS
    out: dict = {}
    unknown = set(raw) - TASK_FIELDS - IGNORED_FIELDS - READ_ONLY_FIELDS
    for key in sorted(set(raw) & READ_ONLY_FIELDS):
        errors.append(f"{label}: field '{key}' is read-only")
    for key in sorted(unknown):
        errors.append(f"{label}: unknown field '{key}'")
    if "priority" in raw:
        p = raw["priority"]
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 3:
            errors.append(f"{label}: priority must be an integer 0..3 (0 = urgent), got {p!r}")
        else:
            out["priority"] = p
    for key in ("inputs", "params", "schemas", "metadata"):
        if key in raw and raw[key] is not None:
            if not isinstance(raw[key], dict):
                errors.append(f"{label}: {key} must be an object")
            elif json_depth(raw[key], limits["max_json_depth"]) > limits["max_json_depth"]:
                errors.append(f"{label}: {key} is nested deeper than {limits['max_json_depth']} levels")
            else:
                out[key] = raw[key]
    if "tags" in raw and raw["tags"] is not None:
        tags = raw["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append(f"{label}: tags must be a list of strings")
        else:
            out["tags"] = tags
    if "timeout" in raw and raw["timeout"] is not None:
        t = raw["timeout"]
        if not isinstance(t, int | float) or isinstance(t, bool) or not 0 < t <= settings.ARBOR_MAX_TIMEOUT:
            errors.append(f"{label}: timeout must be a number of seconds in (0, {settings.ARBOR_MAX_TIMEOUT:g}]")
        else:
            out["timeout"] = float(t)
    if "max_retries" in raw and raw["max_retries"] is not None:
        m = raw["max_retries"]
        if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m <= 100:
            errors.append(f"{label}: max_retries must be an integer 0..100")
        else:
            out["max_retries"] = m
    if "retry_delay" in raw and raw["retry_delay"] is not None:
        d = raw["retry_delay"]
        if not isinstance(d, int | float) or isinstance(d, bool) or not 0 <= d <= 86400:
            errors.append(f"{label}: retry_delay must be a number of seconds 0..86400")
        else:
            out["retry_delay"] = float(d)
    if "resources" in raw and raw["resources"] is not None:
        res = raw["resources"]
        if not isinstance(res, list):
            errors.append(f"{label}: resources must be a list of {{type, identifier, mode}}")
        elif len(res) > limits["max_resources_per_task"]:
            errors.append(f"{label}: more than {limits['max_resources_per_task']} resources")
        else:
            try:
                normalise_resources(res)
                out["resources"] = res
            except ValidationError as exc:
                errors.append(f"{label}: {exc.message}")
    return out


def parse_tree(raw_tasks) -> list[TaskDraft]:
    """Validate a create request and return drafts in a valid order; raises with every problem."""
    limits = settings.ARBOR_LIMITS
    if isinstance(raw_tasks, dict):
        raw_tasks = [raw_tasks]
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise TreeValidationError(["tasks must be a non-empty array of task objects"])
    if len(raw_tasks) > limits["max_tasks_per_tree"]:
        raise LimitExceeded(
            f"tree has {len(raw_tasks)} tasks; the limit is {limits['max_tasks_per_tree']} (max_tasks_per_tree)",
            details={"limit": "max_tasks_per_tree", "value": limits["max_tasks_per_tree"]},
        )
    errors: list[str] = []
    for i, raw in enumerate(raw_tasks):
        if not isinstance(raw, dict):
            errors.append(f"task #{i + 1}: must be an object")
        elif not isinstance(raw.get("name"), str) or not raw.get("name").strip():
            errors.append(f"task #{i + 1}: name is required")
        elif len(raw["name"]) > limits["max_name_length"]:
            errors.append(f"task '{raw['name'][:40]}…': name longer than {limits['max_name_length']} characters")
    if errors:
        raise TreeValidationError(errors)
    known = set(registry.registered())
    cleaned: dict[str, dict] = {}
    for raw in raw_tasks:
        label = f"task '{raw['name']}'"
        fields = parse_task_fields(raw, label, errors)
        executor = resolve_executor(raw)
        if not executor:
            errors.append(f"{label}: executor is required")
        elif executor not in known:
            raise UnknownExecutor(
                f"{label}: unknown executor '{executor}'", details={"task": raw["name"], "executor": executor}
            )
        fields["executor"] = executor
        deps = raw.get("dependencies") or []
        if not isinstance(deps, list):
            errors.append(f"{label}: dependencies must be a list")
        elif len(deps) > limits["max_dependencies_per_task"]:
            errors.append(f"{label}: more than {limits['max_dependencies_per_task']} dependencies")
        cleaned[raw["name"]] = fields
    if errors:
        raise TreeValidationError(errors)
    specs = validation.resolve_refs(raw_tasks)
    order = validation.validate_tree(
        specs,
        max_tasks=limits["max_tasks_per_tree"],
        max_depth=limits["max_tree_depth"],
        max_deps=limits["max_dependencies_per_task"],
    )
    by_key = {s.key: s for s in specs}
    raw_by_key = {s.key: raw for s, raw in zip(specs, raw_tasks, strict=True)}
    drafts = []
    for key in order:
        spec = by_key[key]
        raw = raw_by_key[key]
        drafts.append(
            TaskDraft(
                key=key,
                name=spec.name,
                parent_key=spec.parent,
                deps=spec.deps,
                ref=str(raw.get("id") or ""),
                **cleaned[spec.name],
            )
        )
    return drafts


def _new_id(ref: str, taken: set) -> uuid.UUID:
    """Client UUIDs are kept as ids when free; any other client id stays in ``ref``."""
    try:
        candidate = uuid.UUID(ref)
    except (ValueError, AttributeError, TypeError):
        return uuid.uuid4()
    if candidate in taken or Task.objects.filter(id=candidate).exists():
        return uuid.uuid4()
    return candidate


@transaction.atomic
def tree_create(*, owner, tasks, actor=None, source: str = "api", drafts: list[TaskDraft] | None = None,
                original_tree=None) -> Tree:
    """Create a whole tree in one transaction (bulk inserts)."""
    drafts = drafts if drafts is not None else parse_tree(tasks)
    taken: set = set()
    ids: dict[str, uuid.UUID] = {}
    for d in drafts:
        ids[d.key] = _new_id(d.ref, taken)
        taken.add(ids[d.key])
    root = next(d for d in drafts if d.parent_key is None)
    tree = Tree.objects.create(
        id=ids[root.key], owner=owner, name=root.name, task_count=len(drafts), original_tree=original_tree
    )
    rows = []
    for position, d in enumerate(drafts):
        carry = d.carry or {}
        rows.append(
            Task(
                id=ids[d.key],
                tree=tree,
                owner=owner,
                parent_id=ids[d.parent_key] if d.parent_key else None,
                ref=d.ref if d.ref != str(ids[d.key]) else "",
                name=d.name,
                position=position,
                executor=d.executor,
                priority=d.priority,
                inputs=d.inputs,
                params=d.params,
                schemas=d.schemas,
                resources=d.resources,
                timeout=d.timeout,
                max_retries=d.max_retries,
                retry_delay=d.retry_delay,
                tags=d.tags,
                metadata=d.metadata,
                original_task_id=d.original_task_id,
                origin_type=d.origin_type,
                **carry,
            )
        )
    Task.objects.bulk_create(rows, batch_size=1000)
    edges = [
        Dependency(tree=tree, upstream_id=ids[up], downstream_id=ids[d.key], required=req, position=i)
        for d in drafts
        for i, (up, req) in enumerate(d.deps)
    ]
    Dependency.objects.bulk_create(edges, batch_size=1000)
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(tree.id, "tree.created", name=tree.name, tasks=len(rows), origin=root.origin_type)
    events.flush()
    tree.key_map = {d.key: str(ids[d.key]) for d in drafts}
    return tree
