"""Editing and deleting tasks and trees, and editing dependencies (one write path each).

Every function here locks the tree row first (``select_for_update``), so concurrent edits of one
tree serialise: two requests adding A -> B and B -> A cannot both commit, because the second one
validates against the graph the first one committed. Structural checks come from the pure
engine (``engine.validation``, ``engine.graph``); this module loads, asks, and writes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tasks_app import selectors
from tasks_app.engine import graph as graph_ops
from tasks_app.engine import validation
from tasks_app.engine.states import Status
from tasks_app.exceptions import (
    ArchivedTask,
    CannotDelete,
    InvalidReference,
    InvalidTransition,
    LimitExceeded,
    NotFound,
    TreeValidationError,
    UnknownExecutor,
    ValidationError,
)
from tasks_app.executors import registry
from tasks_app.live.events import publish_on_commit
from tasks_app.models import Dependency, Task, Tree

from . import grants, locking, scheduling, task_fields
from .event_log import EventBuffer
from .resources import check_granted
from .trees import parse_task_fields

# Fields a PATCH may change (the declaration: services.task_fields); ``parent`` is accepted as
# an alias of ``parent_id``.
EDITABLE_FIELDS = task_fields.UPDATABLE
PARENT_ALIAS = task_fields.PARENT_ALIAS
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "tree",
        "tree_id",
        "owner",
        "owner_id",
        "ref",
        "position",
        "status",
        "result",
        "error",
        "error_type",
        "progress",
        "progress_message",
        "waiting_reason",
        "attempt_count",
        "attempts",
        "scheduled",
        "ready_at",
        "next_attempt_at",
        "current_attempt",
        "cancel_requested",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "original_task",
        "original_task_id",
        "origin_type",
        "is_root",
        "has_children",
        "has_references",
        "task_tree_id",
        "user_id",
    }
)
# Null in an edit: the settings-level default (back to None) or the empty value.
NULLABLE_FIELDS = task_fields.NULL_RESETS
EMPTY_DEFAULTS = task_fields.EMPTY_DEFAULTS

MSG_READ_ONLY = "field '{field}' is read-only"
MSG_UNKNOWN_FIELD = "unknown field '{field}'"
MSG_NOT_AN_OBJECT = "the update must be an object of fields"
MSG_NOT_PENDING = "task '{name}' is {status}; only pending tasks can be edited"
MSG_IN_RUN = (
    "task '{name}' is part of the tree's current run; cancel the run (or wait for it to finish) "
    "before editing it"
)
MSG_ARCHIVED = "tree '{name}' is archived and read-only"
MSG_BAD_NAME = "name must be a non-empty string of at most {limit} characters"
MSG_DUPLICATE_NAME = "duplicate task name '{name}'"
MSG_ROOT_PARENT = "task '{name}' is the root of its tree and cannot have a parent"
MSG_NEEDS_PARENT = "task '{name}' is not the root; it must keep a parent"
MSG_BAD_EXECUTOR = "executor must be a non-empty string"
MSG_BOTH_PARENTS = "give either 'parent' or 'parent_id', not both"
MSG_NOT_NULLABLE = "{field} cannot be null"
MSG_DIFFERENT_TREE = (
    "task '{down}' and task '{up}' are in different trees; dependencies must stay inside one tree"
)
MSG_NO_EDGE = "task '{down}' does not depend on task '{up}'"
MSG_DELETE_RUNNING = "cannot delete: task {names} still running"
MSG_DELETE_NEEDED = "cannot delete: task {names} needed by {dependents} outside the deleted tasks"
MSG_DELETE_LINKED = "cannot delete: task {names} linked by {links}"
MSG_TREE_RUNNING = "cannot delete tree '{name}' while it is in progress; cancel it first"


def _lock_tree(tree_id) -> Tree:
    return locking.lock_tree(tree_id)


def _check_writable(tree: Tree) -> None:
    if tree.archived:
        raise ArchivedTask(MSG_ARCHIVED.format(name=tree.name), details={"tree": str(tree.id)})


def _check_editable(tree: Tree, task: Task) -> None:
    """A task is editable while it is pending and not part of an active run of its tree."""
    if task.status != Status.PENDING.value:
        raise InvalidTransition(
            MSG_NOT_PENDING.format(name=task.name, status=task.status),
            details={"task": str(task.id), "status": task.status},
        )
    if tree.status == Status.IN_PROGRESS.value and task.scheduled:
        raise InvalidTransition(MSG_IN_RUN.format(name=task.name), details={"task": str(task.id)})


def _quoted(names) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _actor_id(actor):
    return getattr(actor, "pk", None)


# --- reference resolution inside one tree ------------------------------------------------------


class _TreeIndex:
    """Resolve a reference given by a client (task id, creation-time client id, or name) to a task
    of one tree. Anything else, a foreign task's id included, stays unresolved."""

    def __init__(self, tasks: list[Task]) -> None:
        self.by_id = {str(t.id): t for t in tasks}
        self.by_ref: dict[str, Task] = {}
        self.by_name: dict[str, Task] = {}
        for t in tasks:
            if t.ref:
                self.by_ref.setdefault(t.ref, t)
            self.by_name.setdefault(t.name, t)

    def resolve(self, ref) -> Task | None:
        text = str(ref)
        try:
            text_id = str(uuid.UUID(text))
        except ValueError:
            text_id = text
        return self.by_id.get(text_id) or self.by_ref.get(text) or self.by_name.get(text)


def _parse_dependency_list(raw, name: str, errors: list[str]) -> list[tuple[str, bool]]:
    """apflow's dependency list: ids/names, or ``{"id"|"name": x, "required": bool}`` objects."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(f"task '{name}': dependencies must be a list")
        return []
    out: list[tuple[str, bool]] = []
    for item in raw:
        required = True
        if isinstance(item, dict):
            ref = item.get("id") or item.get("name")
            required = item.get("required", True)
        else:
            ref = item
        if isinstance(ref, bool) or not isinstance(ref, str | int) or ref == "":
            errors.append(validation.DEPENDENCY_WITHOUT_REF.format(name=name))
            continue
        if not isinstance(required, bool):
            errors.append(validation.BAD_REQUIRED.format(name=name, ref=ref))
            continue
        out.append((str(ref), required))
    return out


# --- task_update -------------------------------------------------------------------------------


def _check_fields(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError(MSG_NOT_AN_OBJECT)
    data = dict(data)
    if PARENT_ALIAS in data:
        if "parent_id" in data:
            raise ValidationError(MSG_BOTH_PARENTS)
        data["parent_id"] = data.pop(PARENT_ALIAS)
    read_only = sorted(set(data) & READ_ONLY_FIELDS)
    if read_only:
        raise ValidationError(
            "; ".join(MSG_READ_ONLY.format(field=f) for f in read_only), details={"fields": read_only}
        )
    unknown = sorted(set(data) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(
            "; ".join(MSG_UNKNOWN_FIELD.format(field=f) for f in unknown), details={"fields": unknown}
        )
    return data


@grants.audit_denials
@transaction.atomic
def task_update(*, task: Task, data: dict, actor=None, source: str = "api") -> Task:
    """Change the editable fields of a pending task and return it.

    Raise ``ArchivedTask`` for an archived tree; ``InvalidTransition`` unless the task is pending
    and outside its tree's active run; ``ValidationError`` for read-only or unknown fields and
    bad values (``TreeValidationError`` listing every problem); ``UnknownExecutor``;
    ``InvalidReference`` for a parent or dependency that is not a task of the same tree (a
    foreign task looks exactly like a missing one); ``DependencyCycle`` naming the path;
    ``LimitExceeded`` for the tree depth or dependency count limits; ``ResourceNotGranted`` for
    ``resources`` naming a shared resource the task's owner is not granted. ``dependencies``
    replaces the whole list (same format as creation).
    """
    data = _check_fields(data)
    tree = _lock_tree(task.tree_id)
    _check_writable(tree)
    task = locking.reload_task(task.id)
    _check_editable(tree, task)
    if not data:
        return task
    limits = settings.ARBOR_LIMITS
    label = f"task '{task.name}'"
    errors: list[str] = []
    plain = {k: v for k, v in data.items() if k not in ("name", "executor", "parent_id", "dependencies")}
    changes = parse_task_fields({k: v for k, v in plain.items() if v is not None}, label, errors)
    for key, value in plain.items():
        if value is None:
            if key in NULLABLE_FIELDS:
                changes[key] = None
            elif key in EMPTY_DEFAULTS:
                changes[key] = EMPTY_DEFAULTS[key]()
            else:
                errors.append(f"{label}: " + MSG_NOT_NULLABLE.format(field=key))

    tasks = selectors.tree_tasks(tree.id)
    index = _TreeIndex(tasks)
    graph = selectors.graph_snapshot(tree.id, tasks)
    tid = str(task.id)

    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > limits["max_name_length"]:
            errors.append(f"{label}: " + MSG_BAD_NAME.format(limit=limits["max_name_length"]))
        elif name != task.name:
            if any(t.name == name for t in tasks if t.id != task.id):
                errors.append(MSG_DUPLICATE_NAME.format(name=name))
            else:
                changes["name"] = name

    if "executor" in data:
        executor = data["executor"]
        if not isinstance(executor, str) or not executor:
            errors.append(f"{label}: {MSG_BAD_EXECUTOR}")
        else:
            executor = registry.ALIASES.get(executor, executor)
            if executor not in registry.registered():
                raise UnknownExecutor(
                    f"{label}: unknown executor '{executor}'",
                    details={"task": task.name, "executor": executor},
                )
            changes["executor"] = executor

    if "inputs" in changes or "executor" in changes:
        problems = registry.check_inputs(
            changes.get("executor", task.executor), changes.get("inputs", task.inputs)
        )
        errors.extend(f"{label}: {problem}" for problem in problems)

    if "parent_id" in data:
        _update_parent(task, data["parent_id"], index, graph, label, errors, changes, limits)

    new_deps = None
    if "dependencies" in data:
        raw = _parse_dependency_list(data["dependencies"], task.name, errors)
        if not errors:
            resolved = []
            for ref, required in raw:
                target = index.resolve(ref)
                resolved.append((str(target.id) if target is not None else ref, required))
            new_deps = validation.validate_dependencies(
                graph, tid, resolved, max_deps=limits["max_dependencies_per_task"]
            )
    if errors:
        raise TreeValidationError(errors)
    # the executor the task will have: editing a dangerous task's inputs chooses what it runs
    grants.require_executors(actor, [changes.get("executor", task.executor)], source=source)
    if changes.get("resources"):
        check_granted(task.owner_id, [changes["resources"]])
    if not changes and new_deps is None:
        return task

    now = timezone.now()
    fields = sorted(changes)
    for key, value in changes.items():
        setattr(task, key, value)
    if new_deps is not None:
        Dependency.objects.filter(downstream_id=task.id).delete()
        Dependency.objects.bulk_create(
            [
                Dependency(
                    tree_id=tree.id,
                    upstream_id=dep.id,
                    downstream_id=task.id,
                    required=dep.required,
                    position=i,
                )
                for i, dep in enumerate(new_deps)
            ]
        )
        # readiness is recomputed when the task is next scheduled
        task.ready_at = None
        changes["ready_at"] = None
        fields.append("dependencies")
    if changes:
        task.updated_at = now
        task.save(update_fields=[*changes, "updated_at"])
    if "name" in changes and task.parent_id is None:
        Tree.objects.filter(id=tree.id).update(name=task.name, updated_at=now)
    events = EventBuffer(actor_id=_actor_id(actor), source=source)
    events.add(tree.id, "task.updated", task_id=task.id, fields=fields)
    events.flush()
    return task


def _update_parent(task, raw_parent, index, graph, label, errors, changes, limits) -> None:
    if task.parent_id is None:
        if raw_parent not in (None, ""):
            errors.append(MSG_ROOT_PARENT.format(name=task.name))
        return
    if raw_parent in (None, ""):
        errors.append(MSG_NEEDS_PARENT.format(name=task.name))
        return
    if isinstance(raw_parent, bool) or not isinstance(raw_parent, str | int):
        errors.append(validation.BAD_PARENT.format(name=task.name))
        return
    parent = index.resolve(raw_parent)
    if parent is None:
        raise InvalidReference([validation.UNKNOWN_PARENT.format(name=task.name, ref=raw_parent)])
    if parent.id == task.parent_id:
        return
    tid = str(task.id)
    if parent.id == task.id:
        errors.append(validation.SELF_PARENT.format(name=task.name))
        return
    if str(parent.id) in graph_ops.subtree(graph, tid):
        chain = [task.name, parent.name]
        for i in graph_ops.parent_chain(graph, str(parent.id)):
            chain.append(graph.name(i))
            if i == tid:
                break
        errors.append(validation.PARENT_CYCLE.format(path=" -> ".join(chain)))
        return
    moved = graph.replace({tid: {"parent": str(parent.id)}})
    levels = graph_ops.depth(moved)
    if levels > limits["max_tree_depth"]:
        raise LimitExceeded(
            validation.TOO_DEEP.format(depth=levels, limit=limits["max_tree_depth"]),
            limit="max_tree_depth",
            details={"value": limits["max_tree_depth"]},
        )
    changes["parent_id"] = parent.id


# --- dependencies ------------------------------------------------------------------------------


def _same_tree(downstream: Task, upstream: Task) -> None:
    if downstream.tree_id != upstream.tree_id:
        raise InvalidReference(
            [MSG_DIFFERENT_TREE.format(down=downstream.name, up=upstream.name)],
            details={"ids": [str(upstream.id)]},
        )


@transaction.atomic
def dependency_add(
    *, downstream: Task, upstream: Task, required: bool = True, actor=None, source: str = "api"
) -> Dependency:
    """Make ``downstream`` depend on ``upstream`` (or change ``required`` of an existing edge).

    Raise ``InvalidReference`` across trees, ``DependencyCycle`` naming the path, ``LimitExceeded``
    over the per-task dependency limit, and like ``task_update`` when ``downstream`` is not
    editable.
    """
    _same_tree(downstream, upstream)
    tree = _lock_tree(downstream.tree_id)
    _check_writable(tree)
    downstream = locking.reload_task(downstream.id)
    upstream = locking.reload_task(upstream.id)
    _check_editable(tree, downstream)
    graph = selectors.graph_snapshot(tree.id)
    validation.validate_new_edge(graph, str(upstream.id), str(downstream.id))
    existing = Dependency.objects.filter(downstream_id=downstream.id, upstream_id=upstream.id).first()
    events = EventBuffer(actor_id=_actor_id(actor), source=source)
    now = timezone.now()
    if existing is not None:
        if existing.required != required:
            existing.required = required
            existing.save(update_fields=["required"])
            events.add(
                tree.id,
                "task.dependency_changed",
                task_id=downstream.id,
                upstream=str(upstream.id),
                required=required,
            )
            events.flush()
        return existing
    edges = Dependency.objects.filter(downstream_id=downstream.id)
    limit = settings.ARBOR_LIMITS["max_dependencies_per_task"]
    count = edges.count()
    if count + 1 > limit:
        raise LimitExceeded(
            validation.TOO_MANY_DEPS.format(name=downstream.name, count=count + 1, limit=limit),
            limit="max_dependencies_per_task",
            details={"value": limit},
        )
    last = edges.order_by("-position").values_list("position", flat=True).first()
    edge = Dependency.objects.create(
        tree_id=tree.id,
        upstream_id=upstream.id,
        downstream_id=downstream.id,
        required=required,
        position=0 if last is None else last + 1,
    )
    Task.objects.filter(id=downstream.id).update(ready_at=None, updated_at=now)
    events.add(
        tree.id, "task.dependency_added", task_id=downstream.id, upstream=str(upstream.id), required=required
    )
    events.flush()
    return edge


@transaction.atomic
def dependency_remove(*, downstream: Task, upstream: Task, actor=None, source: str = "api") -> None:
    """Remove the edge ``downstream -> upstream``; raise ``NotFound`` if there is none."""
    tree = _lock_tree(downstream.tree_id)
    _check_writable(tree)
    downstream = locking.reload_task(downstream.id)
    _check_editable(tree, downstream)
    deleted, _ = Dependency.objects.filter(downstream_id=downstream.id, upstream_id=upstream.id).delete()
    if not deleted:
        raise NotFound(MSG_NO_EDGE.format(down=downstream.name, up=upstream.name))
    Task.objects.filter(id=downstream.id).update(updated_at=timezone.now())
    events = EventBuffer(actor_id=_actor_id(actor), source=source)
    events.add(tree.id, "task.dependency_removed", task_id=downstream.id, upstream=str(upstream.id))
    events.flush()


# --- deletion ----------------------------------------------------------------------------------


@transaction.atomic
def task_delete(*, task: Task, actor=None, source: str = "api") -> dict:
    """Delete a task with its organisational subtree and return ``{"deleted": [ids], "tree": id}``.

    Deleting the root deletes the whole tree. Raise ``ArchivedTask`` for an archived tree and
    ``CannotDelete`` when a task in the set is running, or a task outside the set depends on (or
    is a link to) a task inside it; the message names them.
    """
    tree = _lock_tree(task.tree_id)
    _check_writable(tree)
    task = locking.reload_task(task.id)
    if task.id == tree.id or task.parent_id is None:
        return _tree_delete(tree, actor, source)
    graph = selectors.graph_snapshot(tree.id)
    tid = str(task.id)
    doomed = graph_ops.subtree(graph, tid)
    running = [
        graph.name(i)
        for i in sorted(doomed, key=lambda i: graph.node(i).created)
        if graph.node(i).status is Status.IN_PROGRESS
    ]
    if running:
        raise CannotDelete(MSG_DELETE_RUNNING.format(names=_quoted(running)), details={"running": running})
    doomed_uuids = [uuid.UUID(i) for i in doomed]
    outside = (
        Dependency.objects.filter(upstream_id__in=doomed_uuids)
        .exclude(downstream_id__in=doomed_uuids)
        .values_list("upstream__name", "downstream__name")
    )
    needed = sorted({up for up, _ in outside})
    if needed:
        dependents = sorted({down for _, down in outside})
        raise CannotDelete(
            MSG_DELETE_NEEDED.format(names=_quoted(needed), dependents=_quoted(dependents)),
            details={"tasks": needed, "dependents": dependents},
        )
    _refuse_linked(doomed_uuids)
    names = [graph.name(i) for i in sorted(doomed, key=lambda i: graph.node(i).created)]
    Task.objects.filter(id__in=doomed_uuids).delete()
    now = timezone.now()
    Tree.objects.filter(id=tree.id).update(task_count=F("task_count") - len(doomed), updated_at=now)
    events = EventBuffer(actor_id=_actor_id(actor), source=source)
    events.add(tree.id, "task.deleted", task_id=task.id, ids=sorted(doomed), names=names)
    scheduling.refresh_tree_status([tree.id], events, now)
    events.flush()
    return {"tree": str(tree.id), "deleted": sorted(doomed), "tree_deleted": False}


def _refuse_linked(task_ids) -> None:
    links = (
        Task.objects.filter(original_task_id__in=task_ids, origin_type="link")
        .exclude(id__in=task_ids)
        .values_list("original_task__name", "name")
    )
    if links:
        names = sorted({a for a, _ in links})
        linked_by = sorted({b for _, b in links})
        raise CannotDelete(
            MSG_DELETE_LINKED.format(names=_quoted(names), links=_quoted(linked_by)),
            details={"tasks": names, "links": linked_by},
        )


@transaction.atomic
def tree_delete(*, tree: Tree, actor=None, source: str = "api") -> dict:
    """Delete a whole tree (tasks, dependencies, attempts and events) and return
    ``{"deleted": [ids], "tree": id}``. Raise ``ArchivedTask`` for an archived tree and
    ``CannotDelete`` while it is in progress or one of its tasks is linked from another tree."""
    tree = _lock_tree(tree.id)
    _check_writable(tree)
    return _tree_delete(tree, actor, source)


def _tree_delete(tree: Tree, actor, source: str) -> dict:
    running = Task.objects.filter(tree_id=tree.id, status=Status.IN_PROGRESS.value).exists()
    if tree.status == Status.IN_PROGRESS.value or running:
        raise CannotDelete(MSG_TREE_RUNNING.format(name=tree.name), details={"tree": str(tree.id)})
    ids = list(Task.objects.filter(tree_id=tree.id).values_list("id", flat=True))
    _refuse_linked(ids)
    # children first is not needed: the collector deletes the whole tree in one pass
    Tree.objects.filter(id=tree.id).delete()
    # the tree's event log goes with it; live clients still hear about the deletion
    publish_on_commit(
        [
            {
                "type": "event",
                "tree": str(tree.id),
                "seq": None,
                "kind": "tree.deleted",
                "task": None,
                "data": {"tasks": len(ids)},
                "actor": getattr(actor, "username", None) or None,
                "source": source,
                "at": timezone.now().isoformat(),
            }
        ]
    )
    return {"tree": str(tree.id), "deleted": sorted(str(i) for i in ids), "tree_deleted": True}


__all__ = [
    "EDITABLE_FIELDS",
    "READ_ONLY_FIELDS",
    "dependency_add",
    "dependency_remove",
    "task_delete",
    "task_update",
    "tree_delete",
]
