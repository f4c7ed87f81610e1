"""The global invariants of reliability.md §2.2, checked from the database (and, optionally, from
the test executors' own start/end log) after every fault scenario and every property-test step.

I1 nothing lost      every running attempt belongs to an in-progress task (and back); no ready
                     task lost its readiness; once settled, every task is terminal, or pending
                     with ``next_attempt_at``, or outside the run
I2 bounded attempts  attempts of the current run (``interrupted`` excluded) ≤ max_retries + 1
I3 no overlap        the attempts of one task never overlap in time
I4 one outcome       at most one completed attempt per task per run; a completed task carries
                     that attempt's result
I5 lock rules        no two holders of a resource at any instant with incompatible modes, never
                     more holders than its capacity (lock table now, attempt intervals, executor log)
I6 dependencies      when a task started, its required dependencies were completed and its
                     optional ones terminal (replayed from the per-tree event log)
I7 event log         per-tree sequence numbers are gap-free; replaying ``task.status`` events gives
                     every task's current status, along allowed transitions only
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from tasks_app.engine.resources import compatible, lock_key
from tasks_app.engine.resources import normalise as normalise_resources
from tasks_app.engine.states import TERMINAL, Outcome, Status, can_transition
from tasks_app.models import Attempt, Dependency, Event, ResourceLock, ResourcePool, Task, Tree

TASK_FIELDS = (
    "id",
    "tree_id",
    "name",
    "status",
    "scheduled",
    "ready_at",
    "next_attempt_at",
    "current_attempt_id",
    "max_retries",
    "result",
    "resources",
    "owner_id",
)
ATTEMPT_FIELDS = (
    "id",
    "task_id",
    "number",
    "outcome",
    "started_at",
    "finished_at",
    "lease_expires_at",
    "result",
)


def check_invariants(
    tree_ids=None,
    *,
    settled: bool = False,
    run_start: dict | None = None,
    log_entries: list | None = None,
    now=None,
    replay: dict | None = None,
) -> list[str]:
    """Return a description of every violation (empty: all invariants hold).

    ``settled``: the scenario is over (no task may be running or waiting to run now).
    ``run_start``: {task id: when its current run began} (default: the task's ``ready_at``, or
    all its attempts). ``log_entries``: lines written by ``tests.fault_executors``. ``replay``: a
    dict kept between calls to replay only the events appended since (the log is append-only).
    """
    now = now or timezone.now()
    trees = Tree.objects.all() if tree_ids is None else Tree.objects.filter(id__in=list(tree_ids))
    last_seq = dict(trees.values_list("id", "last_seq"))
    tree_ids = list(last_seq)
    tasks = {t.id: t for t in Task.objects.filter(tree_id__in=tree_ids).only(*TASK_FIELDS)}
    attempts = defaultdict(list)
    for a in sorted(
        Attempt.objects.filter(tree_id__in=tree_ids).only(*ATTEMPT_FIELDS),
        key=lambda a: (a.started_at, a.number),
    ):
        attempts[a.task_id].append(a)
    deps = defaultdict(list)
    for d in Dependency.objects.filter(tree_id__in=tree_ids).only("upstream_id", "downstream_id", "required"):
        deps[d.downstream_id].append(d)
    errors: list[str] = []
    errors += _nothing_lost(tasks, attempts, deps, settled)
    errors += _bounded_attempts(tasks, attempts, run_start)
    errors += _no_overlap(tasks, attempts)
    errors += _one_outcome(tasks, attempts, run_start)
    errors += _lock_rules(tasks, attempts, log_entries, now)
    errors += _event_log(last_seq, tasks, deps, {} if replay is None else replay)
    return errors


def assert_invariants(tree_ids=None, **kwargs) -> None:
    errors = check_invariants(tree_ids, **kwargs)
    assert not errors, "invariant violations:\n  " + "\n  ".join(errors[:30])


def _name(task) -> str:
    return f"{task.name} ({task.id})"


def _nothing_lost(tasks, attempts, deps, settled) -> list[str]:
    errors = []
    for task in tasks.values():
        running = [a for a in attempts[task.id] if a.outcome == Outcome.RUNNING.value]
        if task.status == Status.IN_PROGRESS.value:
            if not running or task.current_attempt_id != running[0].id:
                errors.append(f"I1: {_name(task)} is in progress without a running current attempt")
            elif running[0].lease_expires_at is None:
                errors.append(f"I1: {_name(task)} runs without a lease")
            if settled:
                errors.append(f"I1: {_name(task)} still in progress after the scenario settled")
        elif running:
            errors.append(
                f"I1: {_name(task)} is {task.status} but attempt {running[0].number} is still running"
            )
        if task.status == Status.PENDING.value and task.scheduled:
            statuses = [
                (d.required, tasks[d.upstream_id].status) for d in deps[task.id] if d.upstream_id in tasks
            ]
            blocked = any(req and s in (Status.FAILED.value, Status.CANCELLED.value) for req, s in statuses)
            satisfied = all(
                s == Status.COMPLETED.value if req else s in {x.value for x in TERMINAL}
                for req, s in statuses
            )
            if blocked:
                errors.append(f"I1: {_name(task)} is pending behind a failed required dependency")
            elif satisfied and task.ready_at is None:
                errors.append(f"I1: {_name(task)} lost its readiness (dependencies done, no ready_at)")
            if settled and task.ready_at is not None and task.next_attempt_at is None:
                errors.append(f"I1: {_name(task)} is ready but was never run")
    return errors


def _current_run(task, task_attempts, run_start):
    start = (run_start or {}).get(task.id, task.ready_at if run_start is None else None)
    return [a for a in task_attempts if start is None or a.started_at >= start]


def _max_retries(task) -> int:
    return task.max_retries if task.max_retries is not None else settings.ARBOR_DEFAULT_MAX_RETRIES


def _bounded_attempts(tasks, attempts, run_start) -> list[str]:
    errors = []
    for task in tasks.values():
        counted = [
            a
            for a in _current_run(task, attempts[task.id], run_start)
            if a.outcome != Outcome.INTERRUPTED.value
        ]
        if len(counted) > _max_retries(task) + 1:
            errors.append(
                f"I2: {_name(task)} has {len(counted)} attempts in its run (max_retries={_max_retries(task)})"
            )
    return errors


def _no_overlap(tasks, attempts) -> list[str]:
    errors = []
    for task_id, items in attempts.items():
        for before, after in zip(items, items[1:], strict=False):
            if before.finished_at is None or before.finished_at > after.started_at:
                errors.append(
                    f"I3: attempts {before.number} and {after.number} of {_name(tasks[task_id])} overlap"
                )
    return errors


def _one_outcome(tasks, attempts, run_start) -> list[str]:
    errors = []
    for task in tasks.values():
        done = [
            a
            for a in _current_run(task, attempts[task.id], run_start)
            if a.outcome == Outcome.COMPLETED.value
        ]
        if len(done) > 1:
            errors.append(f"I4: {_name(task)} completed {len(done)} times in one run")
        if task.status == Status.COMPLETED.value:
            last = attempts[task.id][-1] if attempts[task.id] else None
            if last is None or last.outcome != Outcome.COMPLETED.value:
                errors.append(f"I4: {_name(task)} is completed but its last attempt is not")
            elif task.result != last.result:
                errors.append(f"I4: {_name(task)} result differs from its completed attempt's result")
    return errors


def _locks_of(task):
    try:
        return dict(normalise_resources(task.resources or []))
    except Exception:
        return {}


def _lock_rules(tasks, attempts, log_entries, now) -> list[str]:
    errors = []
    capacity = dict(ResourcePool.objects.values_list("key", "capacity"))
    # the lock table now
    held = defaultdict(list)
    for key, mode, attempt_id in ResourceLock.objects.values_list("key", "mode", "attempt_id"):
        held[key].append((mode, attempt_id))
    for key, holders in held.items():
        errors += _conflicts(key, [(m, str(a)) for m, a in holders], capacity, "lock table")
    # every recorded instant: an attempt holds its task's locks from its start to its end
    intervals = defaultdict(list)  # key -> [(start, end, mode, label)]
    for task_id, items in attempts.items():
        for named, mode in _locks_of(tasks[task_id]).items():
            key = lock_key(tasks[task_id].owner_id, named, capacity)  # the key the claimer locks
            for a in items:
                intervals[key].append(
                    (a.started_at, a.finished_at or now, mode, f"{tasks[task_id].name}#{a.number}")
                )
    if log_entries:  # and what the executors themselves saw (wall clock)
        ends = {e["attempt_id"]: e["t"] for e in log_entries if e["event"] == "end"}
        finished = {str(a.id): a.finished_at for items in attempts.values() for a in items}
        owners = {t.name: t.owner_id for t in tasks.values()}
        for e in log_entries:
            if e["event"] != "start" or not e.get("locks"):
                continue
            end = ends.get(e["attempt_id"])
            if end is None:
                stop = finished.get(e["attempt_id"])
                end = (stop or now).timestamp()
            for named, mode in e["locks"]:
                key = lock_key(owners.get(e["task"]), named, capacity)
                intervals[f"log:{key}"].append((e["t"], end, mode, f"{e['task']}#{e['attempt']}"))
    for key, spans in intervals.items():
        errors += _sweep(key, spans, capacity.get(key.removeprefix("log:")))
    return errors


def _conflicts(key, holders, capacity, where) -> list[str]:
    errors = []
    for i, (mode_a, a) in enumerate(holders):
        for mode_b, b in holders[i + 1 :]:
            if not compatible(mode_a, mode_b):
                errors.append(f"I5: {where}: {key} held {mode_a} by {a} and {mode_b} by {b}")
    limit = capacity.get(key)
    if limit is not None and len(holders) > limit:
        errors.append(f"I5: {where}: {key} has {len(holders)} holders, capacity {limit}")
    return errors


def _sweep(key, spans, limit) -> list[str]:
    """Intervals are half-open [start, end): a holder that ends when another starts is no overlap."""
    points = []
    for start, end, mode, label in spans:
        if end > start:
            points.append((start, 1, mode, label))
            points.append((end, 0, mode, label))
    points.sort(key=lambda p: (p[0], p[1]))
    active: dict[str, str] = {}
    errors = []
    for _, kind, mode, label in points:
        if kind == 0:
            active.pop(label, None)
            continue
        for other, other_mode in active.items():
            if not compatible(mode, other_mode):
                errors.append(f"I5: {key}: {label} ({mode}) overlapped {other} ({other_mode})")
        active[label] = mode
        if limit is not None and len(active) > limit:
            errors.append(f"I5: {key}: {len(active)} holders at once, capacity {limit}")
    return errors[:10]


def _event_log(last_seq: dict, tasks, deps, replay: dict) -> list[str]:
    errors = []
    tree_ids = list(last_seq)
    counts = {
        row["tree_id"]: row
        for row in Event.objects.filter(tree_id__in=tree_ids)
        .values("tree_id")
        .annotate(n=Count("id"), low=Min("seq"), high=Max("seq"))
    }
    for tree_id in tree_ids:
        c = counts.get(tree_id, {"n": 0, "low": 1, "high": 0})
        if not (c["n"] == c["high"] == last_seq[tree_id] and c["low"] in (1, None)):  # seq is unique per tree
            errors.append(
                f"I7: tree {tree_id} event sequence has gaps or extras (last_seq {last_seq[tree_id]})"
            )
    status = replay.setdefault("status", {})
    new_events = Event.objects.filter(tree_id__in=tree_ids, kind="task.status", id__gt=replay.get("pk", 0))
    for pk, seq, task_id, data in new_events.order_by("tree_id", "seq").values_list(
        "id", "seq", "task_id", "data"
    ):
        replay["pk"] = max(replay.get("pk", 0), pk)
        if task_id not in tasks:
            continue
        new = data.get("status")
        old = status.get(task_id, Status.PENDING.value)
        if old != new and not can_transition(old, new):
            errors.append(f"I7: {_name(tasks[task_id])} moved {old} -> {new} at #{seq}")
        if new == Status.IN_PROGRESS.value:
            for d in deps[task_id]:
                up = status.get(d.upstream_id, Status.PENDING.value)
                ok = up == Status.COMPLETED.value if d.required else up in {s.value for s in TERMINAL}
                if not ok:
                    errors.append(
                        f"I6: {_name(tasks[task_id])} started at #{seq} while "
                        f"{'required' if d.required else 'optional'} dependency "
                        f"{tasks[d.upstream_id].name} was {up}"
                    )
        status[task_id] = new
    for task_id, task in tasks.items():
        replayed = status.get(task_id, Status.PENDING.value)
        if task.status != replayed:
            errors.append(f"I7: {_name(task)} is {task.status}, events say {replayed}")
    return errors


def lease_seconds() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ARBOR_LEASE_SECONDS)
