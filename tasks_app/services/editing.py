"""Edit a tree that never ran in place: the editor's "Save" for a saved, never-run tree.

The body is the same task array as creation. Tasks whose ``id`` is the id of one of the tree's
tasks keep their row (and id); other tasks are added; tasks of the tree that are missing are
deleted. Everything happens in one transaction after the whole array was validated like a new tree
(names, executors, cycles, limits), so a refused edit changes nothing. Only a tree that never ran
(``run_count == 0``, every task pending, not archived) can be edited like this; a tree that ran
keeps its history and is changed through a copy, or task by task (PATCH).
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from tasks_app.engine.states import Status
from tasks_app.exceptions import InvalidTransition, TreeValidationError
from tasks_app.models import Dependency, Task, Tree

from . import grants, sql, task_fields
from .event_log import EventBuffer
from .resources import check_granted
from .tasks import _check_writable, _lock_tree, _refuse_linked
from .trees import DEPENDENCY_COLUMNS, TASK_COLUMN_INDEX, TASK_COLUMNS, _edge_key, _task_rows, parse_tree

MSG_HAS_RUN = "tree '{name}' has already run; edit a copy of it instead (its history stays as it is)"
MSG_NOT_PENDING = "tree '{name}' has tasks that are not pending; edit a copy of it instead"
MSG_ROOT = "the root of a tree cannot be replaced: keep the task with id {root} as the root"

EDITABLE = task_fields.COLUMNS  # the columns a tree edit replaces (services.task_fields)


@grants.audit_denials
@transaction.atomic
def tree_edit(*, tree: Tree, tasks, actor=None, source: str = "api") -> Tree:
    """Replace the tasks of a never-run tree with ``tasks`` (see the module docstring)."""
    drafts = parse_tree(tasks)
    # the same gates as a new tree: executor grants of the editor, shared resources of the owner
    grants.require_executors(actor, {d.executor for d in drafts}, source=source)
    check_granted(tree.owner_id, [d.resources for d in drafts])
    tree = _lock_tree(tree.id)
    _check_writable(tree)
    if tree.run_count:
        raise InvalidTransition(MSG_HAS_RUN.format(name=tree.name), details={"tree": str(tree.id)})
    existing = {str(t.id): t for t in Task.objects.filter(tree_id=tree.id).select_for_update()}
    if any(t.status != Status.PENDING.value for t in existing.values()):
        raise InvalidTransition(MSG_NOT_PENDING.format(name=tree.name), details={"tree": str(tree.id)})

    def existing_id(draft):
        return draft.ref if draft.ref in existing else None

    root = next(d for d in drafts if d.parent_key is None)
    if existing_id(root) != str(tree.id):
        raise TreeValidationError([MSG_ROOT.format(root=tree.id)])
    ids = {d.key: uuid.UUID(existing_id(d)) if existing_id(d) else uuid.uuid4() for d in drafts}
    kept = {existing_id(d): d for d in drafts if existing_id(d)}
    removed = [uuid.UUID(i) for i in existing if i not in kept]
    added = [d for d in drafts if not existing_id(d)]
    now = timezone.now()

    if removed:
        _refuse_linked(removed)
    Dependency.objects.filter(tree_id=tree.id).delete()  # replaced by the array's edges below
    # names may move between tasks and (tree, name) is unique: park every old name first, under a
    # name no client sends (PostgreSQL text cannot hold NUL, so the marker is U+0001)
    Task.objects.filter(tree_id=tree.id).update(name=Concat(Value("\x01parked:"), Cast("id", CharField())))
    if added:
        start = max([t.position for t in existing.values()], default=-1) + 1
        new_rows = _task_rows(added, ids, tree, tree.owner)
        i_position, i_updated = TASK_COLUMN_INDEX["position"], TASK_COLUMN_INDEX["updated_at"]
        for offset, row in enumerate(new_rows):
            row[i_position] = start + offset
            row[i_updated] = now
        sql.insert_rows(Task, TASK_COLUMNS, new_rows)
    changed = 0
    for task_id, d in kept.items():
        task = existing[task_id]
        before = [getattr(task, f) for f in EDITABLE] + [task.parent_id]
        for f in EDITABLE:
            setattr(task, f, getattr(d, f))
        task.parent_id = ids[d.parent_key] if d.parent_key else None
        changed += before != [getattr(task, f) for f in EDITABLE] + [task.parent_id]
        task.updated_at = now
    Task.objects.bulk_update(
        [existing[i] for i in kept], [*EDITABLE, "parent_id", "updated_at"], batch_size=500
    )
    if removed:  # after the re-parenting above, so no kept task goes with a removed parent
        Task.objects.filter(id__in=removed).delete()
    edges = [(tree.id, ids[up], ids[d.key], req, i) for d in drafts for i, (up, req) in enumerate(d.deps)]
    sql.insert_rows(Dependency, DEPENDENCY_COLUMNS, sorted(edges, key=_edge_key))

    Tree.objects.filter(id=tree.id).update(name=root.name, task_count=len(drafts), updated_at=now)
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(
        tree.id,
        "tree.edited",
        name=root.name,
        tasks=len(drafts),
        added=len(added),
        removed=len(removed),
        changed=changed,
    )
    events.flush()
    tree.refresh_from_db()
    tree.key_map = {d.key: str(ids[d.key]) for d in drafts}
    return tree
