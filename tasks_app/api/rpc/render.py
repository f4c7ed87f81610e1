"""apflow's task dicts (the REST task fields plus apflow's names), attempts and nested trees."""

from __future__ import annotations

import functools
from collections import defaultdict

from django.contrib.auth import get_user_model

from tasks_app import selectors
from tasks_app.models import Dependency, Task, Tree

# --- rendering ---------------------------------------------------------------------------------------


def iso(value) -> str | None:
    """ISO 8601, UTC written as ``Z`` (DRF's format, as on the REST API)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _str(value) -> str | None:
    return None if value is None else str(value)


def _dependency_map(task_ids) -> dict:
    out: dict = defaultdict(list)
    rows = (
        Dependency.objects.filter(downstream_id__in=list(task_ids))
        .order_by("downstream_id", "position")
        .values_list("downstream_id", "upstream_id", "upstream__name", "required")
    )
    for down, up, name, required in rows:
        out[down].append({"id": str(up), "name": name, "required": required})
    return out


def task_dicts(tasks: list[Task]) -> list[dict]:
    """apflow task dicts: the fields of the REST task representation plus apflow's names for the
    same values (``parent_id``, ``task_tree_id``, ``user_id``, ``original_task_id``),
    ``has_children`` and ``has_references``. Four queries whatever the number of tasks."""
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    deps = _dependency_map(ids)
    with_children = set(Task.objects.filter(parent_id__in=ids).values_list("parent_id", flat=True).distinct())
    referenced = set(
        Task.objects.filter(original_task_id__in=ids).values_list("original_task_id", flat=True).distinct()
    )
    owners = dict(
        get_user_model().objects.filter(pk__in={t.owner_id for t in tasks}).values_list("pk", "username")
    )
    out = []
    for task in tasks:
        out.append(
            {
                "id": str(task.id),
                "tree": str(task.tree_id),
                "parent": _str(task.parent_id),
                "name": task.name,
                "ref": task.ref,
                "executor": task.executor,
                "priority": task.priority,
                "inputs": task.inputs,
                "params": task.params,
                "schemas": task.schemas,
                "resources": task.resources,
                "timeout": task.timeout,
                "max_retries": task.max_retries,
                "retry_delay": task.retry_delay,
                "tags": task.tags,
                "metadata": task.metadata,
                "status": task.status,
                "result": task.result,
                "error": task.error,
                "error_type": task.error_type,
                "progress": task.progress,
                "progress_message": task.progress_message,
                "waiting_reason": task.waiting_reason,
                "attempt_count": task.attempt_count,
                "dependencies": deps.get(task.id, []),
                "created_at": iso(task.created_at),
                "updated_at": iso(task.updated_at),
                "started_at": iso(task.started_at),
                "completed_at": iso(task.completed_at),
                "original_task": _str(task.original_task_id),
                "origin_type": task.origin_type,
                "position": task.position,
                "is_root": task.parent_id is None,
                # apflow's names
                "parent_id": _str(task.parent_id),
                "task_tree_id": str(task.tree_id),
                "user_id": owners.get(task.owner_id),
                "original_task_id": _str(task.original_task_id),
                "has_children": task.id in with_children,
                "has_references": task.id in referenced,  # copies or links point at it
            }
        )
    return out


def task_dict(task: Task) -> dict:
    return task_dicts([task])[0]


def attempt_dict(attempt) -> dict:
    return {
        "id": str(attempt.id),
        "number": attempt.number,
        "outcome": attempt.outcome,
        "executor": attempt.executor,
        "worker": attempt.worker,
        "effective_inputs": attempt.effective_inputs,
        "result": attempt.result,
        "error": attempt.error,
        "error_type": attempt.error_type,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "duration": attempt.duration,
    }


def _preorder(tasks: list[Task], root_id) -> list[Task]:
    children: dict = defaultdict(list)
    for t in sorted(tasks, key=lambda t: t.position):
        children[t.parent_id].append(t)
    by_id = {t.id: t for t in tasks}
    out: list[Task] = []
    stack = [by_id[root_id]]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(children[current.id]))
    return out


def tree_dict(tasks: list[Task], root_id) -> dict:
    """``{"task": ..., "children": [...]}`` of the subtree at ``root_id`` (children by position)."""
    subtree = _preorder(tasks, root_id)
    rendered = {d["id"]: d for d in task_dicts(subtree)}
    children: dict = defaultdict(list)
    for t in subtree:
        if t.id != root_id:
            children[t.parent_id].append(t.id)

    def build(task_id) -> dict:
        return {"task": rendered[str(task_id)], "children": [build(c) for c in children[task_id]]}

    return build(root_id)


def output_list(tree: Tree):
    """apflow's ``output_list``: one task as a dict, several as a list in pre-order.

    A tree just created by ``trees.tree_create`` is rendered from the rows it wrote, as ``POST
    /api/v1/trees/`` does, instead of being read back: during its commit when the create asked for
    it (``answer=written_answer(...)``, its ``answer``), else here (it carries ``written_rows``)."""
    if getattr(tree, "answer", None) is not None:
        rendered = tree.answer
    elif getattr(tree, "written_rows", None) is not None:
        rendered = _written_task_dicts(tree)
    else:
        tasks = _preorder(selectors.tree_tasks(tree.id), tree.id)
        rendered = task_dicts(tasks)
    return rendered[0] if len(rendered) == 1 else rendered


def written_answer(username: str):
    """The ``answer`` of a JSON-RPC create for ``trees.tree_create``: :func:`written_task_dicts`
    with the owner's name (known to the caller: no query on the helper thread)."""
    return functools.partial(written_task_dicts, username=username)


def _written_task_dicts(tree: Tree) -> list[dict]:
    from tasks_app.perf import gc_paused

    with gc_paused():
        username = (
            get_user_model().objects.filter(pk=tree.owner_id).values_list("username", flat=True).first()
        )
        return written_task_dicts(tree.written_rows, tree.written_edges, username=username)


def written_task_dicts(rows: list, edges: list, *, username) -> list[dict]:
    """:func:`task_dicts` of a just created tree, in pre-order, from the rows written (the REST
    fast path, ``serializers.render_written_tasks``): every task is new, so its children and the
    tasks that reference it can only be among these rows. Pure: no database."""
    from tasks_app.api.serializers import render_written_tasks

    rest = render_written_tasks(rows, edges)
    parents = {d["parent"] for d in rest}
    referenced = {d["original_task"] for d in rest}
    children: dict = defaultdict(list)
    root = None
    for d in sorted(rest, key=lambda d: d["position"]):
        if d["parent"] is None:
            root = root or d
        else:
            children[d["parent"]].append(d)
    out: list[dict] = []
    stack = [root] if root is not None else []
    while stack:
        d = stack.pop()
        d["parent_id"] = d["parent"]
        d["task_tree_id"] = d["tree"]
        d["user_id"] = username
        d["original_task_id"] = d["original_task"]
        d["has_children"] = d["id"] in parents
        d["has_references"] = d["id"] in referenced
        out.append(d)
        stack.extend(reversed(children[d["id"]]))
    return out
