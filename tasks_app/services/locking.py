"""Locking a tree for a write, and re-reading what the caller looked up before the lock.

A request looks its objects up (owner check, 404) and only then locks the tree row. Another
request may delete the tree or the task in between; the lock then finds nothing. Every write
locks through here, so that race answers ``NotFound`` (404, JSON-RPC -32001) — exactly what the
same request sent a moment later would get — instead of an unhandled ``DoesNotExist`` (500).
"""

from __future__ import annotations

from tasks_app.exceptions import NotFound
from tasks_app.models import Task, Tree

MSG_TREE_GONE = "tree '{id}' not found"
MSG_TASK_GONE = "task '{id}' not found"


def lock_tree(tree_id) -> Tree:
    """``SELECT ... FOR UPDATE`` the tree row; ``NotFound`` if it no longer exists."""
    try:
        return Tree.objects.select_for_update().get(id=tree_id)
    except Tree.DoesNotExist:
        raise NotFound(MSG_TREE_GONE.format(id=tree_id), details={"tree": str(tree_id)}) from None


def reload_task(task_id) -> Task:
    """The task as it is now, under the tree lock; ``NotFound`` if it was deleted meanwhile."""
    try:
        return Task.objects.get(id=task_id)
    except Task.DoesNotExist:
        raise NotFound(MSG_TASK_GONE.format(id=task_id), details={"task": str(task_id)}) from None
