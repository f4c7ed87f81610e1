"""Creating trees from apflow's task array (``create_task_tree_from_array``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from tasks_app.engine import validation
from tasks_app.engine.states import Status
from tasks_app.exceptions import LimitExceeded, TreeValidationError, UnknownExecutor
from tasks_app.executors import registry
from tasks_app.models import Dependency, Task, Tree
from tasks_app.perf import gc_paused, in_background

from . import control, grants, sql, task_fields
from .event_log import EventBuffer
from .resources import check_granted

TASK_FIELDS = task_fields.CREATABLE  # the declaration: services.task_fields
# accepted for apflow compatibility and ignored (ownership comes from the authenticated user)
IGNORED_FIELDS = {"user_id", "task_tree_id", "has_children", "type", "created_at", "updated_at"}
READ_ONLY_FIELDS = {
    "status",
    "result",
    "error",
    "error_type",
    "progress",
    "started_at",
    "completed_at",
    "owner",
    "original_task_id",
    "origin_type",
    "attempts",
    "attempt_count",
    "has_references",
    "tree",
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


def resolve_executor(raw: dict) -> str:
    executor = raw.get("executor")
    if not executor:
        params, schemas = raw.get("params"), raw.get("schemas")
        params = params if isinstance(params, dict) else {}
        schemas = schemas if isinstance(schemas, dict) else {}
        executor = params.get("executor_id") or schemas.get("method")
    if not executor or not isinstance(executor, str):
        return ""
    return registry.ALIASES.get(executor, executor)


# fields with nothing to clean here (references and the executor are resolved by parse_tree)
UNCLEANED_FIELDS = frozenset(task_fields.UNCLEANED | IGNORED_FIELDS)


def parse_task_fields(raw: dict, label: str, errors: list[str]) -> dict:
    """Validate the plain fields of one task dict (the values: ``task_fields.clean``); returns
    cleaned values, appends errors."""
    if raw.keys() <= UNCLEANED_FIELDS:  # the common minimal task: nothing to do
        return {}
    unknown = set(raw) - TASK_FIELDS - IGNORED_FIELDS - READ_ONLY_FIELDS
    for key in sorted(set(raw) & READ_ONLY_FIELDS):
        if key == "status" and raw[key] == Status.PENDING.value:
            continue  # apflow's clients send it: every new task is pending anyway
        if key == "status":
            errors.append(
                f"{label}: status must be 'pending' at creation (got {raw[key]!r}); a task's status "
                "changes only by running, cancelling or retrying it"
            )
            continue
        errors.append(f"{label}: field '{key}' is read-only")
    for key in sorted(unknown):
        errors.append(f"{label}: unknown field '{key}'")
    return task_fields.clean(raw, label, errors)


@gc_paused()
def parse_tree(raw_tasks) -> list[TaskDraft]:
    """Validate a create request and return drafts in a valid order; raises with every problem."""
    limits = settings.ARBOR_LIMITS
    if isinstance(raw_tasks, dict):
        raw_tasks = [raw_tasks]
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise TreeValidationError(["tasks must be a non-empty array of task objects"])
    if len(raw_tasks) > limits["max_tasks_per_tree"]:
        raise LimitExceeded(
            f"tree has {len(raw_tasks)} tasks; the limit is {limits['max_tasks_per_tree']} "
            "(max_tasks_per_tree)",
            details={"limit": "max_tasks_per_tree", "value": limits["max_tasks_per_tree"]},
        )
    errors: list[str] = []
    for i, raw in enumerate(raw_tasks):
        if not isinstance(raw, dict):
            errors.append(f"task #{i + 1}: must be an object")
        elif not isinstance(raw.get("name"), str) or not str(raw.get("name")).strip():
            errors.append(f"task #{i + 1}: name is required")
        elif len(raw["name"]) > limits["max_name_length"]:
            errors.append(
                f"task '{raw['name'][:40]}…': name longer than {limits['max_name_length']} characters"
            )
    if errors:
        raise TreeValidationError(errors)
    known = set(registry.registered())
    aliases = registry.ALIASES
    max_deps = limits["max_dependencies_per_task"]
    cleaned: dict[str, dict] = {}
    for raw in raw_tasks:
        name = raw["name"]
        # the common minimal task (name, id, executor, parent, dependencies): nothing to clean
        fields = {} if raw.keys() <= UNCLEANED_FIELDS else parse_task_fields(raw, f"task '{name}'", errors)
        executor = raw.get("executor")
        if type(executor) is str and executor:  # the usual case: no apflow fallbacks to read
            executor = aliases.get(executor, executor)
        else:
            executor = resolve_executor(raw)
        if not executor:
            errors.append(f"task '{name}': executor is required")
        elif executor not in known:
            raise UnknownExecutor(
                f"task '{name}': {registry.unknown_message(executor)}",
                details={"task": name, "executor": executor, "available": sorted(known)},
            )
        elif inputs := fields.get("inputs"):
            errors.extend(f"task '{name}': {problem}" for problem in registry.check_inputs(executor, inputs))
        fields["executor"] = executor
        deps = raw.get("dependencies")
        if deps:  # (a missing, null or empty value means none)
            if not isinstance(deps, list):
                errors.append(f"task '{name}': dependencies must be a list")
            elif len(deps) > max_deps:
                errors.append(f"task '{name}': more than {max_deps} dependencies")
        cleaned[name] = fields
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


def _client_uuid(ref: str) -> uuid.UUID | None:
    if len(ref) < 32:  # shorter than any spelling of a UUID: skip the exception
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _new_ids(drafts: list[TaskDraft]) -> dict[str, uuid.UUID]:
    """Client UUIDs are kept as ids when free; any other client id stays in ``ref``. One query
    finds which of the offered UUIDs are already taken (not one per task)."""
    offered = {d.key: candidate for d in drafts if d.ref and (candidate := _client_uuid(d.ref)) is not None}
    taken: set = set()
    candidates = list(set(offered.values()))
    for start in range(0, len(candidates), 500):
        taken.update(Task.objects.filter(id__in=candidates[start : start + 500]).values_list("id", flat=True))
    ids: dict[str, uuid.UUID] = {}
    for d in drafts:
        candidate = offered.get(d.key)
        if candidate is None or candidate in taken:
            ids[d.key] = uuid.uuid4()
        else:
            taken.add(candidate)
            ids[d.key] = candidate
    return ids


# Every column of a task row, written by one set-based insert (services.sql.insert_rows).
TASK_COLUMNS = [f.attname for f in Task._meta.concrete_fields]
TASK_COLUMN_INDEX = {name: i for i, name in enumerate(TASK_COLUMNS)}
# columns taken from a draft as they are
_DRAFT_COLUMNS = [
    (TASK_COLUMN_INDEX[name], name) for name in (*task_fields.COLUMNS, "original_task_id", "origin_type")
]
DEPENDENCY_COLUMNS = ["tree_id", "upstream_id", "downstream_id", "required", "position"]


def _edge_key(edge):  # (upstream, downstream) as numbers: UUID objects compare in Python, slowly
    return edge[1].int, edge[2].int


def _task_rows(drafts: list[TaskDraft], ids: dict, tree: Tree, owner) -> list[list]:
    """One row (``TASK_COLUMNS`` order) per draft: model defaults, then the draft's values."""
    template = [f.get_default() for f in Task._meta.concrete_fields]
    # the tasks of a tree are created together: one timestamp, creation order in ``position``
    for name, value in (
        ("tree_id", tree.id),
        ("owner_id", owner.pk),
        ("created_at", tree.created_at),
        ("updated_at", tree.created_at),
    ):
        template[TASK_COLUMN_INDEX[name]] = value
    i_id, i_parent, i_ref, i_position = (TASK_COLUMN_INDEX[n] for n in ("id", "parent_id", "ref", "position"))
    rows = []
    for position, d in enumerate(drafts):
        row = template.copy()
        task_id = row[i_id] = ids[d.key]
        row[i_parent] = ids[d.parent_key] if d.parent_key else None
        row[i_ref] = "" if len(d.ref) >= 32 and d.ref == str(task_id) else d.ref
        row[i_position] = position
        for i, name in _DRAFT_COLUMNS:
            row[i] = getattr(d, name)
        if d.carry:
            for name, value in d.carry.items():
                row[TASK_COLUMN_INDEX[name]] = value
        rows.append(row)
    return rows


@grants.audit_denials
@gc_paused()
def tree_create(
    *,
    owner,
    tasks,
    actor=None,
    source: str = "api",
    drafts: list[TaskDraft] | None = None,
    original_tree=None,
    execute: bool = False,
    demo: bool | None = None,
    answer: Callable[[list, list], object] | None = None,
) -> Tree:
    """Create a whole tree in one transaction: one insert of the tree, set-based inserts of its
    tasks and dependency edges (``services.sql.insert_rows``), and one ``tree.created`` event.

    ``execute=True`` also starts its first run (``control.tree_execute``, ``demo`` as there) in
    the same transaction: nobody sees the tree created but not running, and a refused execute
    (an executor grant, say) rolls the creation back.

    The tasks share one ``created_at`` (the tree's); ``position`` keeps their creation order. The
    returned tree carries ``key_map`` (request key -> task id) and ``written_rows`` /
    ``written_edges`` (the rows as written).

    ``answer(rows, edges)``, a pure function of the written rows (it must not touch the database),
    builds what the caller answers with; its result is ``tree.answer`` (not with ``execute``: the
    run changed the rows). When this call commits, ``answer`` runs on a helper thread during the
    commit (``tasks_app.perf.in_background``): on PostgreSQL the commit runs the deferred
    foreign-key checks, ≈ 190 ms for 10,000 tasks, and holds no GIL meanwhile. Inside an outer
    transaction it runs after the writes, on this thread."""
    commits_here = not transaction.get_connection().in_atomic_block
    pending = None
    with transaction.atomic():
        tree = _write_tree(
            owner=owner,
            tasks=tasks,
            actor=actor,
            source=source,
            drafts=drafts,
            original_tree=original_tree,
        )
        if execute:
            started = control.tree_execute(tree=tree, actor=actor, source=source, demo=demo)
            started.key_map = tree.key_map
            started.written_rows = started.written_edges = None  # the run changed them: read them back
            return started
        if answer is not None and commits_here:
            pending = in_background(answer, tree.written_rows, tree.written_edges)
    # committed
    if pending is not None:
        tree.answer = pending.result()
    elif answer is not None:
        tree.answer = answer(tree.written_rows, tree.written_edges)
    return tree


def _write_tree(*, owner, tasks, actor, source, drafts, original_tree) -> Tree:
    drafts = drafts if drafts is not None else parse_tree(tasks)
    grants.require_executors(actor, {d.executor for d in drafts}, source=source)
    check_granted(
        owner.pk, [d.resources for d in drafts]
    )  # a create or a copy names only granted shared resources
    ids = _new_ids(drafts)
    root = next(d for d in drafts if d.parent_key is None)
    tree = Tree.objects.create(
        id=ids[root.key], owner=owner, name=root.name, task_count=len(drafts), original_tree=original_tree
    )
    rows = _task_rows(drafts, ids, tree, owner)
    sql.insert_rows(Task, TASK_COLUMNS, rows)  # in position order: most task indexes append
    edges = [(tree.id, ids[up], ids[d.key], req, i) for d in drafts for i, (up, req) in enumerate(d.deps)]
    # in (upstream, downstream) order, so the unique index takes them in one pass over its pages
    # rather than at random (the ids are random UUIDs)
    sql.insert_rows(Dependency, DEPENDENCY_COLUMNS, sorted(edges, key=_edge_key))
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(tree.id, "tree.created", name=tree.name, tasks=len(rows), origin=root.origin_type)
    events.flush()
    tree.key_map = {d.key: str(ids[d.key]) for d in drafts}
    # what was written (TASK_COLUMNS rows in position order, DEPENDENCY_COLUMNS edges in list
    # order), so that a caller can answer with the new tree without reading it back
    tree.written_rows, tree.written_edges = rows, edges
    return tree
