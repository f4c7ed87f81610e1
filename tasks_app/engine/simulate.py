"""A tiny deterministic scheduler loop over a ``Graph``, used by property tests and for
explaining schedules. It picks the tasks to start with the claim policy: the ready queue
in ``order_key`` order walked through ``resources.select_startable`` (a ``ResourceQueue``: lock
compatibility, capacity, FIFO per resource), so for the same queue, slots and held locks it starts
the same tasks in the same order as ``services.runs`` (tests/services/test_claim_policy.py proves
it on random trees). What it leaves out is the claimer's batching: every task here is one kind
(the claimer also sorts tasks into batches of one run kind) and the whole ready queue is visible
(a claim looks at most ``CLAIM_PAGES`` pages deep and stops after the first page that started
something; the worker claims again while it has free slots).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from tasks_app.engine.propagation import failure_fallout
from tasks_app.engine.readiness import newly_ready, ready_ids
from tasks_app.engine.resources import Lock, scoped, select_startable, strongest
from tasks_app.engine.snapshot import Graph
from tasks_app.engine.states import UPSTREAM_FAILED, Status

# Events: ("start", time, id) / ("finish", time, id, status) / ("cancel", time, id, message).
Event = tuple[object, ...]


@dataclass(frozen=True)
class Simulation:
    events: list[Event]
    graph: Graph


def simulate(
    graph: Graph,
    *,
    workers: int = 2,
    fail: frozenset[str] | set[str] = frozenset(),
    seed: int = 0,
    locks: Mapping[str, Sequence[Lock]] | None = None,
    capacity: Mapping[str, int] | None = None,
    max_duration: int = 3,
    owners: Mapping[str, object] | None = None,
    shared: Collection[str] | None = None,
) -> Simulation:
    """Run ``graph`` to quiescence on ``workers`` slots and return the event log and final graph.

    At each moment the ready tasks are started in queue order as slots and ``locks`` allow;
    each runs for a duration in ``1..max_duration`` drawn from ``seed``; tasks in ``fail``
    fail, the others complete with a result; fallout is applied after every finish and newly
    ready tasks get ``ready_at`` = the current time. Stops when nothing runs and nothing is
    ready.

    Locks are taken as the claimer takes them (``resources.scoped``): under the namespace of the
    task's owner (``owners``: node id -> owner id; one owner ``0`` for nodes not in it) unless the
    key is ``shared`` (default: the keys given a ``capacity``, as declared pools are).
    """
    rng = random.Random(seed)
    shared = frozenset(capacity or ()) if shared is None else frozenset(shared)
    owners = owners or {}
    locks = {
        node_id: scoped(wanted, owners.get(node_id, 0), shared) for node_id, wanted in (locks or {}).items()
    }
    events: list[Event] = []
    now = 0
    running: dict[str, int] = {}
    fallout = failure_fallout(graph)
    graph = _cancel(graph, fallout, now, events)
    graph = graph.replace(
        {node_id: {"ready_at": now} for node_id in ready_ids(graph) if graph.nodes[node_id].ready_at is None}
    )
    while True:
        free = workers - len(running)
        if free > 0:
            held = [
                Lock(key, mode)
                for node_id in running
                for key, mode in strongest(locks.get(node_id, ())).items()
            ]
            candidates = [(node_id, locks.get(node_id, ())) for node_id in ready_ids(graph)]
            started, _ = select_startable(candidates, held, slots=free, capacity=capacity)
            for node_id in started:
                graph = graph.with_status(node_id, Status.IN_PROGRESS)
                running[node_id] = now + rng.randint(1, max_duration)
                events.append(("start", now, node_id))
        if not running:
            break
        now = min(running.values())
        finished = sorted(node_id for node_id, end in running.items() if end == now)
        for node_id in finished:
            del running[node_id]
            if node_id in fail:
                graph = graph.with_status(node_id, Status.FAILED, error_type="executor_error")
                events.append(("finish", now, node_id, Status.FAILED))
            else:
                graph = graph.with_status(node_id, Status.COMPLETED, result={node_id: now})
                events.append(("finish", now, node_id, Status.COMPLETED))
        fallout = failure_fallout(graph, finished)
        graph = _cancel(graph, fallout, now, events)
        released = newly_ready(graph, [*finished, *fallout])
        graph = graph.replace({node_id: {"ready_at": now} for node_id in released})
    return Simulation(events, graph)


def _cancel(graph: Graph, fallout: Mapping[str, str], now: int, events: list[Event]) -> Graph:
    for node_id, message in fallout.items():
        events.append(("cancel", now, node_id, message))
    return graph.replace(
        {node_id: {"status": Status.CANCELLED, "error_type": UPSTREAM_FAILED} for node_id in fallout}
    )
