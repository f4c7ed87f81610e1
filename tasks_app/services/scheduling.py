"""Readiness, failure fallout and tree status: the one write path that follows any task reaching a
terminal state (completion, failure, cancellation, lost worker).

Decisions come from the pure engine over a partial snapshot; this module only loads the
snapshot, locks the rows it is about to change, and writes.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from tasks_app import selectors
from tasks_app.engine import propagation, readiness
from tasks_app.engine.states import UPSTREAM_FAILED, Status
from tasks_app.engine.status import run_outcome, run_tasks, tree_status
from tasks_app.models import Dependency, Task, Tree

from . import history, notifications
from .event_log import EventBuffer
from .sql import RoundTrip, Template, arg

ACTIVE = (Status.PENDING.value, Status.IN_PROGRESS.value)


class ReadyList(list):
    """Ids of tasks that became ready, plus the trees they belong to."""

    def __init__(self):
        super().__init__()
        self.trees: set = set()


def trees_of_ready(ready) -> set:
    return getattr(ready, "trees", set())


def lock_tasks(ids) -> None:
    """Row-lock tasks in primary-key order (PostgreSQL; SQLite transactions are IMMEDIATE)."""
    ids = sorted(ids, key=str)
    if ids and connection.vendor == "postgresql":
        list(Task.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id", flat=True))


def read_dependents(trip: RoundTrip, upstream_ids) -> tuple:
    """Queue in ``trip`` what :func:`propagate` reads first: the scheduled pending dependents of
    ``upstream_ids``, row-locked, and then (a statement of its own, so it reads the upstream
    statuses after those locks were granted) the edges into them. Returns their two results."""
    ids = list(upstream_ids)
    return _PENDING_DEPENDENTS.rows(trip, ids), _DEPENDENT_EDGES.rows(trip, ids)


def propagate(
    finished_ids, events: EventBuffer, now=None, trip: RoundTrip | None = None, *, read_ahead=None
) -> list:
    """After tasks became terminal: cancel the dependents that can no longer run
    (``upstream_failed`` or ``upstream_cancelled``, cascading) and mark the dependents that became ready.

    Returns the ids that became ready. Concurrency: the candidate dependents are row-locked
    before their dependencies' statuses are read, so two transactions finishing the last two
    dependencies of one task serialise and the second one sees the first one's commit.

    ``trip``: the caller's round trip: its pending writes go out with the first read, and the
    write that marks tasks ready is left in it (the caller's next read takes it along).
    ``read_ahead``: that first read, already queued or sent by the caller (``read_dependents`` of
    these tasks or more: the engine looks only at the dependents of ``finished_ids``).
    """
    now = now or timezone.now()
    own_trip = trip is None
    trip = RoundTrip() if trip is None else trip
    frontier = {str(i) for i in finished_ids}
    became_ready = ReadyList()
    seen_cancelled: set = set()
    guard = 0
    while frontier and guard < 10_000:
        guard += 1
        if read_ahead is not None:
            (read, edges), read_ahead = read_ahead, None
        else:
            read, edges = read_dependents(trip, frontier)
        trip.run()
        rows = read.rows
        if not rows:
            break
        tree_of = {row[0]: row[1] for row in rows}
        graph = selectors.partial_graph_from_rows(rows, edges=edges.rows)
        frontier = {i for i in frontier if i in graph.nodes}  # finished tasks with pending dependents
        fallout = propagation.fallout_causes(graph, frontier)
        fallout = {k: v for k, v in fallout.items() if k not in seen_cancelled}
        ready = [
            i
            for i in readiness.newly_ready(graph, frontier)
            if i not in fallout and graph.node(i).ready_at is None
        ]
        if ready:
            _MARK_READY.rows(trip, ready, now)
            became_ready.extend(ready)
            for i in ready:
                became_ready.trees.add(tree_of.get(_uuid(i)))
                events.add(tree_of.get(_uuid(i)), "task.ready", task_id=i)
        if fallout:
            trip.run()
            cancel_upstream_failed(fallout, events, now)
            seen_cancelled |= set(fallout)
        frontier = set(fallout)
    if own_trip:
        trip.run()
    return became_ready


def _pending_dependents(upstream_ids):
    """The scheduled pending dependents of ``upstream_ids`` (the engine's input), row-locked in
    primary-key order on PostgreSQL."""
    downstream = Dependency.objects.filter(upstream_id__in=upstream_ids).values("downstream_id")
    pending_qs = Task.objects.filter(id__in=downstream, status=Status.PENDING.value, scheduled=True)
    if connection.vendor == "postgresql":
        pending_qs = pending_qs.select_for_update().order_by("id")  # lock in primary-key order
    return pending_qs.values_list(*selectors.PARTIAL_NODE_FIELDS)


_PENDING_DEPENDENTS = Template(_pending_dependents)
_DEPENDENT_EDGES = Template(selectors.edges_into_dependents_of)
_MARK_READY = Template(
    lambda ids, now: Task.objects.filter(id__in=ids, status=Status.PENDING.value, ready_at__isnull=True),
    update={"ready_at": arg(1), "waiting_reason": "", "updated_at": arg(1)},
)


def cancel_upstream_failed(fallout: dict, events: EventBuffer, now) -> None:
    """Cancel the fallout: ``{id: (message, error_type)}`` from ``propagation.fallout_causes``
    (``upstream_failed`` or ``upstream_cancelled``; a bare message means ``upstream_failed``)."""
    rows = Task.objects.filter(id__in=list(fallout), status=Status.PENDING.value)
    trees = dict(rows.values_list("id", "tree_id"))
    for task_id, cause in fallout.items():
        message, error_type = cause if isinstance(cause, tuple) else (cause, UPSTREAM_FAILED)
        updated = Task.objects.filter(id=task_id, status=Status.PENDING.value).update(
            status=Status.CANCELLED.value,
            error=message,
            error_type=error_type,
            completed_at=now,
            ready_at=None,
            next_attempt_at=None,
            waiting_reason="",
            updated_at=now,
        )
        if updated:
            events.add(
                trees.get(_uuid(task_id)),
                "task.status",
                task_id=task_id,
                status=Status.CANCELLED.value,
                error=message,
                error_type=error_type,
            )


def _uuid(value):
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def lock_trees(tree_ids, trip: RoundTrip | None = None) -> None:
    """Lock several tree rows in one statement, in id order (PostgreSQL locks the sorted rows one
    by one), before a transaction writes them in whatever order its steps need. One tree needs no
    ordering, and SQLite transactions never run concurrently. ``trip``: a step of that round trip
    (taken before the steps added after it)."""
    ids = {str(t) for t in tree_ids if t}
    if len(ids) > 1 and connection.vendor == "postgresql":
        qs = Tree.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id")
        if trip is None:
            list(qs)
        else:
            trip.rows(qs)


def refresh_tree_status(tree_ids, events: EventBuffer, now=None) -> None:
    """Recompute the run status of each tree cheaply: a tree stays in progress while any
    scheduled task is pending or running; only then is the full status derived."""
    now = now or timezone.now()
    for tree_id in sorted({str(t) for t in tree_ids if t}):
        # Lock the tree row before looking at its tasks: two workers finishing a tree's last two
        # tasks concurrently would otherwise each still see the other's task in progress, and
        # neither would end the tree (found by tests/ops/test_multiprocess.py). Sorted: lock order.
        tree = (
            Tree.objects.select_for_update()
            .filter(id=tree_id)
            .values("status", "cancel_requested", "run_count")
            .first()
        )
        if tree is None:
            continue
        active = (
            Task.objects.filter(tree_id=tree_id)
            .filter(Q(status=Status.IN_PROGRESS.value) | Q(status=Status.PENDING.value, scheduled=True))
            .exists()
        )
        handled: int | None = None
        counts: dict[str, int] = {}
        if active:
            new = Status.IN_PROGRESS.value if tree["run_count"] else Status.PENDING.value
        elif not tree["run_count"]:
            new = Status.PENDING.value
        else:
            new, handled, counts = _final_outcome(tree_id, tree["cancel_requested"])
        if new != tree["status"]:
            terminal = new in (Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value)
            fields: dict[str, Any] = {
                "status": new,
                "updated_at": now,
                "finished_at": now if terminal else None,
            }
            if handled is not None:
                fields["handled_failures"] = handled
            Tree.objects.filter(id=tree_id).update(**fields)
            data: dict[str, Any] = {"status": new}
            if terminal:
                data["handled_failures"] = handled or 0
                history.finish(
                    tree_id, status=new, handled_failures=handled or 0, task_counts=counts, now=now
                )
            events.add(tree_id, "tree.status", **data)
            if terminal:
                notifications.run_finished(tree_id, new, now)  # pending deliveries, sent by the worker


def _final_outcome(tree_id, cancelled_by_user: bool) -> tuple[str, int, dict]:
    """The run's outcome once nothing of it is active: the engine's rule (its leaves decide,
    SEMANTICS "Tree status") over the whole tree, with its handled failures and the run's tasks
    by status."""
    graph = selectors.status_graph(tree_id)
    outcome = run_outcome(graph, started=True, cancelled_by_user=cancelled_by_user)
    counts: dict = {}
    for node in run_tasks(graph):
        counts[node.status.value] = counts.get(node.status.value, 0) + 1
    return outcome.status.value, outcome.handled_failures, counts


def full_tree_status(tree_id) -> str:
    """The engine's derivation over a full snapshot (used by tests and the admin to cross-check)."""
    tree = Tree.objects.get(id=tree_id)
    return tree_status(
        selectors.graph_snapshot(tree_id),
        started=bool(tree.run_count),
        cancelled_by_user=tree.cancel_requested,
    ).value
