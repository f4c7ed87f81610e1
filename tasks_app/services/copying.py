"""Copies, links and archives of tasks (SEMANTICS "Re-execution and copies").

Two entry points, both apflow-compatible:

- :func:`task_copy` -- the legacy ``tasks.copy`` (``minimal`` / ``full`` / ``custom``, ``children``,
  ``reset_fields`` as a list of names, ``save``). Which tasks are copied is the pure engine's
  decision (``engine.plan_copy``); this module loads the rows, builds drafts and creates the new
  tree through ``services.trees.tree_create``.
- :func:`task_clone` -- apflow 0.12+ ``tasks.clone`` (``copy`` / ``link`` / ``archive`` /
  ``mixed``, ``recursive``, ``reset_fields`` as a dict of overrides, ``save``).

Every variant writes a NEW tree owned by the original's owner and never touches the original's
rows (not even its event sequence): lineage lives on the new rows (``Task.original_task``,
``Task.origin_type``, ``Tree.original_tree``) and is queryable both ways
(``task.copies`` / ``task.original_task``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from tasks_app import selectors
from tasks_app.engine import CopyPlan, copy_order, plan_copy, remap, run_outcome, subtree, topological_order
from tasks_app.engine.states import Status
from tasks_app.exceptions import InvalidReference, InvalidTransition, ValidationError
from tasks_app.models import Task, Tree

from . import grants, locking, trees
from .event_log import EventBuffer
from .trees import TaskDraft, parse_task_fields

# Outcome fields of a task: reset by default on a copy, carried as a block when the status is kept.
RESETTABLE_FIELDS = ("status", "result", "error", "error_type", "progress", "started_at", "completed_at")
RESET_VALUES = {
    "status": Status.PENDING.value,
    "result": None,
    "error": None,
    "error_type": None,
    "progress": 0.0,
    "started_at": None,
    "completed_at": None,
}
# accepted in a legacy reset_fields list for apflow compatibility; always refreshed anyway
ALWAYS_RESET = frozenset({"updated_at"})

CLONE_ORIGIN_TYPES = ("copy", "link", "archive", "mixed")
# fields a tasks.clone reset_fields dict may set on every cloned (copied) task
CLONE_OVERRIDES = frozenset(
    {
        "status",
        "result",
        "error",
        "progress",
        "priority",
        "inputs",
        "params",
        "tags",
        "metadata",
        "name",
        "user_id",
    }
)

MSG_BAD_RESET_LIST = "reset_fields must be a list of field names"
MSG_UNKNOWN_RESET = "reset_fields: '{field}' cannot be reset; resettable fields are {allowed}"
MSG_BAD_ORIGIN = "origin_type must be one of copy, link, archive, mixed; got {value!r}"
MSG_BAD_OVERRIDES = "reset_fields must be an object of field -> value"
MSG_UNSAFE_OVERRIDE = "reset_fields: '{field}' cannot be set on a clone; allowed fields are {allowed}"
MSG_STATUS_OVERRIDE = "reset_fields: a clone's status can only be set to 'pending'"
MSG_PROGRESS_OVERRIDE = "reset_fields: progress must be a number between 0 and 1"
MSG_NAME_OVERRIDE = "reset_fields: name must be a non-empty string of at most {limit} characters"
MSG_CHANGED = "tree '{name}' changed while it was being copied (tasks were deleted); retry"
MSG_CROSS_USER = "links never cross users: user_id must be the owner of the original task"
MSG_FROZEN_OVERRIDE = "reset_fields: a {kind} keeps the original's values; only user_id may be given"
MSG_LINK_IDS_NEEDED = "origin_type 'mixed' needs link_task_ids (the tasks to link rather than copy)"
MSG_LINK_IDS_OUTSIDE = "link_task_ids: task '{ref}' is not among the cloned tasks"
MSG_LINK_NOT_COMPLETED = "only a fully completed tree can be linked; not completed: {tasks}"
MSG_ARCHIVE_RUNNING = "cannot archive while tasks are running: {tasks}"


@dataclass
class _Selection:
    """What to write: original ids (dependencies first), the copy's root, parents and
    dependencies keyed by original id (values are original ids too), and carried ids."""

    ids: list[str]
    root: str
    parents: dict[str, str | None]
    deps: dict[str, tuple]
    carry: frozenset[str] = frozenset()


# --- task_copy (legacy tasks.copy) -----------------------------------------------------------------


@grants.audit_denials
def task_copy(
    *,
    task: Task,
    mode: str = "minimal",
    children: bool = False,
    custom_task_ids=None,
    custom_include_children: bool = False,
    reset_fields=None,
    save: bool = True,
    actor=None,
    source: str = "api",
):
    """Copy ``task`` (apflow's legacy ``tasks.copy``) into a new tree and return the ``Tree``.

    Modes: ``minimal`` (the task's subtree plus every task depending on it, transitively; shared
    dependents once), ``full`` (the whole tree; the task's subtree and everything downstream are
    reset, unrelated completed tasks carried over as completed with their results), ``custom``
    (``custom_task_ids`` of the same tree plus their upstream dependencies; their subtrees too with
    ``custom_include_children`` or ``children``). Status, result, error, error_type, progress and
    timestamps are reset unless ``reset_fields`` (a list of names) narrows that; a task whose kept
    status is terminal keeps its whole outcome, a running task is always reset.

    With ``save=False`` nothing is written and the task array that ``tasks.create`` accepts is
    returned instead (new client ids, parents and dependencies remapped).

    Raise ``ValidationError`` for a bad mode or ``reset_fields``, ``InvalidReference`` for custom
    ids that are not in the task's tree.
    """
    reset = _reset_set(reset_fields)
    rows = selectors.tree_tasks(task.tree_id)
    graph = selectors.graph_snapshot(task.tree_id, rows)
    custom_ids = _resolve_refs(rows, custom_task_ids) if mode == "custom" else ()
    plan = plan_copy(
        graph,
        str(task.id),
        mode=mode,
        children=children,
        custom_ids=custom_ids,
        custom_include_children=custom_include_children,
    )
    selection = _select_plan(plan, graph)
    by_id = {str(r.id): r for r in rows}
    states = {
        i: _carried_state(by_id[i]) if i in plan.carry else _copy_state(by_id[i], reset)
        for i in selection.ids
    }
    origins = dict.fromkeys(selection.ids, "copy")
    # the copier needs the grant for every dangerous executor of the copied set
    grants.require_executors(actor, {by_id[i].executor for i in selection.ids}, source=source)
    if not save:
        return _task_array(selection, by_id, graph)
    tree = _write(
        task=task,
        selection=selection,
        by_id=by_id,
        states=states,
        origins=origins,
        overrides={},
        archived=False,
        actor=actor,
        source=source,
        extra={"mode": mode},
    )
    return tree


def _reset_set(reset_fields) -> frozenset[str]:
    if reset_fields is None:
        return frozenset(RESETTABLE_FIELDS)
    if not isinstance(reset_fields, list | tuple) or not all(isinstance(f, str) for f in reset_fields):
        raise ValidationError(MSG_BAD_RESET_LIST)
    unknown = [f for f in reset_fields if f not in RESETTABLE_FIELDS and f not in ALWAYS_RESET]
    if unknown:
        raise ValidationError(
            MSG_UNKNOWN_RESET.format(field=unknown[0], allowed=", ".join(RESETTABLE_FIELDS)),
            details={"fields": unknown},
        )
    return frozenset(f for f in reset_fields if f in RESETTABLE_FIELDS)


def _resolve_refs(rows: list[Task], refs) -> list[str]:
    """Map ids (UUIDs in any spelling), creation-time client ids or names of tasks of this tree to
    their ids; anything else (a foreign task's id included) is kept and reported by the engine."""
    if refs is None:
        return []
    if isinstance(refs, str):
        refs = [r.strip() for r in refs.split(",") if r.strip()]
    if not isinstance(refs, list | tuple):
        raise ValidationError("custom_task_ids must be a list of task ids")
    by_id = {str(r.id): str(r.id) for r in rows}
    by_ref = {r.ref: str(r.id) for r in rows if r.ref}
    by_name = {r.name: str(r.id) for r in rows}
    out = []
    for ref in refs:
        text = str(ref)
        try:
            text = str(uuid.UUID(text))
        except ValueError:
            pass
        out.append(by_id.get(text) or by_ref.get(str(ref)) or by_name.get(str(ref)) or str(ref))
    return out


def _select_plan(plan: CopyPlan, graph) -> _Selection:
    edges = remap(plan, graph, {i: i for i in plan.ids})
    return _Selection(list(plan.ids), plan.root, edges.parents, edges.deps, plan.carry)


def _outcome(row: Task) -> dict:
    return {f: getattr(row, f) for f in RESETTABLE_FIELDS}


def _carried_state(row: Task) -> dict:
    return _outcome(row)


def _copy_state(row: Task, reset: frozenset[str]) -> dict:
    """The copied task's outcome fields: reset ones get their defaults, others keep the original's.

    Consistency: a kept terminal status carries the whole outcome (a completed copy has its
    result); a running task can never be copied as running, so it is reset entirely.
    """
    if "status" not in reset and row.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        return _outcome(row)
    if row.status == Status.IN_PROGRESS:
        return dict(RESET_VALUES)
    state = {f: RESET_VALUES[f] if f in reset else getattr(row, f) for f in RESETTABLE_FIELDS}
    state["status"] = Status.PENDING.value
    return state


# --- task_clone (apflow 0.12+ tasks.clone) -----------------------------------------------------------


@grants.audit_denials
def task_clone(
    *,
    task: Task,
    origin_type: str = "copy",
    recursive: bool = True,
    reset_fields: dict | None = None,
    save: bool = True,
    link_task_ids=None,
    actor=None,
    source: str = "api",
):
    """Clone ``task`` into a new tree (apflow's ``tasks.clone``) and return the ``Tree``.

    - ``copy``: the task's subtree (``recursive``) plus the upstream dependencies it needs (and the
      ancestors joining them), reset to pending like :func:`task_copy`; ``recursive=False`` copies
      the task alone as a standalone root.
    - ``link``: new tasks of origin ``link`` referencing the originals (the end of a link chain),
      ``completed`` with the original's result, never executed. Every linked original must be
      completed (``InvalidTransition`` otherwise). Dependencies leaving the subtree are dropped.
    - ``archive``: a new frozen snapshot tree (``Tree.archived``; statuses and results carried;
      every later write refused). The originals are not relabelled. Refused while a selected
      task is running.
    - ``mixed``: like ``copy``, but the tasks in ``link_task_ids`` are linked instead.

    ``reset_fields`` is a dict of overrides applied to every copied task: ``status`` (only
    ``"pending"``), ``result``, ``error``, ``progress``, ``priority``, ``inputs``, ``params``,
    ``tags``, ``metadata``; ``name`` renames the clone's root; ``user_id`` must name the owner
    ("links never cross users"). Links and archives keep the original's values. With
    ``save=False`` nothing is written and a preview array is returned (for ``copy`` it is the
    array ``tasks.create`` accepts).
    """
    if origin_type not in CLONE_ORIGIN_TYPES:
        raise ValidationError(MSG_BAD_ORIGIN.format(value=origin_type), details={"origin_type": origin_type})
    overrides = _clean_overrides(reset_fields, task.owner, origin_type)
    rows = selectors.tree_tasks(task.tree_id)
    graph = selectors.graph_snapshot(task.tree_id, rows)
    by_id = {str(r.id): r for r in rows}
    tid = str(task.id)
    if not recursive:
        selection = _Selection([tid], tid, {tid: None}, {tid: ()})
    elif origin_type in ("copy", "mixed"):
        plan = plan_copy(graph, tid, mode="custom", custom_ids=[tid], custom_include_children=True)
        selection = _select_plan(plan, graph)
    else:
        ids = [i for i in topological_order(graph) if i in subtree(graph, tid)]
        selection = _select_plan(CopyPlan(ids, frozenset(), tid), graph)

    linked: set[str] = set()
    if origin_type == "link":
        linked = set(selection.ids)
    elif origin_type == "mixed":
        if not link_task_ids:
            raise ValidationError(MSG_LINK_IDS_NEEDED)
        wanted = _resolve_refs(rows, link_task_ids)
        outside = [ref for ref in wanted if ref not in selection.ids]
        if outside:
            raise InvalidReference(
                [MSG_LINK_IDS_OUTSIDE.format(ref=ref) for ref in outside], details={"ids": outside}
            )
        linked = set(wanted)
    not_completed = [i for i in selection.ids if i in linked and by_id[i].status != Status.COMPLETED]
    if not_completed:
        raise InvalidTransition(
            MSG_LINK_NOT_COMPLETED.format(tasks=_named(by_id, not_completed)),
            details={"tasks": [by_id[i].name for i in not_completed]},
        )
    if origin_type == "archive":
        running = [i for i in selection.ids if by_id[i].status == Status.IN_PROGRESS]
        if running:
            raise InvalidTransition(
                MSG_ARCHIVE_RUNNING.format(tasks=_named(by_id, running)),
                details={"tasks": [by_id[i].name for i in running]},
            )

    grants.require_executors(actor, {by_id[i].executor for i in selection.ids}, source=source)
    states: dict[str, dict] = {}
    origins: dict[str, str] = {}
    for i in selection.ids:
        if origin_type == "archive":
            states[i], origins[i] = _outcome(by_id[i]), "archive"
        elif i in linked:
            states[i], origins[i] = _outcome(by_id[i]), "link"
        else:
            states[i], origins[i] = _copy_state(by_id[i], frozenset(RESETTABLE_FIELDS)), "copy"
    if not save:
        return _task_array(selection, by_id, graph, states=states, origins=origins, overrides=overrides)
    return _write(
        task=task,
        selection=selection,
        by_id=by_id,
        states=states,
        origins=origins,
        overrides=overrides,
        archived=origin_type == "archive",
        actor=actor,
        source=source,
        extra={"origin_type": origin_type, "recursive": bool(recursive)},
    )


def _named(by_id, ids) -> str:
    return ", ".join(f"'{by_id[i].name}' ({by_id[i].status})" for i in ids)


def _owner_names(owner) -> set[str]:
    return {str(owner.pk), owner.get_username()}


def _clean_overrides(reset_fields, owner, origin_type: str) -> dict:
    if reset_fields is None:
        return {}
    if not isinstance(reset_fields, dict):
        raise ValidationError(MSG_BAD_OVERRIDES)
    unsafe = sorted(set(reset_fields) - CLONE_OVERRIDES)
    if unsafe:
        raise ValidationError(
            MSG_UNSAFE_OVERRIDE.format(field=unsafe[0], allowed=", ".join(sorted(CLONE_OVERRIDES))),
            details={"fields": unsafe},
        )
    overrides = dict(reset_fields)
    if "user_id" in overrides:
        user_id = overrides.pop("user_id")
        if user_id is not None and str(user_id) not in _owner_names(owner):
            raise ValidationError(MSG_CROSS_USER, details={"user_id": str(user_id)})
    if overrides and origin_type in ("link", "archive"):
        raise ValidationError(
            MSG_FROZEN_OVERRIDE.format(kind=origin_type), details={"fields": sorted(overrides)}
        )
    if "status" in overrides and overrides["status"] != Status.PENDING.value:
        raise ValidationError(MSG_STATUS_OVERRIDE, details={"status": overrides["status"]})
    if "progress" in overrides:
        progress = overrides["progress"]
        if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 1:
            raise ValidationError(MSG_PROGRESS_OVERRIDE)
        overrides["progress"] = float(progress)
    if "name" in overrides:
        name, limit = overrides["name"], settings.ARBOR_LIMITS["max_name_length"]
        if not isinstance(name, str) or not name.strip() or len(name) > limit:
            raise ValidationError(MSG_NAME_OVERRIDE.format(limit=limit))
    if "error" in overrides and overrides["error"] is not None and not isinstance(overrides["error"], str):
        overrides["error"] = str(overrides["error"])
    errors: list[str] = []
    plain = {k: v for k, v in overrides.items() if k in ("priority", "inputs", "params", "tags", "metadata")}
    cleaned = parse_task_fields(plain, "reset_fields", errors)
    if errors or set(cleaned) != set(plain):
        raise ValidationError("; ".join(errors) or "reset_fields: invalid values", details={"errors": errors})
    overrides.update(cleaned)
    return overrides


# --- building the new tree ---------------------------------------------------------------------------


def _draft(row: Task, selection: _Selection, state: dict, origin: str, overrides: dict) -> TaskDraft:
    i = str(row.id)
    original = (
        row.original_task_id
        if origin == "link" and row.origin_type == "link" and row.original_task_id
        else row.id
    )
    fields = {
        "priority": row.priority,
        "inputs": row.inputs,
        "params": row.params,
        "tags": row.tags,
        "metadata": row.metadata,
    }
    state = dict(state)
    if origin == "copy":
        fields.update(
            {k: overrides[k] for k in ("priority", "inputs", "params", "tags", "metadata") if k in overrides}
        )
        state.update({k: overrides[k] for k in ("status", "result", "error", "progress") if k in overrides})
    name = overrides["name"] if "name" in overrides and i == selection.root and origin == "copy" else row.name
    return TaskDraft(
        key=i,
        name=name,
        executor=row.executor,
        parent_key=selection.parents[i],
        deps=tuple((dep.id, dep.required) for dep in selection.deps[i]),
        schemas=row.schemas,
        resources=row.resources,
        timeout=row.timeout,
        max_retries=row.max_retries,
        retry_delay=row.retry_delay,
        ref=row.ref if row.ref and not _is_uuid(row.ref) else "",
        original_task_id=original,
        origin_type=origin,
        carry=state,
        **fields,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@transaction.atomic
def _write(*, task, selection, by_id, states, origins, overrides, archived, actor, source, extra) -> Tree:
    drafts = [_draft(by_id[i], selection, states[i], origins[i], overrides) for i in selection.ids]
    # locked: a concurrent delete of the source waits for the copy, or the copy sees it (read
    # before the lock) and answers NotFound / InvalidTransition instead of a foreign-key error
    source_tree = locking.lock_tree(task.tree_id)
    locking.reload_task(task.id)
    if Task.objects.filter(id__in=list(selection.ids)).count() != len(selection.ids):
        raise InvalidTransition(
            MSG_CHANGED.format(name=source_tree.name), details={"tree": str(source_tree.id)}
        )
    tree = trees.tree_create(
        owner=task.owner, tasks=None, drafts=drafts, original_tree=source_tree, actor=actor, source=source
    )
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    kinds = set(origins.values())
    if archived or kinds == {"link"}:
        # a snapshot or a set of links shows the outcome of the run it was taken from
        graph = selectors.graph_snapshot(tree.id)
        outcome = run_outcome(graph, started=True, cancelled_by_user=source_tree.cancel_requested)
        status = outcome.status.value
        Tree.objects.filter(id=tree.id).update(
            status=status,
            handled_failures=outcome.handled_failures,
            archived=archived,
            run_count=max(source_tree.run_count, 1),
            started_at=source_tree.started_at,
            finished_at=source_tree.finished_at,
            cancel_requested=source_tree.cancel_requested,
        )
        events.add(tree.id, "tree.status", status=status)
    events.add(
        tree.id,
        "tree.copied",
        original_tree=str(source_tree.id),
        original_task=str(task.id),
        tasks=len(drafts),
        origins=sorted(kinds),
        archived=archived,
        **extra,
    )
    events.flush()
    key_map = tree.key_map
    tree.refresh_from_db()
    tree.key_map = key_map
    return tree


def _task_array(
    selection: _Selection, by_id, graph, *, states=None, origins=None, overrides=None
) -> list[dict]:
    """The create-ready array (parents first): new client ids, parents and dependencies remapped.

    For a clone, link and archive entries also show ``origin_type``, ``original_task_id``,
    ``status`` and ``result`` (a preview: ``tasks.create`` refuses those read-only fields).
    """
    overrides = overrides or {}
    new_ids = {i: str(uuid.uuid4()) for i in selection.ids}
    plan = CopyPlan(selection.ids, frozenset(), selection.root)
    order = copy_order(plan, graph) if selection.root in graph else selection.ids
    taken: set[str] = set()
    out = []
    for i in order:
        row = by_id[i]
        origin = (origins or {}).get(i, "copy")
        name = (
            overrides["name"]
            if "name" in overrides and i == selection.root and origin == "copy"
            else row.name
        )
        name = _unique(name, taken)
        item = {
            "id": new_ids[i],
            "name": name,
            "executor": row.executor,
            "parent_id": new_ids[parent] if (parent := selection.parents[i]) else None,
            "dependencies": [{"id": new_ids[dep.id], "required": dep.required} for dep in selection.deps[i]],
            "priority": overrides.get("priority", row.priority) if origin == "copy" else row.priority,
            "inputs": overrides.get("inputs", row.inputs) if origin == "copy" else row.inputs,
            "params": overrides.get("params", row.params) if origin == "copy" else row.params,
            "schemas": row.schemas,
            "resources": row.resources,
            "timeout": row.timeout,
            "max_retries": row.max_retries,
            "retry_delay": row.retry_delay,
            "tags": overrides.get("tags", row.tags) if origin == "copy" else row.tags,
            "metadata": overrides.get("metadata", row.metadata) if origin == "copy" else row.metadata,
        }
        if item["parent_id"] is None:
            del item["parent_id"]
        for key in ("timeout", "max_retries", "retry_delay"):
            if item[key] is None:
                del item[key]
        if origin != "copy":
            state = (states or {}).get(i) or _outcome(row)
            item.update(
                {
                    "origin_type": origin,
                    "original_task_id": str(row.id),
                    "status": state["status"],
                    "result": state["result"],
                }
            )
        out.append(item)
    return out


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


__all__ = ["CLONE_ORIGIN_TYPES", "RESETTABLE_FIELDS", "task_clone", "task_copy"]
