"""Attempts: claim ready tasks, renew leases, record progress, record outcomes.

Every write an attempt makes is fenced by its identity: ``UPDATE attempt ... WHERE id = <attempt>
AND outcome = 'running'`` and ``UPDATE task ... WHERE current_attempt = <attempt>``. A stale or
resumed worker therefore changes nothing once its attempt has been ended elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tasks_app.engine import inputs as engine_inputs
from tasks_app.engine.backoff import retry_delay as backoff_delay
from tasks_app.engine.resources import Lock, ResourceQueue, scoped
from tasks_app.engine.resources import normalise as normalise_resources
from tasks_app.engine.states import RETRYABLE_OUTCOMES, Outcome, Status
from tasks_app.exceptions import UnknownExecutor
from tasks_app.executors import registry
from tasks_app.models import Attempt, Dependency, ResourceLock, Task

from . import history, scheduling
from .event_log import EventBuffer
from .resources import SharedResources, not_granted_message, shared_resources
from .sql import RoundTrip, Template, uuid_param

logger = logging.getLogger(__name__)

# Executors cheap enough to run several per claim (no I/O, no sleeping).
BATCHABLE = {"noop", "echo", "fail", "aggregate_results"}
INLINE, SHARED, ALONE = "inline", "shared", "alone"  # run_kind
CLAIM_PAGES = 4  # how far past lock-blocked tasks a claim looks (pages of max(2 x batch, 8))
MAX_LOG_LINES = 200


@dataclass
class Claim:
    attempt_id: Any
    task_id: Any
    tree_id: Any
    number: int
    executor: str
    name: str
    inputs: dict
    params: dict
    dependency_results: dict
    timeout: float | None
    lease_expires_at: dt.datetime | None = None
    has_locks: bool = False
    refused: str | None = None  # names a shared resource its owner is no longer granted: fail it


@dataclass
class Finish:
    attempt_id: Any
    task_id: Any
    outcome: str
    result: object = None
    error: str | None = None
    error_type: str | None = None
    permanent: bool = False
    logs: list = field(default_factory=list)
    has_locks: bool = True  # False lets the batch skip the lock-release statement
    # log lines not yet announced by a heartbeat: announced (fenced) with the outcome, which
    # saves the worker a transaction per attempt
    new_logs: list = field(default_factory=list)


def _lease(now):
    return now + dt.timedelta(seconds=settings.ARBOR_LEASE_SECONDS)


def ready_queue(now):
    """Claimable tasks in (priority, became_ready, created) order."""
    return (
        Task.objects.filter(status=Status.PENDING.value, ready_at__isnull=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("priority", "ready_at", "created_at", "position")
    )


def claimable_count(now=None) -> int:
    return ready_queue(now or timezone.now()).count()


def claimable_since(since, *, now=None, sample: int = 100) -> bool:
    """Whether a ready task has been claimable (nothing changed it, its backoff was over, its
    locks were free and nobody ahead waited for them) since ``since`` — the watchdog's sign of a
    cluster that stopped claiming."""
    now = now or timezone.now()
    queue = list(
        ready_queue(now).only("id", "owner_id", "resources", "updated_at", "next_attempt_at")[:sample]
    )
    named = {task.id: _task_locks(task) for task in queue}
    shared = _shared_for(queue, named)
    wanted = {task.id: scoped(named[task.id], task.owner_id, shared.keys) for task in queue}
    resources = ResourceQueue(_held(wanted.values()), shared.capacity)  # the claimer's policy
    for task in queue:
        if shared.refused(task.owner_id, named[task.id]):
            pass  # a claim pass would have failed it at once, taking no lock
        elif resources.offer(wanted[task.id]):
            continue  # waits for a lock (a claim pass would have started the others)
        if task.updated_at < since and (task.next_attempt_at is None or task.next_attempt_at < since):
            return True
    return False


def _shared_for(tasks, named: dict) -> SharedResources:
    """The shared resources that ``tasks`` name (``named``: task id -> locks as named) and their
    grants to the tasks' owners: read once per page, never per task."""
    keys = {key for locks in named.values() for key, _ in locks}
    if not keys:
        return shared_resources((), ())
    return shared_resources(keys, {task.owner_id for task in tasks if named.get(task.id)})


def _held(lock_lists) -> list[Lock]:
    """The locks live attempts hold on any key of ``lock_lists`` (scoped keys): one query."""
    keys = sorted({key for locks in lock_lists for key, _ in locks})
    if not keys:
        return []
    return [
        Lock(key, mode) for key, mode in ResourceLock.objects.filter(key__in=keys).values_list("key", "mode")
    ]


def _advisory_lock(keys) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"arbor-resource:{key}"])


def run_kind(executor_id: str) -> str:
    """How a worker runs an executor: INLINE (instant, a batch at a time), SHARED (side by side
    with others of its kind in one process: ``Executor.concurrent``) or ALONE."""
    if executor_id in BATCHABLE:
        return INLINE
    cls = _executor_cls(executor_id)
    return SHARED if cls is not None and getattr(cls, "concurrent", False) else ALONE


def claim_batch(
    *, worker: str, limit: int = 1, slow_limit: int = 1, alone_ok: bool = True, now=None
) -> list[Claim]:
    """Atomically claim up to ``limit`` ready tasks (compare-and-set; ``SKIP LOCKED`` on PostgreSQL).

    A batch is of one kind (``run_kind``): instant executors, up to ``limit``, run inline one after
    the other; or concurrent executors, up to ``slow_limit`` (the worker's free executor slots: it
    runs them side by side, each under its own lease); or one task of any other executor, claimed
    alone and only by an otherwise idle worker (``alone_ok``), so that it never shares a process
    with another attempt (a poison task or a hard kill takes only itself down). ``now`` is for
    tests with a fake clock; without it the attempt's start time is read after the queue was
    read, so it is never earlier than the commit that made the task claimable.
    """
    with transaction.atomic():
        return _claim(worker=worker, limit=limit, slow_limit=slow_limit, alone_ok=alone_ok, now=now)


def _task_locks(task: Task) -> list:
    if not task.resources:
        return []
    try:
        return normalise_resources(task.resources)
    except Exception:  # validated at creation; be defensive
        return []


@dataclass
class _Pick:
    """What one claim decided, walking the ready queue: the tasks it starts (in queue order) with
    the locks each takes, the ones it fails at once instead (a revoked grant), and the waiting
    tasks whose ``waiting_reason`` changed."""

    resources: ResourceQueue = field(default_factory=ResourceQueue)
    chosen: list[Task] = field(default_factory=list)
    lock_rows: list[tuple[Task, list]] = field(default_factory=list)
    refusals: dict = field(default_factory=dict)  # task id -> why it fails instead of taking its locks
    waiting_updates: list[Task] = field(default_factory=list)
    seen: set = field(default_factory=set)  # task ids this claim has placed in the queue


_CLAIM_FIELDS = (
    "id",
    "tree_id",
    "owner_id",
    "name",
    "executor",
    "priority",
    "resources",
    "timeout",
    "params",
    "inputs",
    "attempt_count",
    "waiting_reason",
    "max_retries",
)
# the claim page's columns, in the model's field order (``Task.from_db`` takes them so)
_CLAIM_COLUMNS = [f.attname for f in Task._meta.concrete_fields if f.attname in _CLAIM_FIELDS]
_CLAIMED_FIELDS = [
    "status",
    "started_at",
    "completed_at",
    "next_attempt_at",
    "waiting_reason",
    "progress",
    "progress_message",
    "error",
    "error_type",
    "result",
    "updated_at",
    "attempt_count",
    "current_attempt",
]


def _claim(
    *,
    worker: str,
    limit: int,
    slow_limit: int = 1,
    alone_ok: bool = True,
    now=None,
    events: EventBuffer | None = None,
    trip: RoundTrip | None = None,
    known: _Known | None = None,
) -> list[Claim]:
    """Pick ready tasks (``_pick``) and start an attempt of each (``_start``); events go to
    ``events`` (written by its owner with the other rows) or to a buffer flushed here.

    ``trip``: the owner's round trip (``sql.RoundTrip``): what it holds goes out with the first
    read of the queue, and the claim's writes are left in it for the owner to send with its
    events; without one, the claim sends its writes and events itself."""
    own_buffer = events is None
    trip = RoundTrip() if trip is None else trip
    pick, now = _pick(limit=limit, slow_limit=slow_limit, alone_ok=alone_ok, now=now, trip=trip)
    if events is None:
        events = EventBuffer(source="worker")
    if pick.waiting_updates:
        Task.objects.bulk_update(pick.waiting_updates, ["waiting_reason"])
    for task in pick.waiting_updates:  # shown live as "waiting for <resource>", not as stuck
        events.add(task.tree_id, "task.waiting", task_id=task.id, reason=task.waiting_reason)
    claims = (
        _start(pick, worker=worker, now=now, events=events, trip=trip, known=known) if pick.chosen else []
    )
    # the tree is already in progress (execute/retry/rerun set it): no status refresh here
    if own_buffer:
        events.flush(batch=trip)
        trip.run()
    return claims


def _pick(*, limit: int, slow_limit: int, alone_ok: bool, now, trip: RoundTrip) -> tuple[_Pick, dt.datetime]:
    """Walk the ready queue page by page and decide what this claim starts; returns the decision
    and ``now`` (read after the first page's queue and advisory locks unless given).

    Tasks waiting for a lock keep their place, but never hide claimable work behind them: look
    further down the queue (``CLAIM_PAGES`` pages at most) while everything seen so far waits."""
    queue_now = now or timezone.now()
    page = max(limit * 2, 8)
    pick = _Pick()
    for offset in range(0, page * CLAIM_PAGES, page):
        read = _CLAIM_PAGE.rows(trip, queue_now, offset, page)  # with the writes the trip holds
        trip.run()
        candidates = [Task.from_db(connection.alias, _CLAIM_COLUMNS, row) for row in read.rows]
        named = {task.id: _task_locks(task) for task in candidates}
        # one read of the shared resources the page names; every other key is its owner's own
        shared = _shared_for(candidates, named)
        wanted = {task.id: scoped(named[task.id], task.owner_id, shared.keys) for task in candidates}
        # every resource this page may need, locked once in sorted order: claimers never deadlock
        _advisory_lock([key for locks in wanted.values() for key, _ in locks])
        if now is None:
            now = timezone.now()  # read after the queue: later than any commit the queue saw
        # after the advisory locks: what the page's resources hold
        pick.resources.refresh(_held(wanted.values()), shared.capacity)
        queue = _with_skipped(candidates, wanted, pick.seen, now, offset + 2 * page)
        _pick_from_page(pick, queue, named, wanted, shared, limit, slow_limit, alone_ok)
        if pick.chosen or len(candidates) < page:
            break
    return pick, now


def _claim_page(now, offset: int, size: int):
    qs = ready_queue(now).values_list(*_CLAIM_COLUMNS)
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return qs[offset : offset + size]


_CLAIM_PAGE = Template(_claim_page)


def _pick_from_page(
    pick: _Pick, queue: list[Task], named: dict, wanted: dict, shared, limit, slow_limit, alone_ok
) -> None:
    """Offer the tasks of one page (``queue``, in queue order) to the claim: the batch rules of
    ``claim_batch`` first, then a revoked grant (the task fails, taking no lock), then the
    engine's resource policy (``ResourceQueue``: lock modes, capacity, FIFO per resource)."""
    for task in queue:
        if task.id not in wanted:
            # ahead of us in the queue but row-locked by a concurrent claimer (SKIP LOCKED hid
            # it): its claim is not committed, so it has not taken its locks yet. Keep its
            # place, or we could take a lock a higher-priority task is about to take. (A key
            # the page does not name cannot meet the page's keys, shared or not.)
            pick.resources.keep_place(scoped(_task_locks(task), task.owner_id, shared.keys))
            continue
        if len(pick.chosen) >= limit:
            break
        fit = _batch_fit(task, pick.chosen, slow_limit, alone_ok)
        if fit == "full":
            break
        if fit == "skip":
            continue  # not this batch's kind, or no slot for it: another claim takes it
        refused = shared.refused(task.owner_id, named[task.id])
        if refused:
            # a grant revoked since the task was written: it fails, taking no lock
            pick.refusals[task.id] = not_granted_message(refused)
            pick.chosen.append(task)
            pick.lock_rows.append((task, []))
            continue
        locks = wanted[task.id]
        reason = pick.resources.offer(locks)
        if reason:
            if task.waiting_reason != reason:
                task.waiting_reason = reason
                pick.waiting_updates.append(task)
            continue
        pick.chosen.append(task)
        pick.lock_rows.append((task, locks))


def _batch_fit(task: Task, chosen: list[Task], slow_limit: int, alone_ok: bool) -> str:
    """Whether ``task`` joins a batch that holds ``chosen`` (``claim_batch``: a batch is of one
    run kind): ``"take"``, ``"skip"`` (leave it to another claim) or ``"full"`` (stop here)."""
    kind = run_kind(task.executor)
    if chosen and kind != run_kind(chosen[0].executor):
        return "skip"
    if kind == SHARED and len(chosen) >= slow_limit:
        return "full"
    if kind == SHARED and slow_limit <= 0 or kind == ALONE and (chosen or not alone_ok):
        return "skip"  # the worker has no slot for it
    return "take"


def _start(
    pick: _Pick, *, worker: str, now, events: EventBuffer, trip: RoundTrip, known: _Known | None = None
) -> list[Claim]:
    """Start an attempt of each chosen task: the attempt rows, the tasks moved to
    ``in_progress`` (compare-and-set) and the resource locks, in one pass each — left in
    ``trip`` (one round trip with the events that follow them)."""
    claims, attempts = _new_attempts(pick, worker=worker, now=now, events=events, trip=trip, known=known)
    trip.insert(attempts)
    _mark_in_progress(pick.chosen, now, trip)
    attempt_of = {attempt.task_id: attempt.id for attempt in attempts}
    locks = [
        ResourceLock(key=key, mode=mode, attempt_id=attempt_of[task.id], task_id=task.id)
        for task, task_locks in pick.lock_rows
        for key, mode in task_locks
    ]
    trip.insert(locks)
    return claims


def _new_attempts(
    pick: _Pick, *, worker: str, now, events: EventBuffer, trip: RoundTrip, known: _Known | None = None
) -> tuple[list[Claim], list[Attempt]]:
    """The attempt (not yet saved) and the worker's ``Claim`` of each chosen task, with effective
    inputs from its dependencies' results; sets the tasks' attempt count and current attempt."""
    chosen = pick.chosen
    if known is None or not known.covers(chosen):
        # the dependencies' results and the trees' open runs (each attempt belongs to its tree's
        # run): two reads, one round trip
        known = _Known.read(trip, [t.id for t in chosen], {t.tree_id for t in chosen})
        trip.run()
    deps, run_of = known.deps(), known.runs()
    attempts, claims = [], []
    lease = _lease(now)
    for index, task in enumerate(chosen):
        executor_cls = _executor_cls(task.executor)
        dep_rows = deps.get(task.id, [])
        aggregate = bool(getattr(executor_cls, "aggregate", False))
        effective = engine_inputs.effective_inputs(task.inputs or {}, dep_rows, aggregate=aggregate)
        number = task.attempt_count + 1
        attempt = Attempt(
            task_id=task.id,
            tree_id=task.tree_id,
            run_id=run_of.get(task.tree_id),
            number=number,
            executor=task.executor,
            # a batch runs in queue order: keep that order visible in the start times
            effective_inputs=effective,
            worker=worker,
            started_at=now + dt.timedelta(microseconds=index),
            heartbeat_at=now,
            lease_expires_at=lease,
        )
        attempts.append(attempt)
        task.attempt_count = number
        task.current_attempt_id = attempt.id
        claims.append(
            Claim(
                attempt_id=attempt.id,
                task_id=task.id,
                tree_id=task.tree_id,
                number=number,
                executor=task.executor,
                name=task.name,
                inputs=effective,
                params=task.params or {},
                dependency_results=engine_inputs.aggregate_results(dep_rows),
                timeout=_timeout(task),
                lease_expires_at=lease,
                has_locks=bool(task.resources) and task.id not in pick.refusals,
                refused=pick.refusals.get(task.id),
            )
        )
        events.add(
            task.tree_id,
            "task.status",
            task_id=task.id,
            status=Status.IN_PROGRESS.value,
            attempt=number,
            worker=worker,
        )
    return claims, attempts


class _Known:
    """The dependencies' results of some tasks and the open runs of some trees, read ahead: a
    hop reads them for the tasks it has just made ready with its first read of the queue, which
    saves a round trip whenever it claims those very tasks (a chain)."""

    def __init__(self, task_ids, tree_ids, dep_rows, run_rows):
        self.task_ids = {str(i) for i in task_ids}
        self.tree_ids = {str(i) for i in tree_ids}
        self._deps, self._runs = dep_rows, run_rows

    @classmethod
    def ahead(cls, trip: RoundTrip, became_ready: list, *, limit: int) -> _Known | None:
        """The reads for the tasks a finish made ready, added to ``trip``; None if none did, or
        more than a claim of ``limit`` could take (W1: 500 ready at once)."""
        if not became_ready or len(became_ready) > limit:
            return None
        return cls.read(trip, became_ready, scheduling.trees_of_ready(became_ready))

    @classmethod
    def read(cls, trip: RoundTrip, task_ids, tree_ids) -> _Known:
        """Reads added to ``trip``: in by the time the trip has run."""
        return cls(
            task_ids,
            tree_ids,
            _DEPENDENCY_RESULTS.rows(trip, list(task_ids)),
            _OPEN_RUNS.rows(trip, [t for t in tree_ids if t]),
        )

    def covers(self, chosen: list[Task]) -> bool:
        return all(str(t.id) in self.task_ids and str(t.tree_id) in self.tree_ids for t in chosen)

    def deps(self) -> dict:
        return _dependency_results_of(self._deps.rows)

    def runs(self) -> dict:
        return dict(self._runs.rows)  # ordered by run number: the latest open run wins


def _mark_in_progress(chosen: list[Task], now, trip: RoundTrip) -> None:
    """Move the chosen tasks to ``in_progress`` under their new attempts: one compare-and-set
    statement (``status = 'pending'``), which cannot lose under the row locks (PostgreSQL) or the
    IMMEDIATE transaction (SQLite)."""
    rows = [
        {
            "pk": t.id,
            "status": Status.IN_PROGRESS.value,
            "started_at": now,
            "completed_at": None,
            "next_attempt_at": None,
            "waiting_reason": "",
            "progress": 0.0,
            "progress_message": "",
            "error": None,
            "error_type": None,
            "result": None,
            "updated_at": now,
            "attempt_count": t.attempt_count,
            "current_attempt": t.current_attempt_id,
        }
        for t in chosen
    ]

    def check(result) -> None:
        if result.rowcount != len(chosen):
            raise RuntimeError("claim lost a compare-and-set race")

    trip.update_rows(
        Task, rows, _CLAIMED_FIELDS, where="t.status = %s", where_params=[Status.PENDING.value], then=check
    )


def _with_skipped(candidates: list[Task], wanted: dict, seen: set, now, depth: int) -> list[Task]:
    """``candidates`` (a page read with ``SKIP LOCKED``) in queue order, with the lock-wanting
    tasks ahead of them that the page skipped merged in at their places. Only on PostgreSQL, only
    when the page wants a lock, and read after the advisory locks: a concurrent claimer of one of
    our resources has committed by then (its task is no longer pending) or has not reached the
    resource yet (its task is still pending, and keeps its place ahead of ours)."""
    seen.update(wanted)
    if connection.vendor != "postgresql" or not any(wanted.values()):
        return candidates
    head = list(ready_queue(now).only("id", "owner_id", "resources")[:depth])
    if all(task.id in seen for task in head):
        return candidates
    mine = {task.id: task for task in candidates}
    merged = []
    for task in head:
        if task.id in mine:
            merged.append(mine.pop(task.id))
        elif task.id not in seen and task.resources:
            merged.append(task)
        seen.add(task.id)
    return merged + [task for task in candidates if task.id in mine]


def _executor_cls(executor_id):
    try:
        return registry.get_executor_class(executor_id)
    except UnknownExecutor:
        return None


def _timeout(task: Task) -> float | None:
    return task.timeout if task.timeout is not None else settings.ARBOR_DEFAULT_TIMEOUT


def _dependency_results_query(task_ids):
    return (
        Dependency.objects.filter(downstream_id__in=task_ids)
        .order_by("downstream_id", "position")
        .values_list("downstream_id", "upstream__name", "upstream__status", "upstream__result")
    )


_DEPENDENCY_RESULTS = Template(_dependency_results_query)
_OPEN_RUNS = Template(history.open_runs_query)


def _dependency_results_of(rows) -> dict:
    """{task_id: [(dep_name, status, result), ...]} in dependency-list order."""
    out: dict = {}
    for down, name, status, result in rows:
        out.setdefault(down, []).append((name, Status(status), result))
    return out


def heartbeat(
    attempt_id,
    *,
    progress: float | None = None,
    message: str | None = None,
    logs: list | None = None,
    task_id=None,
    tree_id=None,
) -> bool:
    """Renew the lease (and flush throttled progress and log lines). False means the attempt was
    ended elsewhere (cancelled, reaped, fenced): the worker must stop its executor."""
    now = timezone.now()
    with transaction.atomic():
        alive = Attempt.objects.filter(id=attempt_id, outcome=Outcome.RUNNING.value).update(
            heartbeat_at=now, lease_expires_at=_lease(now)
        )
        if not alive:
            return False
        events = EventBuffer(source="worker")
        if progress is not None and task_id is not None:
            Task.objects.filter(id=task_id, current_attempt_id=attempt_id).update(
                progress=max(0.0, min(1.0, progress)), progress_message=(message or "")[:500]
            )
            events.add(
                tree_id, "task.progress", task_id=task_id, progress=round(progress, 4), message=message or ""
            )
        for level, line in logs or []:
            events.add(tree_id, "task.log", task_id=task_id, level=level, line=str(line)[:2000])
        if len(events):
            events.flush()
    return True


def cancel_requested(task_id) -> bool:
    return Task.objects.filter(id=task_id, cancel_requested=True).exists()


def finish(finishes: list[Finish], *, actor=None, now=None, expired_only: bool = False) -> list:
    """Record attempt outcomes (fenced), move tasks on, release locks, propagate, refresh tree
    status — one transaction for the whole batch. Returns the ids of tasks that became ready.

    ``expired_only`` is the reaper's fence: an attempt whose lease was renewed after the reaper
    looked (its worker was only slow) is left alone, locks included."""
    now = now or timezone.now()
    with transaction.atomic():
        events = EventBuffer(actor_id=getattr(actor, "pk", None), source="worker")
        trip = RoundTrip()
        became_ready, refresh = _finish(
            finishes, now=now, events=events, expired_only=expired_only, trip=trip
        )
        _settle(refresh, events, now, trip)
        return became_ready


def finish_and_claim(
    finishes: list[Finish], *, worker: str, limit: int, slow_limit: int = 1, alone_ok: bool = True, now=None
) -> tuple[list, list[Claim]]:
    """Record a batch's outcomes and claim the next batch in the same transaction: the dependent
    that this completion made ready goes straight to this worker, with one commit per hop."""
    fake_clock = now
    now = now or timezone.now()
    with transaction.atomic():
        events = EventBuffer(source="worker")
        # one round trip for statements that need nothing from each other's results: the
        # tasks made ready go out with the first read of the queue, the new attempts with the events
        trip = RoundTrip()
        became_ready, refresh = _finish(finishes, now=now, events=events, trip=trip)
        claims = _claim(
            worker=worker,
            limit=limit,
            slow_limit=slow_limit,
            alone_ok=alone_ok,
            now=fake_clock,
            events=events,
            trip=trip,
            known=_Known.ahead(trip, became_ready, limit=max(limit, slow_limit)),
        )
        _settle(refresh, events, now, trip)
        return became_ready, claims


def _settle(refresh: set, events: EventBuffer, now, trip: RoundTrip) -> None:
    """Refresh the status of the trees in ``refresh`` and write the events: the only tree rows a
    finish (and claim) writes, so they are locked together, in one statement in id order, before
    any of them is written, at the end of the transaction. Before, two workers finishing tasks of
    two trees at once (one refreshing tree A, then numbering an event of tree B; the other the
    reverse) deadlocked, and the attempt PostgreSQL rolled back could outlive its lease while its
    worker retried (seen in RT-06).

    ``trip`` holds the transaction's last writes (ready tasks, new attempts): they go out with
    the tree locks and, when no status needs a refresh, with the events — one round trip."""
    scheduling.lock_trees(set(refresh) | events.tree_ids(), trip)
    if refresh:
        trip.run()
        scheduling.refresh_tree_status(refresh, events, now)
    events.flush(batch=trip)
    trip.run(commit=True)  # the transaction's last writes: its COMMIT goes with them


def _finish(
    finishes: list[Finish], *, now, events: EventBuffer, trip: RoundTrip, expired_only: bool = False
) -> tuple[list, set]:
    """Record the outcomes; returns the tasks that became ready and the trees whose status the
    caller refreshes (with ``_settle``, after anything else the transaction does). The last
    write (the tasks made ready) is left in ``trip``."""
    if not expired_only and all(f.outcome == Outcome.COMPLETED.value and not f.has_locks for f in finishes):
        return _finish_completed(finishes, now=now, events=events, trip=trip)
    attempt_ids = [f.attempt_id for f in finishes]
    where = "t.outcome = %s"
    where_params: list[object] = [Outcome.RUNNING.value]
    if expired_only:
        where += " AND (t.lease_expires_at < %s OR (t.lease_expires_at IS NULL AND t.started_at < %s))"
        cutoff = now - dt.timedelta(seconds=settings.ARBOR_LEASE_SECONDS)
        where_params += [
            connection.ops.adapt_datetimefield_value(now),
            connection.ops.adapt_datetimefield_value(cutoff),
        ]
    # the fence: only attempts that are still running record an outcome (one statement), sent
    # with the read of their tasks (whatever the fence says: the tasks of fenced-out attempts are
    # ignored below)
    fence = trip.update_rows(
        Attempt,
        [_fence_row(f, now) for f in finishes],
        _FENCE_FIELDS,
        where=where,
        where_params=where_params,
        returning=True,
    )
    has_locks = any(f.has_locks for f in finishes)
    if has_locks and not expired_only:
        # released however the attempt ended; a worker reporting on its own attempt also releases
        # what it held after the attempt was ended elsewhere (cancelled while running)
        trip.call(lambda: ResourceLock.objects.filter(attempt_id__in=attempt_ids).delete())
    read = _FINISHED_TASKS.rows(trip, [f.task_id for f in finishes])
    trip.run()
    alive = set(fence.rows)
    if has_locks and expired_only:  # the reaper's fence: only the attempts it ended
        ResourceLock.objects.filter(attempt_id__in=[a for a in attempt_ids if a in alive]).delete()
    for f in finishes:
        if f.attempt_id not in alive:
            logger.info("discarded a late outcome of attempt %s (%s)", f.attempt_id, f.outcome)
    live = [f for f in finishes if f.attempt_id in alive]
    if not live:
        return [], set()
    tasks = {row[0]: Task.from_db(connection.alias, _FINISH_COLUMNS, row) for row in read.rows}
    completed: list[Finish] = []
    terminal: list = []
    trees: set = set()
    for f in live:
        task = tasks.get(f.task_id)
        if task is None or task.current_attempt_id != f.attempt_id:
            continue  # the task moved on (cancelled, re-run): nothing more to record
        trees.add(task.tree_id)
        _announce(events, task.tree_id, task.id, task.attempt_count, f)
        if f.outcome == Outcome.COMPLETED.value:
            completed.append(f)
            terminal.append(task.id)
        elif _finish_other(task, f, events, now, trip):
            terminal.append(task.id)
    if completed:
        trip.update_rows(Task, [_completion_row(f, now) for f in completed], _COMPLETION_FIELDS)
    # the completions go out with propagate's first read (the dependents it row-locks)
    became_ready = scheduling.propagate(terminal, events, now, trip) if terminal else []
    return became_ready, _trees_to_refresh(trees, became_ready)


def _finish_completed(
    finishes: list[Finish], *, now, events: EventBuffer, trip: RoundTrip
) -> tuple[list, set]:
    """:func:`_finish` for a batch of successes holding no resource lock (the hot path: every hop
    of a chain), in one round trip: the fence; the completion of each task whose current attempt
    is one this fence just ended (a compare-and-set: the rule is the one above, ``completed``
    completes the task); the tasks as they are now (for the events); and propagate's first read,
    the dependents of the batch row-locked and the edges into them."""
    attempt_ids = [f.attempt_id for f in finishes]
    task_ids = [f.task_id for f in finishes]
    fence = trip.update_rows(
        Attempt,
        [_fence_row(f, now) for f in finishes],
        _FENCE_FIELDS,
        where="t.outcome = %s",
        where_params=[Outcome.RUNNING.value],
        returning=True,
    )
    adapt = connection.ops.adapt_datetimefield_value
    done = trip.update_rows(
        Task,
        [_completion_row(f, now) for f in finishes],
        _COMPLETION_FIELDS,
        # still running the attempt this fence just ended (ours: we wrote that finished_at)
        where=(
            "t.status = %s AND t.current_attempt_id IN ("
            + ", ".join(["%s"] * len(attempt_ids))
            + f") AND EXISTS (SELECT 1 FROM {Attempt._meta.db_table} a WHERE a.id = t.current_attempt_id"
            " AND a.outcome = %s AND a.finished_at = %s)"
        ),
        where_params=[
            Status.IN_PROGRESS.value,
            *(uuid_param(a) for a in attempt_ids),
            Outcome.COMPLETED.value,
            adapt(now),
        ],
        returning=True,
    )
    read = _COMPLETED_TASKS.rows(trip, task_ids)
    ahead = scheduling.read_dependents(trip, task_ids)
    trip.run()
    alive = set(fence.rows)
    for f in finishes:
        if f.attempt_id not in alive:
            logger.info("discarded a late outcome of attempt %s (%s)", f.attempt_id, f.outcome)
    completed = set(done.rows)
    if not completed:
        return [], set()
    tasks = {row[0]: row for row in read.rows}  # id, tree_id, attempt_count
    terminal: list = []
    trees: set = set()
    for f in finishes:
        if f.task_id not in completed:
            continue  # fenced out, or the task moved on (cancelled, re-run): nothing recorded
        _, tree_id, attempt_count = tasks[f.task_id]
        trees.add(tree_id)
        _announce(events, tree_id, f.task_id, attempt_count, f)
        terminal.append(f.task_id)
    became_ready = scheduling.propagate(terminal, events, now, trip, read_ahead=ahead)
    return became_ready, _trees_to_refresh(trees, became_ready)


_FENCE_FIELDS = ["outcome", "result", "error", "error_type", "finished_at", "lease_expires_at", "logs"]
_COMPLETION_FIELDS = [
    "status",
    "result",
    "error",
    "error_type",
    "progress",
    "completed_at",
    "cancel_requested",
    "updated_at",
]


def _fence_row(f: Finish, now) -> dict:
    """The attempt's outcome as the fence writes it (a result is kept only for a success)."""
    return {
        "pk": f.attempt_id,
        "outcome": f.outcome,
        "result": f.result if f.outcome == Outcome.COMPLETED.value else None,
        "error": f.error,
        "error_type": f.error_type,
        "finished_at": now,
        "lease_expires_at": None,
        "logs": (f.logs or [])[-MAX_LOG_LINES:],
    }


def _completion_row(f: Finish, now) -> dict:
    """The task a success completes (``_COMPLETION_FIELDS``)."""
    return {
        "pk": f.task_id,
        "status": Status.COMPLETED.value,
        "result": f.result,
        "error": None,
        "error_type": None,
        "progress": 1.0,
        "completed_at": now,
        "cancel_requested": False,
        "updated_at": now,
    }


def _announce(events: EventBuffer, tree_id, task_id, attempt_count, f: Finish) -> None:
    """The attempt's log lines not announced yet and, for a success, the task's new status (other
    outcomes are announced by ``_finish_other``, which decides them)."""
    for level, line in f.new_logs:
        events.add(tree_id, "task.log", task_id=task_id, level=level, line=str(line)[:2000])
    if f.outcome == Outcome.COMPLETED.value:
        events.add(
            tree_id,
            "task.status",
            task_id=task_id,
            status=Status.COMPLETED.value,
            attempt=attempt_count,
            result=_preview(f.result),
        )


def _trees_to_refresh(trees: set, became_ready) -> set:
    """The trees whose status the caller refreshes: a tree in which something just became ready
    is still in progress, no need to look."""
    return trees - set(scheduling.trees_of_ready(became_ready)) if became_ready else trees


_COMPLETED_TASKS = Template(
    lambda ids: Task.objects.filter(id__in=ids).order_by().values_list("id", "tree_id", "attempt_count")
)


_FINISH_COLUMNS = [
    f.attname
    for f in Task._meta.concrete_fields
    if f.attname
    in {
        "id",
        "tree_id",
        "status",
        "max_retries",
        "retry_delay",
        "attempt_count",
        "name",
        "current_attempt_id",
        "ready_at",
    }
]


_FINISHED_TASKS = Template(
    lambda ids: Task.objects.filter(id__in=ids, status=Status.IN_PROGRESS.value).values_list(*_FINISH_COLUMNS)
)


def _finish_other(task: Task, f: Finish, events: EventBuffer, now, trip: RoundTrip) -> bool:
    """Every outcome but success (rare: one row at a time). Returns True if the task is terminal."""
    trip.run()  # what the trip holds is written first, in order
    fenced = Task.objects.filter(
        id=f.task_id, current_attempt_id=f.attempt_id, status=Status.IN_PROGRESS.value
    )
    outcome = Outcome(f.outcome)
    if outcome == Outcome.INTERRUPTED:
        # shutdown: back to the queue at once; an interruption does not consume a retry
        fenced.update(status=Status.PENDING.value, next_attempt_at=None, updated_at=now, progress=0.0)
        events.add(
            task.tree_id,
            "task.status",
            task_id=task.id,
            status=Status.PENDING.value,
            attempt=task.attempt_count,
            reason="interrupted",
        )
        return False
    if outcome == Outcome.CANCELLED:
        fenced.update(
            status=Status.CANCELLED.value,
            error=f.error or "cancelled",
            error_type="cancelled",
            completed_at=now,
            updated_at=now,
        )
        events.add(
            task.tree_id,
            "task.status",
            task_id=task.id,
            status=Status.CANCELLED.value,
            error=f.error or "cancelled",
            error_type="cancelled",
        )
        return True
    # failed, timed_out, worker_lost: count this run's failures (retry and re-run start afresh;
    # ``ready_at`` is when the task joined the current run, and a backoff or an interruption keeps it)
    failed = Attempt.objects.filter(task_id=task.id, outcome__in=[o.value for o in RETRYABLE_OUTCOMES])
    if task.ready_at is not None:
        failed = failed.filter(started_at__gte=task.ready_at)
    failures = failed.count()
    max_retries = task.max_retries if task.max_retries is not None else settings.ARBOR_DEFAULT_MAX_RETRIES
    if outcome in RETRYABLE_OUTCOMES and not f.permanent and failures <= max_retries:
        base = task.retry_delay if task.retry_delay is not None else settings.ARBOR_DEFAULT_RETRY_DELAY
        delay = backoff_delay(base, failures, settings.ARBOR_MAX_RETRY_DELAY)
        fenced.update(
            status=Status.PENDING.value,
            next_attempt_at=now + dt.timedelta(seconds=delay),
            error=f.error,
            error_type=f.error_type or outcome.value,
            updated_at=now,
        )
        events.add(
            task.tree_id,
            "task.status",
            task_id=task.id,
            status=Status.PENDING.value,
            attempt=task.attempt_count,
            reason="retry",
            retry_in=round(delay, 3),
            error=f.error,
            outcome=outcome.value,
        )
        return False
    fenced.update(
        status=Status.FAILED.value,
        error=f.error,
        error_type=f.error_type or outcome.value,
        completed_at=now,
        updated_at=now,
    )
    events.add(
        task.tree_id,
        "task.status",
        task_id=task.id,
        status=Status.FAILED.value,
        attempt=task.attempt_count,
        error=f.error,
        error_type=f.error_type or outcome.value,
    )
    return True


def _preview(result, limit: int = 2000):
    """Events carry small results inline; big ones are fetched from the API."""
    import json

    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        return None
    return result if len(text) <= limit else {"truncated": True, "bytes": len(text)}


def fail_unrunnable(claim: Claim, message: str, error_type: str) -> Finish:
    return Finish(
        attempt_id=claim.attempt_id,
        task_id=claim.task_id,
        outcome=Outcome.FAILED.value,
        error=message,
        error_type=error_type,
        permanent=True,
        has_locks=claim.has_locks,
    )
