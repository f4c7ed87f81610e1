"""A Python API mirroring apflow's ``TaskManager`` usage, on top of Arbor's services.

from tasks_app.taskmanager import TaskManager
tm = TaskManager(user)
tree = tm.create_tree([{"id": "a", "name": "a", "executor": "noop"}, ...])
tm.execute(tree.id)
tree = tm.wait(tree.id, timeout=30)
print(tm.get_task(tree.id).status, tm.stats())
"""

from __future__ import annotations

import time

from tasks_app import selectors
from tasks_app.engine.states import TERMINAL, Status
from tasks_app.models import Task, Tree
from tasks_app.services import control, trees
from tasks_app.worker.loop import refresh_connections


class TaskManager:
    def __init__(self, user, *, source: str = "python"):
        self.user = user
        self.source = source

    def create_tree(self, tasks) -> Tree:
        return trees.tree_create(owner=self.user, tasks=tasks, actor=self.user, source=self.source)

    def execute(self, tree_or_task_id) -> Tree:
        tree, task = self._resolve(tree_or_task_id, "change")
        return control.tree_execute(tree=tree, task=task, actor=self.user, source=self.source)

    def wait(self, tree_id, *, timeout: float | None = None, poll: float = 0.1, on_tick=None) -> Tree:
        """Block until the tree's run is terminal; raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            refresh_connections()
            tree = selectors.tree_get(self.user, tree_id)
            if on_tick is not None:
                on_tick(tree)
            if Status(tree.status) in TERMINAL:
                return tree
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"tree '{tree.name}' still {tree.status} after {timeout:g}s")
            time.sleep(poll)

    def get_task(self, task_id) -> Task:
        return selectors.task_get(self.user, task_id)

    def cancel(self, tree_or_task_id):
        tree, task = self._resolve(tree_or_task_id, "change")
        if task is None:  # the root: cancel the whole tree
            return control.tree_cancel(tree=tree, actor=self.user, source=self.source)
        return control.task_cancel(task=task, actor=self.user, source=self.source)

    def stats(self, tree_id=None) -> dict:
        return selectors.execution_stats(self.user, tree_id=tree_id)

    def _resolve(self, ident, action: str = "view"):
        task = selectors.task_get(self.user, ident, action)
        tree = task.tree
        return tree, (None if task.id == tree.id else task)
