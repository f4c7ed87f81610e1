"""What else changes when tasks fail, are cancelled, retried or re-run (SEMANTICS "Failure,
cancellation, retries" and "Re-execution and copies").

These functions only *compute* sets of task ids; services apply them (status changes,
attempts, events) in one transaction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from tasks_app.engine.graph import descendants, subtree, topological_order
from tasks_app.engine.readiness import blocking_upstream
from tasks_app.engine.snapshot import Graph
from tasks_app.engine.states import (
    TERMINAL,
    UPSTREAM_CANCELLED,
    UPSTREAM_ERROR_TYPES,
    UPSTREAM_FAILED,
    Status,
)
from tasks_app.exceptions import InvalidTransition

UPSTREAM_FAILED_MESSAGE = "upstream task '{name}' failed"
UPSTREAM_CANCELLED_MESSAGE = "upstream task '{name}' was cancelled"
NOT_RETRYABLE = "task '{name}' is {status}; only failed or cancelled tasks can be retried"
RETRY_UPSTREAM_FIRST = "task '{name}' cannot run until upstream task '{upstream}' is retried"
TASK_RUNNING = "task '{name}' is running"
ALREADY_TERMINAL = "task '{name}' is already {status}"
NOT_MARKABLE = "task '{name}' is {status}; only failed, cancelled or pending tasks can be marked"
MARK_RUNNING = "task '{name}' is running; cancel it first"

_BLOCKING = frozenset({Status.FAILED, Status.CANCELLED})


def failure_fallout(graph: Graph, finished_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Return ``{id: error message}`` for every pending, in-scope task that can no longer run.

    A task can no longer run when a *required* dependency is ``failed`` or ``cancelled``, or
    is itself in the returned fallout (so one call covers the whole cascade, diamonds
    included). Optional dependencies never block. The message names the blocking required
    dependency (see ``fallout_causes``): ``"upstream task 'fetch' failed"`` or
    ``"upstream task 'fetch' was cancelled"`` (a dependency in the fallout counts as
    cancelled). Services mark these tasks ``cancelled`` with the ``error_type`` that
    ``fallout_causes`` gives, then look for ``newly_ready`` tasks among the dependents of the
    finished tasks *and* of the fallout (an optional dependency that was cancelled is terminal,
    which may release a task).

    ``finished_ids`` are the tasks that just ended; ``None`` scans the whole graph.
    """
    return {node_id: message for node_id, (message, _) in fallout_causes(graph, finished_ids).items()}


def upstream_kind(node_status: Status, error_type: str | None) -> str | None:
    """The root cause a terminal task passes on to a required dependent: ``UPSTREAM_FAILED`` for
    a failed task or one cancelled as ``upstream_failed``, ``UPSTREAM_CANCELLED`` for any other
    cancelled task (a user's cancel, directly or upstream), ``None`` otherwise."""
    if node_status is Status.FAILED:
        return UPSTREAM_FAILED
    if node_status is Status.CANCELLED:
        return UPSTREAM_FAILED if error_type == UPSTREAM_FAILED else UPSTREAM_CANCELLED
    return None


def fallout_causes(graph: Graph, finished_ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
    """Like ``failure_fallout``, with the ``error_type`` each task is cancelled with:
    ``{id: (message, error_type)}``.

    ``error_type`` is ``UPSTREAM_FAILED`` when the root cause is a failure and
    ``UPSTREAM_CANCELLED`` when it is a user's cancel (SEMANTICS "Failure, cancellation,
    retries"). A task blocked by both kinds is ``UPSTREAM_FAILED`` (the failure alone would have
    blocked it); its message names the first blocking required dependency of that kind, in
    declared order. Results are in creation order.
    """
    if finished_ids is None:
        finished_ids = [node.id for node in graph.nodes.values() if node.status in _BLOCKING]
    doomed: set[str] = set()
    queue = deque(node_id for node_id in finished_ids if node_id in graph)
    while queue:
        for dependent in graph.dependents(queue.popleft()):
            if dependent not in doomed and _first_blocker(graph, dependent, doomed) is not None:
                doomed.add(dependent)
                queue.append(dependent)
    kinds: dict[str, str] = {}
    causes: dict[str, tuple[str, str]] = {}
    for node_id in topological_order(graph):
        if node_id not in doomed:
            continue
        blockers = _blockers(graph, node_id, doomed)
        assert blockers
        kind_of = {
            b: kinds[b] if b in doomed else upstream_kind(graph.nodes[b].status, graph.nodes[b].error_type)
            for b in blockers
        }
        failed = [b for b in blockers if kind_of[b] == UPSTREAM_FAILED]
        kind = UPSTREAM_FAILED if failed else UPSTREAM_CANCELLED
        blocker = failed[0] if failed else blockers[0]
        kinds[node_id] = kind
        plain_failure = blocker not in doomed and graph.nodes[blocker].status is Status.FAILED
        template = UPSTREAM_FAILED_MESSAGE if plain_failure else UPSTREAM_CANCELLED_MESSAGE
        causes[node_id] = (template.format(name=graph.name(blocker)), kind)
    return {node_id: causes[node_id] for node_id in graph.ordered_ids() if node_id in causes}


def _blockers(graph: Graph, node_id: str, doomed: set[str]) -> list[str]:
    return [
        dep.id
        for dep in graph.nodes[node_id].deps
        if dep.required and dep.id in graph and (graph.nodes[dep.id].status in _BLOCKING or dep.id in doomed)
    ]


def _first_blocker(graph: Graph, node_id: str, doomed: set[str]) -> str | None:
    node = graph.nodes[node_id]
    if node.status is not Status.PENDING or not node.in_scope:
        return None
    for dep in node.deps:
        upstream = graph.get(dep.id)
        if dep.required and upstream is not None and (upstream.status in _BLOCKING or dep.id in doomed):
            return dep.id
    return None


def _in_order(graph: Graph, ids: set[str]) -> list[str]:
    return [node_id for node_id in topological_order(graph) if node_id in ids]


def retry_set(graph: Graph, node_id: str) -> list[str]:
    """Return the tasks an in-place retry of ``node_id`` puts back to ``pending``.

    That is ``node_id`` (which must be failed or cancelled) plus every task downstream that
    was cancelled as ``upstream_failed`` or ``upstream_cancelled`` because of it, transitively; a
    task that is also
    blocked by another failed or cancelled required dependency outside the set is left alone.
    Completed tasks are never included. Order: dependencies first.

    Raise ``InvalidTransition`` if ``node_id`` is not failed or cancelled, or if it was
    cancelled because of an upstream task that is still failed or cancelled (retry that one).
    """
    node = graph.node(node_id)
    if node.status not in _BLOCKING:
        raise InvalidTransition(
            NOT_RETRYABLE.format(name=node.name, status=node.status.value), details={"id": node_id}
        )
    blocker = blocking_upstream(graph, node_id)
    if node.error_type in UPSTREAM_ERROR_TYPES and blocker is not None:
        raise InvalidTransition(
            RETRY_UPSTREAM_FIRST.format(name=node.name, upstream=graph.name(blocker)),
            details={"id": node_id, "upstream": blocker},
        )
    return _in_order(graph, _with_released_fallout(graph, node_id))


def _with_released_fallout(graph: Graph, node_id: str) -> set[str]:
    """``node_id`` and every task downstream cancelled as ``upstream_failed`` /
    ``upstream_cancelled`` only because of it, transitively: what a retry or a mark releases."""
    selected = {node_id}
    for candidate in _in_order(graph, descendants(graph, node_id)):
        current = graph.nodes[candidate]
        if current.status is not Status.CANCELLED or current.error_type not in UPSTREAM_ERROR_TYPES:
            continue
        blockers = {
            dep.id
            for dep in current.deps
            if dep.required and dep.id in graph and graph.nodes[dep.id].status in _BLOCKING
        }
        if blockers and blockers <= selected:
            selected.add(candidate)
    return selected


def mark_set(graph: Graph, node_id: str) -> list[str]:
    """Return the tasks a "mark success" or "skip" of ``node_id`` touches: ``node_id`` first (it
    becomes ``completed`` by the user's word), then every task downstream that was cancelled as
    ``upstream_failed`` / ``upstream_cancelled`` only because of it, transitively (they go back to
    ``pending``, as a retry releases its fallout). A task also blocked by another failed or
    cancelled required dependency outside the set is left alone. Order: dependencies first.

    ``node_id`` may be failed, cancelled (any kind, upstream ones included: the user's word
    overrides the cause) or pending. Raise ``InvalidTransition`` if it is running (cancel it
    first) or already completed.
    """
    node = graph.node(node_id)
    if node.status is Status.IN_PROGRESS:
        raise InvalidTransition(MARK_RUNNING.format(name=node.name), details={"id": node_id})
    if node.status is Status.COMPLETED:
        raise InvalidTransition(
            NOT_MARKABLE.format(name=node.name, status=node.status.value),
            details={"id": node_id, "status": node.status.value},
        )
    if node.status is Status.PENDING:  # nothing downstream was cancelled because of it
        return [node_id]
    selected = _with_released_fallout(graph, node_id)
    return [node_id] + [i for i in _in_order(graph, selected) if i != node_id]


def rerun_set(graph: Graph, node_id: str) -> list[str]:
    """Return ``node_id`` and every task downstream of it (dependencies first): the tasks a
    "re-run from here" puts back to ``pending``, whatever their status.

    Raise ``InvalidTransition`` if any of them is ``in_progress``.
    """
    graph.node(node_id)
    selected = {node_id} | descendants(graph, node_id)
    ordered = _in_order(graph, selected)
    for candidate in ordered:
        if graph.nodes[candidate].status is Status.IN_PROGRESS:
            raise InvalidTransition(
                TASK_RUNNING.format(name=graph.name(candidate)), details={"id": candidate}
            )
    return ordered


def cancel_set(graph: Graph, node_id: str) -> list[str]:
    """Return ``[node_id]`` for cancelling one task (its dependents follow through
    ``failure_fallout``); raise ``InvalidTransition`` if it is already terminal."""
    node = graph.node(node_id)
    if node.status in TERMINAL:
        raise InvalidTransition(
            ALREADY_TERMINAL.format(name=node.name, status=node.status.value),
            details={"id": node_id, "status": node.status.value},
        )
    return [node_id]


def tree_cancel_set(graph: Graph) -> list[str]:
    """Return every non-terminal task of the graph, in creation order."""
    return [node_id for node_id in graph.ordered_ids() if graph.nodes[node_id].status not in TERMINAL]


def run_scope(graph: Graph, target_id: str) -> set[str]:
    """Return the tasks that take part in a run started at ``target_id``.

    For a root (a task without parent) that is its whole tree. Otherwise it is the target
    plus every dependency, transitively, that is not yet completed (a completed dependency
    already satisfies its dependents, so the walk stops there).
    """
    target = graph.node(target_id)
    if target.parent is None:
        return subtree(graph, target_id)
    scope = {target_id}
    queue = deque([target_id])
    while queue:
        for dep in graph.nodes[queue.popleft()].deps:
            upstream = graph.get(dep.id)
            if upstream is not None and upstream.status is not Status.COMPLETED and dep.id not in scope:
                scope.add(dep.id)
                queue.append(dep.id)
    return scope
