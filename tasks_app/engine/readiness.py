"""Which pending tasks may start, and in which order (SEMANTICS "Readiness and order" 1-2).

A task is *ready* when it is pending, part of the current run, every required dependency is
``completed`` (a ``null`` result counts) and every optional dependency is terminal. Ready tasks
start in ``order_key`` order: ``(priority, ready_at, created, id)`` -- lower priority value
first, then the task that became ready earliest (``None`` sorts last), then creation order.
Priority never overrides a dependency: it only orders tasks that are already ready.

Functions that take ``now`` treat a task whose ``ready_at`` lies in the future (a retry
waiting out its backoff) as not ready yet; without ``now`` time is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from tasks_app.engine.snapshot import Graph, Node
from tasks_app.engine.states import TERMINAL, Status

WAITING_FOR = "waiting for {names}"
WAITING_FOR_RETRY = "waiting to retry"
NOT_IN_SCOPE = "not part of the current run"
BLOCKED_FAILED = "upstream task '{name}' failed"
BLOCKED_CANCELLED = "upstream task '{name}' was cancelled"

_BLOCKING = frozenset({Status.FAILED, Status.CANCELLED})


def order_key(node: Node) -> tuple[int, float, int, str]:
    """Return the queue position of a ready task: ``(priority, ready_at or +inf, created, id)``."""
    ready_at = math.inf if node.ready_at is None else float(node.ready_at)
    return (node.priority, ready_at, node.created, node.id)


def deps_satisfied(graph: Graph, node_id: str) -> bool:
    """Return whether every required dependency is completed and every optional one terminal.

    A dependency on a task that is not in the graph is never satisfied.
    """
    for dep in graph.node(node_id).deps:
        upstream = graph.get(dep.id)
        if upstream is None:
            return False
        if dep.required and upstream.status is not Status.COMPLETED:
            return False
        if not dep.required and upstream.status not in TERMINAL:
            return False
    return True


def is_ready(graph: Graph, node_id: str, *, now: float | None = None) -> bool:
    """Return whether ``node_id`` may start now (see the module docstring)."""
    node = graph.node(node_id)
    if node.status is not Status.PENDING or not node.in_scope:
        return False
    if now is not None and node.ready_at is not None and node.ready_at > now:
        return False
    return deps_satisfied(graph, node_id)


def blocking_upstream(graph: Graph, node_id: str) -> str | None:
    """Return the id of the first required dependency that ended ``failed`` or ``cancelled``
    (so ``node_id`` can never run in this run), else ``None``."""
    for dep in graph.node(node_id).deps:
        upstream = graph.get(dep.id)
        if dep.required and upstream is not None and upstream.status in _BLOCKING:
            return dep.id
    return None


def ready_ids(graph: Graph, *, now: float | None = None) -> list[str]:
    """Return every ready task id, in queue order."""
    ready = [node for node in graph.nodes.values() if is_ready(graph, node.id, now=now)]
    return [node.id for node in sorted(ready, key=order_key)]


def newly_ready(graph: Graph, finished_ids: Iterable[str], *, now: float | None = None) -> list[str]:
    """Return the dependents of ``finished_ids`` that are ready in ``graph``, in queue order.

    ``graph`` must already hold the finished tasks' new statuses (and any failure fallout).
    """
    candidates: set[str] = set()
    for finished in finished_ids:
        candidates.update(graph.dependents(finished))
    ready = [graph.nodes[node_id] for node_id in candidates if is_ready(graph, node_id, now=now)]
    return [node.id for node in sorted(ready, key=order_key)]


def waiting_reason(graph: Graph, node_id: str, *, now: float | None = None) -> str | None:
    """Return why a pending task is not running, or ``None`` (not pending, or ready).

    E.g. ``"waiting for 'a', 'b'"`` (unfinished dependencies, in declared order),
    ``"upstream task 'a' failed"``, ``"not part of the current run"``, ``"waiting to retry"``.
    """
    node = graph.node(node_id)
    if node.status is not Status.PENDING:
        return None
    blocker = blocking_upstream(graph, node_id)
    if blocker is not None:
        template = BLOCKED_FAILED if graph.nodes[blocker].status is Status.FAILED else BLOCKED_CANCELLED
        return template.format(name=graph.name(blocker))
    if not node.in_scope:
        return NOT_IN_SCOPE
    waiting = []
    for dep in node.deps:
        upstream = graph.get(dep.id)
        if upstream is None or (
            upstream.status is not Status.COMPLETED if dep.required else not upstream.terminal
        ):
            waiting.append(f"'{graph.name(dep.id)}'")
    if waiting:
        return WAITING_FOR.format(names=", ".join(dict.fromkeys(waiting)))
    if now is not None and node.ready_at is not None and node.ready_at > now:
        return WAITING_FOR_RETRY
    return None
