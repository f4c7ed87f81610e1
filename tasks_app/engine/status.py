"""The run status of a whole tree, derived from its tasks (SEMANTICS "Tree status").

A run's **leaves** decide, as Airflow users expect. The tasks *of the run* are the in-scope ones
(``Node.in_scope``: the tasks the run scheduled); a graph where no task is in scope (a snapshot
copied from another tree, a tree created before scopes were recorded) counts every task. A leaf is
a task of the run that no other task of the run depends on.

- ``pending``: not started and every task still pending;
- ``in_progress``: a task is running, or an in-scope pending task can still run (one that
  ``failure_fallout`` would not cancel);
- ``failed`` if a leaf failed, or was (or is about to be) cancelled as ``upstream_failed``;
- else ``cancelled`` if the user cancelled the run, or a leaf was cancelled (by a user, or as
  ``upstream_cancelled``);
- else ``completed``.

A *handled failure* is a failed task of the run whose failure reaches no leaf: it is not a leaf,
and every path from it to a leaf passes an optional dependency (the fallback pattern: the tasks
that depend on it do so optionally, and went on). ``run_outcome`` counts them; they never fail the
run.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks_app.engine.propagation import fallout_causes
from tasks_app.engine.snapshot import Graph, Node
from tasks_app.engine.states import TERMINAL, UPSTREAM_FAILED, Status


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A run's status with the facts behind it: its leaves, the failures that failed it and the
    failures that were handled (ids in creation order)."""

    status: Status
    leaves: tuple[str, ...] = ()
    handled: tuple[str, ...] = ()
    unhandled: tuple[str, ...] = ()

    @property
    def handled_failures(self) -> int:
        return len(self.handled)


def run_tasks(graph: Graph) -> list[Node]:
    """The tasks of the run, in creation order: the in-scope ones, or every task when none is."""
    ordered = [graph.nodes[i] for i in graph.ordered_ids()]
    scoped = [node for node in ordered if node.in_scope]
    return scoped if scoped else ordered


def run_outcome(graph: Graph, *, started: bool, cancelled_by_user: bool = False) -> RunOutcome:
    """Return the run's status (see the module docstring), its leaves and its handled and
    unhandled failures."""
    nodes = graph.nodes.values()
    if not started and all(node.status is Status.PENDING for node in nodes):
        return RunOutcome(Status.PENDING)
    if any(node.status is Status.IN_PROGRESS for node in nodes):
        return RunOutcome(Status.IN_PROGRESS)
    causes = fallout_causes(graph)
    if any(node.status is Status.PENDING and node.in_scope and node.id not in causes for node in nodes):
        return RunOutcome(Status.IN_PROGRESS)
    members = run_tasks(graph)
    in_run = {node.id for node in members}

    def final(node: Node) -> tuple[Status, str | None]:
        if node.id in causes:  # about to be cancelled by the services applying the fallout
            return Status.CANCELLED, causes[node.id][1]
        return node.status, node.error_type

    state = {node.id: final(node) for node in members}
    run_dependents = {node.id: [d for d in graph.dependents(node.id) if d in in_run] for node in members}
    leaves = [node.id for node in members if not run_dependents[node.id]]

    # a failure reaches a leaf through required edges to tasks it cancelled as upstream_failed
    def reaches_leaf(start: str) -> bool:
        stack, seen = [start], {start}
        while stack:
            current = stack.pop()
            if not run_dependents[current]:
                return True
            for dependent in run_dependents[current]:
                required = any(dep.id == current and dep.required for dep in graph.nodes[dependent].deps)
                status, error_type = state[dependent]
                if (
                    required
                    and status is Status.CANCELLED
                    and error_type == UPSTREAM_FAILED
                    and dependent not in seen
                ):
                    seen.add(dependent)
                    stack.append(dependent)
        return False

    failures = [node.id for node in members if state[node.id][0] is Status.FAILED]
    unhandled = tuple(f for f in failures if reaches_leaf(f))
    handled = tuple(f for f in failures if f not in unhandled)
    leaf_states = [state[leaf] for leaf in leaves]
    if any(s is Status.FAILED or (s is Status.CANCELLED and e == UPSTREAM_FAILED) for s, e in leaf_states):
        status = Status.FAILED
    elif cancelled_by_user or any(s is Status.CANCELLED for s, _ in leaf_states):
        status = Status.CANCELLED
    else:
        status = Status.COMPLETED
    return RunOutcome(status, tuple(leaves), handled, unhandled)


def tree_status(graph: Graph, *, started: bool, cancelled_by_user: bool = False) -> Status:
    """Return the tree's run status (``run_outcome(...).status``)."""
    return run_outcome(graph, started=started, cancelled_by_user=cancelled_by_user).status


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
