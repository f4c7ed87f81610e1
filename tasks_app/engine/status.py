"""The run status of a whole tree, derived from its tasks (SEMANTICS "Tree status")."""

from __future__ import annotations

from tasks_app.engine.propagation import failure_fallout
from tasks_app.engine.snapshot import Graph
from tasks_app.engine.states import TERMINAL, UPSTREAM_FAILED, Status


def tree_status(graph: Graph, *, started: bool, cancelled_by_user: bool = False) -> Status:
    """Return the tree's run status.

    - ``pending``: not ``started`` and every task still pending;
    - ``in_progress``: a task is running, or an in-scope pending task can still run (one that
      ``failure_fallout`` would not cancel); out-of-scope pending tasks do not count;
    - otherwise ``failed`` if any task failed or was cancelled as ``upstream_failed``;
    - else ``cancelled`` if the run was cancelled by a user or any task was cancelled;
    - else ``completed`` (also for an empty, started tree).
    """
    nodes = graph.nodes.values()
    if not started and all(node.status is Status.PENDING for node in nodes):
        return Status.PENDING
    if any(node.status is Status.IN_PROGRESS for node in nodes):
        return Status.IN_PROGRESS
    doomed = failure_fallout(graph)
    if any(node.status is Status.PENDING and node.in_scope and node.id not in doomed for node in nodes):
        return Status.IN_PROGRESS
    if doomed or any(
        node.status is Status.FAILED
        or (node.status is Status.CANCELLED and node.error_type == UPSTREAM_FAILED)
        for node in nodes
    ):
        return Status.FAILED
    if cancelled_by_user or any(node.status is Status.CANCELLED for node in nodes):
        return Status.CANCELLED
    return Status.COMPLETED


def status_counts(graph: Graph) -> dict[str, int]:
    """Return ``{status value: number of tasks}`` with every status present (zero included)."""
    counts = {status.value: 0 for status in Status}
    for node in graph.nodes.values():
        counts[node.status.value] += 1
    return counts


def progress(graph: Graph) -> float:
    """Return the fraction of tasks that are terminal (``0.0`` for an empty graph)."""
    if not graph.nodes:
        return 0.0
    return sum(node.status in TERMINAL for node in graph.nodes.values()) / len(graph.nodes)
