"""The worker loop: claim, run, record — without a broker round trip per task.

A django-q2 worker process runs :func:`drain`, which keeps claiming ready tasks (the dependent
that its own completion just made ready included) until the queue is empty, the drain budget is
spent, or the cluster is shutting down.

Each non-trivial executor runs in a thread supervised by this loop, which renews the attempt's
lease, flushes throttled progress and log lines, and enforces timeouts and cancellation:
cooperative first (``cancel()`` and the context's cancel event), then, after a grace period, a
hard kill of the executor's child processes and of this worker process itself (django-q2's
sentinel starts a fresh one). A worker that cannot renew its lease stops its executor.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    stop_never,
    wait_exponential,
)
from tenacity.stop import stop_base

from tasks_app import conf
from tasks_app.engine.states import Outcome
from tasks_app.exceptions import UnknownExecutor
from tasks_app.executors import registry
from tasks_app.executors.base import ExecutionCancelled, ExecutionContext, ExecutorError
from tasks_app.executors.registry import DEMO_PARAM
from tasks_app.services import dispatch, runs

logger = logging.getLogger(__name__)


class stop_when(stop_base):
    """A tenacity stop strategy from a predicate on the retry state."""

    def __init__(self, predicate) -> None:
        self.predicate = predicate

    def __call__(self, retry_state) -> bool:
        return bool(self.predicate(retry_state))


_stop = threading.Event()
HARD_KILL_EXIT_CODE = 75
# A worker that could not renew its lease for this fraction of it stops its executor (the reaper
# may hand the task to another worker once the lease is over).
LEASE_SAFETY = 0.8
# With a free executor slot and nothing ended, look for newly ready work this often.
POOL_POLL_SECONDS = 0.25


def refresh_connections() -> None:
    """Drop broken or expired connections between units of work (never inside a transaction)."""
    from django.db import connection

    if not connection.in_atomic_block:
        close_old_connections()


def worker_id() -> str:
    label = conf.get("ARBOR_WORKER_LABEL")  # ops: which machine/cluster ran it
    return (
        f"{label}:{socket.gethostname()}:{os.getpid()}" if label else f"{socket.gethostname()}:{os.getpid()}"
    )


def request_stop() -> None:
    _stop.set()


def stopping() -> bool:
    if _stop.is_set():
        return True
    stop_file = conf.env("ARBOR_STOP_FILE")
    return bool(stop_file and os.path.exists(stop_file))


def _db_retry(fn, *args, attempts: int | None = None, **kwargs):
    """Run a service call, surviving a database restart or terminated connections: retried for up
    to ``ARBOR_DB_RETRY_SECONDS`` (or ``attempts`` times), then the error is raised. Never inside a
    transaction: the caller's work is gone with the connection, so the error goes up to it."""
    deadline = time.monotonic() + settings.ARBOR_DB_RETRY_SECONDS
    # 0.1 s doubling up to 2 s: back soon after the database is, well within a lease (before the
    # reaper gives up on our attempts)
    wait = wait_exponential(multiplier=0.1, max=min(2.0, settings.ARBOR_LEASE_SECONDS / 4))
    give_up = stop_after_attempt(attempts) if attempts is not None else stop_never
    retrying = Retrying(
        retry=retry_if_exception(_db_unavailable),
        wait=lambda state: max(0.1, wait(state)),
        # stop before a sleep that would end past the deadline (tenacity computes the wait first)
        stop=stop_any(give_up, stop_when(lambda state: time.monotonic() + state.upcoming_sleep > deadline)),
        before_sleep=_reconnect,
        reraise=True,
    )
    return retrying(fn, *args, **kwargs)


def _db_unavailable(exc: BaseException) -> bool:
    from django.db import connection

    return isinstance(exc, OperationalError | InterfaceError) and not connection.in_atomic_block


def _reconnect(state) -> None:
    from django.db import connection

    logger.warning(
        "database unavailable (%s); retrying in %.1fs", state.outcome.exception(), state.upcoming_sleep
    )
    try:
        connection.close()
    except Exception:
        pass


def drain(*, hard_kill: bool = True, budget: float | None = None, max_tasks: int | None = None) -> int:
    """Claim and run ready tasks until there are none. Returns how many attempts ran.

    Instant executors run inline, a batch at a time. Every other executor runs in one of up to
    ``ARBOR_WORKER_CONCURRENCY`` supervised threads (a :class:`_Pool`): whenever one ends, its
    outcome is recorded and the freed slots are refilled in the same transaction, while the others
    keep running under their own leases, timeouts and cancellation."""
    if stopping():
        return 0  # shutting down: a drain job delivered now claims nothing
    refresh_connections()
    budget = settings.ARBOR_DRAIN_BUDGET if budget is None else budget
    deadline = time.monotonic() + budget
    ran = 0
    me = worker_id()
    batch = settings.ARBOR_CLAIM_BATCH
    slots = max(1, settings.ARBOR_WORKER_CONCURRENCY)
    pool = _Pool(hard_kill=hard_kill)
    claims = _db_retry(runs.claim_batch, worker=me, limit=batch, slow_limit=slots)
    more = True
    while claims or pool:
        if claims and (
            len(claims) == batch
            or runs.run_kind(claims[0].executor) == runs.ALONE
            or len(pool) + len(claims) >= slots
        ):
            dispatch.wake(1)  # more work may be waiting: let an idle worker help
        finishes: list[runs.Finish] = []
        for i, claim in enumerate(claims):
            if stopping():
                finishes.extend(_interrupted(c) for c in claims[i:])
                break
            prepared = _prepare(claim)
            if isinstance(prepared, runs.Finish):
                finishes.append(prepared)
            elif claim.executor in runs.BATCHABLE:
                finishes.append(_outcome(claim, prepared[2], *_call(prepared[0], claim, prepared[1])))
            else:
                pool.start(claim, *prepared, alone=runs.run_kind(claim.executor) == runs.ALONE)
        claims = []
        if pool:
            # never block while outcomes wait to be recorded; poll the queue now and then while a
            # slot is free (work made ready elsewhere), else wait for an executor to end
            wait = (
                0.0
                if finishes
                else (None if pool.exclusive() or len(pool) >= slots or not more else POOL_POLL_SECONDS)
            )
            finishes.extend(pool.wait(wait, pending=finishes))
        ran += len(finishes)
        more = not stopping() and time.monotonic() < deadline and (max_tasks is None or ran < max_tasks)
        # an attempt that runs alone, or one about to be hard-killed, shares its process with no
        # new attempt (instant ones excepted: they are recorded before anything can kill it)
        free = 0 if pool.exclusive() else slots - len(pool)
        became_ready: list = []
        if more and (free > 0 or pool):
            # record these outcomes and take the next batch in the same transaction (one commit per hop)
            kw: dict[str, Any] = {"worker": me, "limit": batch, "slow_limit": free, "alone_ok": not pool}
            if finishes:
                became_ready, claims = _db_retry(runs.finish_and_claim, finishes, **kw) or ([], [])
            else:
                claims = _db_retry(runs.claim_batch, **kw)
        elif finishes:
            became_ready = _db_retry(runs.finish, finishes) or []
        if len(became_ready) > 1:
            dispatch.wake(len(became_ready) - 1)
    return ran


def run_until_idle(*, hard_kill: bool = False, timeout: float = 60.0) -> int:
    """Drain in this process until nothing is claimable (tests, CLI ``--inline``)."""
    total = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = drain(hard_kill=hard_kill, budget=max(0.1, deadline - time.monotonic()))
        total += n
        if n == 0:
            break
    return total


def _interrupted(claim: runs.Claim) -> runs.Finish:
    return runs.Finish(
        attempt_id=claim.attempt_id,
        task_id=claim.task_id,
        outcome=Outcome.INTERRUPTED.value,
        error="worker shut down",
        error_type="interrupted",
        has_locks=claim.has_locks,
    )


@dataclass
class _Reporter:
    """Collects progress and log lines from the executor thread; flushed with each heartbeat."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: float | None = None
    message: str = ""
    dirty: bool = False
    pending_logs: list = field(default_factory=list)
    all_logs: list = field(default_factory=list)

    def on_progress(self, fraction: float, message: str = "") -> None:
        with self.lock:
            self.progress, self.message, self.dirty = fraction, message, True

    def on_log(self, level: str, line: str) -> None:
        with self.lock:
            entry = [level, str(line)[:2000]]
            if len(self.pending_logs) < 1000:  # a chatty executor cannot flood clients
                self.pending_logs.append(entry)
            self.all_logs.append(entry)
            del self.all_logs[: -runs.MAX_LOG_LINES]

    def take(self):
        with self.lock:
            progress = self.progress if self.dirty else None
            logs, self.pending_logs = self.pending_logs, []
            self.dirty = False
            return progress, self.message, logs


def _json_result(result):
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise ExecutorError(
            f"result is not JSON-serialisable: {exc}", permanent=True, error_type="invalid_result"
        ) from None
    return result


def _prepare(claim: runs.Claim):
    """The executor, context and reporter of ``claim`` — or its Finish if it cannot run at all."""
    reporter = _Reporter()
    ctx = ExecutionContext(
        task_id=str(claim.task_id),
        attempt_id=str(claim.attempt_id),
        attempt_number=claim.number,
        task_name=claim.name,
        task_key=str(claim.task_id),
        params=claim.params,
        dependency_results=claim.dependency_results,
        timeout=claim.timeout,
        progress_callback=reporter.on_progress,
        log_callback=reporter.on_log,
    )
    if claim.refused:  # names a shared resource its owner is no longer granted: took no lock, fails
        return runs.fail_unrunnable(claim, claim.refused, "resource_not_granted")
    if claim.params.get(DEMO_PARAM) is True and (demo := registry.demo_result(claim.executor)) is not None:
        return _outcome(claim, reporter, copy.deepcopy(demo), None)  # apflow's use_demo: no side effects
    try:
        executor = registry.get_executor(claim.executor)
    except UnknownExecutor as exc:
        return runs.fail_unrunnable(claim, exc.message, "executor_not_found")
    except Exception as exc:
        return runs.fail_unrunnable(claim, f"executor could not be created: {exc}", "executor_error")
    return executor, ctx, reporter


def run_claim(claim: runs.Claim, *, hard_kill: bool, rest=()) -> runs.Finish:
    prepared = _prepare(claim)
    if isinstance(prepared, runs.Finish):
        return prepared
    executor, ctx, reporter = prepared
    if claim.executor in runs.BATCHABLE:
        return _outcome(claim, reporter, *_call(executor, claim, ctx))
    return _supervise(claim, executor, ctx, reporter, hard_kill=hard_kill, rest=rest)


def _call(executor, claim, ctx):
    try:
        return _json_result(executor.execute(claim.inputs, ctx)), None
    except BaseException as exc:
        return None, exc


def _outcome(claim, reporter, result, exc, reason: str | None = None, elapsed: float = 0.0) -> runs.Finish:
    base = {
        "attempt_id": claim.attempt_id,
        "task_id": claim.task_id,
        "logs": list(reporter.all_logs),
        "has_locks": claim.has_locks,
    }
    if reason == "timed_out":
        return runs.Finish(
            **base,
            outcome=Outcome.TIMED_OUT.value,
            error=f"timed out after {claim.timeout:g}s",
            error_type="timeout",
        )
    if reason == "interrupted":
        return runs.Finish(
            **base, outcome=Outcome.INTERRUPTED.value, error="worker shut down", error_type="interrupted"
        )
    if reason == "lease_lost":
        # the database was unreachable for most of the lease: a lost worker, as the reaper would say
        return runs.Finish(
            **base,
            outcome=Outcome.WORKER_LOST.value,
            error="worker lost its lease (database unreachable); executor stopped",
            error_type="worker_lost",
        )
    if reason in ("cancelled", "fenced"):
        # the attempt was already ended elsewhere; this is discarded by the fence
        return runs.Finish(**base, outcome=Outcome.CANCELLED.value, error="cancelled", error_type="cancelled")
    if exc is None:
        return runs.Finish(**base, outcome=Outcome.COMPLETED.value, result=result)
    if isinstance(exc, ExecutionCancelled):
        return runs.Finish(
            **base,
            outcome=Outcome.CANCELLED.value,
            error=str(exc) or "cancelled",
            error_type="cancelled",
            permanent=True,
        )
    if isinstance(exc, ExecutorError):
        return runs.Finish(
            **base,
            outcome=Outcome.FAILED.value,
            error=str(exc),
            error_type=exc.error_type,
            permanent=exc.permanent,
        )
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return runs.Finish(
        **base, outcome=Outcome.FAILED.value, error=message[:5000], error_type=type(exc).__name__
    )


def _supervise(claim, executor, ctx, reporter, *, hard_kill: bool, rest) -> runs.Finish:
    """Run one attempt under supervision until it ends (a pool of one slot)."""
    pool = _Pool(hard_kill=hard_kill, rest=rest)
    pool.start(claim, executor, ctx, reporter)
    finishes: list = []
    while not finishes:
        finishes = pool.wait(None)
    return finishes[0]


class _ExecutorThreads:
    """Daemon threads that run executors, kept for the next attempt: starting a thread per attempt
    cost about half a millisecond of each hop of a chain (the supervisor waits for the new thread
    to be scheduled). A thread takes one attempt at a time, in a fresh ``contextvars`` context; it
    is handed to the next attempt only once the previous one has returned (an attempt that never
    returns keeps its thread, as before), and exits after ``IDLE_SECONDS`` without work."""

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []  # the inboxes of threads waiting for work
        # a forked child (django-q2 starts its workers so) has none of its parent's threads
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._idle = []

    def run(self, fn) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is not None:
            inbox.put(fn)
            return
        inbox = queue.SimpleQueue()
        inbox.put(fn)
        threading.Thread(target=self._serve, args=(inbox,), name="arbor-executor", daemon=True).start()

    def _serve(self, inbox: queue.SimpleQueue) -> None:
        while True:
            try:
                fn = inbox.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # not handed out meanwhile: nobody will write to it
                        self._idle.remove(inbox)
                        return
                fn = inbox.get()  # handed out as the wait ended: the work is on its way
            try:
                contextvars.Context().run(fn)
            finally:
                # a database connection the executor opened in this thread is closed, as it was
                # when the thread ended with its attempt
                connections.close_all()
            with self._lock:
                self._idle.append(inbox)


_threads = _ExecutorThreads()


@dataclass
class _Slot:
    """One attempt running in an executor thread, and what its supervisor knows about it."""

    claim: runs.Claim
    executor: object
    ctx: ExecutionContext
    reporter: _Reporter
    start: float
    next_beat: float
    next_flush: float
    last_renewed: float
    done: threading.Event = field(default_factory=threading.Event)
    box: dict = field(default_factory=dict)
    reason: str | None = None
    kill_at: float | None = None
    alone: bool = False


class _Pool:
    """Attempts running side by side in executor threads, supervised by the draining thread: each
    keeps its own lease (heartbeats), timeout, cooperative-then-hard cancellation and shutdown
    grace, so one slot's timeout or cancellation never disturbs another."""

    def __init__(self, *, hard_kill: bool, rest=()):
        self.hard_kill = hard_kill
        self.rest = list(rest)  # claimed but never started (interrupted by a hard kill)
        self.slots: list[_Slot] = []
        self.wakeup = threading.Event()
        self.shutdown_since: float | None = None

    def __len__(self) -> int:
        return len(self.slots)

    def exclusive(self) -> bool:
        """No new attempt may join: one runs alone, or one is being stopped (may be hard-killed)."""
        return any(slot.alone or slot.kill_at is not None for slot in self.slots)

    def start(self, claim, executor, ctx, reporter, *, alone: bool = True) -> None:
        now = time.monotonic()
        slot = _Slot(
            claim=claim,
            executor=executor,
            ctx=ctx,
            reporter=reporter,
            start=now,
            alone=alone,
            next_beat=now + settings.ARBOR_HEARTBEAT_SECONDS,
            next_flush=now + settings.ARBOR_PROGRESS_INTERVAL,
            last_renewed=now,
        )

        def target():
            slot.box["result"], slot.box["exc"] = _call(executor, claim, ctx)
            slot.done.set()
            self.wakeup.set()

        self.slots.append(slot)
        _threads.run(target)

    def wait(self, timeout: float | None, *, pending=()) -> list[runs.Finish]:
        """Supervise the slots until at least one attempt ends or ``timeout`` passes (``None``:
        no limit; 0: one pass); returns the outcomes of the attempts that ended. ``pending``:
        outcomes not recorded yet, recorded with the others if a hard kill ends this process."""
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            self.wakeup.clear()
            ended = [slot for slot in self.slots if slot.done.is_set()]
            finishes = [self._ended(slot) for slot in ended]
            # drop exactly the slots whose outcomes were just taken: asking ``done`` again would
            # also drop one whose thread ended in between, and its outcome would never be recorded
            # (its attempt, no longer heartbeated, was reaped as worker_lost ten seconds later)
            taken = {id(slot) for slot in ended}
            self.slots = [slot for slot in self.slots if id(slot) not in taken]
            now = time.monotonic()
            finishes.extend(self._supervise(now, [*pending, *finishes]))
            if finishes or not self.slots or (until is not None and now >= until):
                return finishes
            self.wakeup.wait(0.02 if until is None else max(0.0, min(0.02, until - now)))

    def _ended(self, slot: _Slot) -> runs.Finish:
        progress, message, logs = slot.reporter.take()
        finish = _outcome(
            slot.claim,
            slot.reporter,
            slot.box.get("result"),
            slot.box.get("exc"),
            slot.reason,
            time.monotonic() - slot.start,
        )
        if finish.outcome == Outcome.COMPLETED.value:
            finish.new_logs = logs  # announced with the outcome: no transaction of its own
        elif logs or progress is not None:
            _flush(slot, progress, message, logs)
        return finish

    def _supervise(self, now: float, recorded: list) -> list[runs.Finish]:
        abandoned: list[runs.Finish] = []
        stopping_now = stopping()
        if stopping_now:
            self.shutdown_since = self.shutdown_since or now
        for slot in list(self.slots):
            claim = slot.claim
            if now >= slot.next_beat or now >= slot.next_flush:
                progress, message, logs = slot.reporter.take()
                beat = now >= slot.next_beat
                if beat or progress is not None or logs:
                    alive, lease_lost = _flush(slot, progress, message, logs, now=now)
                    if not alive and slot.reason is None:
                        # cancelled or reaped ("fenced"), or we could not renew our lease in time
                        # ("lease_lost"): self-fence before anyone else may start the task again
                        slot.reason = "lease_lost" if lease_lost else "fenced"
                        slot.kill_at = now + settings.ARBOR_CANCEL_GRACE
                        _signal_cancel(slot.executor, slot.ctx)
                if beat:
                    slot.next_beat = now + settings.ARBOR_HEARTBEAT_SECONDS
                slot.next_flush = now + settings.ARBOR_PROGRESS_INTERVAL
            if slot.reason is None and claim.timeout and now - slot.start >= claim.timeout:
                slot.reason = "timed_out"
                slot.kill_at = now + settings.ARBOR_TIMEOUT_GRACE
                _signal_cancel(slot.executor, slot.ctx)
            if (
                slot.reason is None
                and stopping_now
                and now - (self.shutdown_since or now) >= settings.ARBOR_SHUTDOWN_GRACE
            ):
                slot.reason = "interrupted"
                slot.kill_at = now + min(1.0, settings.ARBOR_CANCEL_GRACE)
                _signal_cancel(slot.executor, slot.ctx)
            if slot.kill_at is not None and now >= slot.kill_at and not slot.done.is_set():
                self.slots.remove(slot)
                # this process is about to exit: the other slots' outcomes go with it (running
                # ones back to the queue); in tests (no hard kill) the others carry on
                others = (
                    []
                    if not self.hard_kill
                    else [
                        self._ended(s) if s.done.is_set() or s.reason else _interrupted(s.claim)
                        for s in self.slots
                    ]
                )
                abandoned.append(
                    _hard_kill(
                        claim,
                        slot.reporter,
                        slot.reason,
                        hard_kill=self.hard_kill,
                        rest=[*self.rest],
                        recorded=[*recorded, *abandoned, *others],
                    )
                )
        return abandoned


def _flush(slot: _Slot, progress, message, logs, *, now: float | None = None) -> tuple[bool, bool]:
    """Renew ``slot``'s lease and write its progress and log lines. Returns (alive, lease_lost)."""
    claim = slot.claim
    now = time.monotonic() if now is None else now
    try:
        alive = runs.heartbeat(
            claim.attempt_id,
            progress=progress,
            message=message,
            logs=logs,
            task_id=claim.task_id,
            tree_id=claim.tree_id,
        )
        slot.last_renewed = now
        return alive, False
    except (OperationalError, InterfaceError):
        refresh_connections()
        alive = time.monotonic() - slot.last_renewed < settings.ARBOR_LEASE_SECONDS * LEASE_SAFETY
        return alive, not alive


def _signal_cancel(executor, ctx) -> None:
    ctx.cancel_event.set()
    try:
        executor.cancel()
    except Exception:
        logger.exception("executor.cancel() raised")


def _kill_children(*, descendants: bool = False) -> None:
    """Kill the process groups the shell executor started and, in a real worker process that is
    about to exit (``descendants``), every process it spawned — whatever executor started it, even
    in a new session — so a hard kill leaves no orphans."""
    groups: set[int] = set()
    try:
        from tasks_app.executors.shell import active_process_groups

        groups.update(active_process_groups())
    except ImportError:
        pass
    if descendants:
        own_group = os.getpgrp()
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                pgid = os.getpgid(child.pid)
                if pgid != own_group:
                    groups.add(pgid)
                child.kill()
            except (ProcessLookupError, PermissionError, psutil.Error):
                pass
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _hard_kill(claim, reporter, reason, *, hard_kill: bool, rest, recorded=()) -> runs.Finish:
    """The executor ignored the cooperative stop: record the outcome, kill its children, and
    (in a real worker process) kill this process; django-q2's sentinel starts a fresh one.
    ``recorded``: the other outcomes this process still owes (the pool's other slots, ended or
    interrupted, and outcomes not written yet), recorded with it."""
    record = _outcome(claim, reporter, None, None, reason)
    if hard_kill:
        # The executor thread is still running and may be a busy loop holding the GIL: then each
        # blocking call below (reading /proc, each database round trip) waits a whole switch
        # interval (5 ms) to get the GIL back, which made this path take up to a second. The
        # process exits at the end, so it can give the executor thread far shorter slices.
        sys.setswitchinterval(0.0002)
    logger.warning("attempt %s of task %s did not stop; hard kill (%s)", claim.number, claim.task_id, reason)
    _kill_children(descendants=hard_kill)
    if not hard_kill:
        return record  # tests / inline mode: abandon the daemon thread
    try:
        _db_retry(runs.finish, [*recorded, record, *(_interrupted(c) for c in rest)], attempts=5)
    finally:
        os._exit(HARD_KILL_EXIT_CODE)
