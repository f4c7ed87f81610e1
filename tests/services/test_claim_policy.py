"""The simulator and the real claimer pick the same tasks in the same order (issue #17 item 1).

Random trees (random dependencies, priorities, private and shared resources in random modes,
capacity pools, failures) run through ``engine.simulate`` and, tick by tick, through the real
services on the test database: at each moment of the simulation the same tasks finish, then idle
"workers" claim with ``runs.claim_batch`` until the slots are full or nothing is claimable. The
tasks claimed, and their order, must be the simulator's starts at that moment. Both sides decide
with one policy, ``engine.resources.ResourceQueue`` (priority order, FIFO per resource).
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks_app.engine import normalise, simulate
from tasks_app.models import ResourcePool, Task
from tasks_app.selectors import graph_snapshot
from tasks_app.services import control, runs, trees

pytestmark = pytest.mark.django_db

KEYS = ["db:a", "db:b", "gpu:0"]
MODES = ["read", "write", "exclusive"]

task_spec = st.fixed_dictionaries(
    {
        "priority": st.integers(0, 2),
        "locks": st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(MODES)), max_size=2),
        "deps": st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=2),
        "fails": st.integers(0, 9).map(lambda n: n == 0),  # one task in ten fails
    }
)


def _tasks(specs) -> list[dict]:
    tasks = [{"id": "root", "name": "root", "executor": "noop", "max_retries": 0}]
    for n, spec in enumerate(specs):
        deps = {}
        for target, required in spec["deps"]:
            if n:
                deps.setdefault(f"t{target % n}", required)
        tasks.append(
            {
                "id": f"t{n}",
                "name": f"t{n}",
                "parent_id": "root",
                "executor": "noop",
                "priority": spec["priority"],
                "max_retries": 0,
                "dependencies": [{"id": dep, "required": req} for dep, req in deps.items()],
                "resources": [
                    {"type": key.split(":")[0], "identifier": key.split(":")[1], "mode": mode}
                    for key, mode in spec["locks"]
                ],
            }
        )
    return tasks


def _simulated(tree, workers, fail, seed, pools):
    """The simulator's run of ``tree`` as the database holds it after execute: ``{time: [names
    started]}`` and the finish events."""
    tasks = {str(t.id): t for t in Task.objects.filter(tree=tree)}
    graph = graph_snapshot(tree.id)
    # simulated time starts at 0: the tasks execute made ready became ready then
    graph = graph.replace({node_id: {"ready_at": None} for node_id in graph.nodes})
    result = simulate(
        graph,
        workers=workers,
        fail={node_id for node_id, t in tasks.items() if t.name in fail},
        seed=seed,
        locks={node_id: normalise(t.resources) for node_id, t in tasks.items()},
        capacity=pools,
        shared=set(pools),
        owners={node_id: t.owner_id for node_id, t in tasks.items()},
    )
    names = {node_id: t.name for node_id, t in tasks.items()}
    return [(event[0], event[1], names[event[2]]) for event in result.events if event[0] != "cancel"]


def _replayed(events, workers, fail, clock):
    """Replay the simulator's finishes through ``runs.finish`` at the same moments and claim as
    idle workers do; return the starts as ``(time, name)`` in claim order (up to the first moment
    that differs from the simulation: past it the two runs no longer finish the same tasks)."""
    running: dict = {}  # name -> Claim
    starts = []
    for moment in sorted({event[1] for event in events}):
        clock.now = clock.base + dt.timedelta(seconds=moment)
        finished = [name for kind, at, name in events if kind == "finish" and at == moment]
        if finished:
            runs.finish(
                [
                    runs.Finish(
                        attempt_id=running[name].attempt_id,
                        task_id=running[name].task_id,
                        outcome="failed" if name in fail else "completed",
                        error="boom" if name in fail else None,
                        permanent=name in fail,
                    )
                    for name in finished
                ]
            )
            for name in finished:
                del running[name]
        while len(running) < workers:
            claims = runs.claim_batch(worker="w", limit=workers - len(running))
            if not claims:
                break
            for claim in claims:
                running[claim.name] = claim
                starts.append((moment, claim.name))
        simulated = [(at, name) for kind, at, name in events if kind == "start" and at <= moment]
        if starts != simulated:
            break
    return starts


class Clock:
    def __init__(self):
        self.base = self.now = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)

    def __call__(self):
        return self.now


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(task_spec, min_size=1, max_size=10),
    pools=st.dictionaries(st.sampled_from(["gpu:0", "db:b"]), st.integers(1, 3), max_size=2),
    workers=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_the_simulator_and_the_claimer_start_the_same_tasks_in_the_same_order(
    user, specs, pools, workers, seed
):
    clock = Clock()
    with transaction.atomic(), mock.patch("django.utils.timezone.now", clock):
        for key, capacity in pools.items():
            ResourcePool.objects.create(key=key, capacity=capacity, everyone=True)
        tasks = _tasks(specs)
        fail = {spec["name"] for spec, drawn in zip(tasks[1:], specs, strict=True) if drawn["fails"]}
        tree = trees.tree_create(owner=user, tasks=tasks, actor=user, source="test")
        control.tree_execute(tree=tree, source="test")
        events = _simulated(tree, workers, fail, seed, pools)
        simulated = [(at, name) for kind, at, name in events if kind == "start"]
        assert _replayed(events, workers, fail, clock) == simulated
        # and the run ended where the simulation did
        finished = {name for kind, _, name in events if kind == "finish"}
        statuses = dict(Task.objects.filter(tree=tree).values_list("name", "status"))
        assert {name for name, status in statuses.items() if status in ("completed", "failed")} == finished
        transaction.set_rollback(True)


def test_a_reader_behind_a_waiting_writer_waits_in_both(user):
    """The case the engine's old ``select_startable`` got wrong (it let the reader through)."""
    clock = Clock()
    with mock.patch("django.utils.timezone.now", clock):
        tasks = _tasks(
            [
                {"priority": 0, "locks": [("db:a", "read")], "deps": [], "fails": False},
                {"priority": 1, "locks": [("db:a", "exclusive")], "deps": [], "fails": False},
                {"priority": 2, "locks": [("db:a", "read")], "deps": [], "fails": False},
            ]
        )
        tree = trees.tree_create(owner=user, tasks=tasks, actor=user, source="test")
        control.tree_execute(tree=tree, source="test")
        events = _simulated(tree, 4, set(), 0, {})
        simulated = [(at, name) for kind, at, name in events if kind == "start"]
        assert _replayed(events, 4, set(), clock) == simulated
    order = [name for _, name in simulated]
    assert order.index("t1") < order.index("t2")  # t2 (read) queued behind t1 (exclusive)
