"""Durable execution through the services, in process (SQLite and PostgreSQL): leases, heartbeats,
fencing, the reaper, timeouts, retries, resources, cancellation, shutdown and database errors.

Real processes and real signals are in tests/fault/; the random walk is test_state_machine.py.
"""

import datetime as dt
import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connection, connections

from tasks_app.engine.states import Outcome
from tasks_app.models import ApiToken, Attempt, ResourceLock, ResourcePool, Task
from tasks_app.services import control, reaper, runs
from tasks_app.worker import loop as worker
from tests.engine.test_engine_resources import MATRIX
from tests.fault.invariants import assert_invariants
from tests.fault_executors import FAULT_EXECUTORS

from .claiming import LEASE, claim_named, claim_one, done, fault_executors, get, later, start, t  # noqa: F401

pytestmark = pytest.mark.django_db


# --- leases, heartbeats, fencing ------------------------------------------------------------------


def test_claim_takes_a_lease_and_heartbeats_renew_it(tm):
    tree = start(tm, t("a", "sleep"))
    c = claim_named(tree, "a")
    attempt = Attempt.objects.get(id=c.attempt_id)
    assert attempt.outcome == "running" and attempt.lease_expires_at is not None
    first = attempt.lease_expires_at
    time.sleep(0.01)
    assert runs.heartbeat(c.attempt_id) is True
    attempt.refresh_from_db()
    assert attempt.lease_expires_at > first and attempt.heartbeat_at is not None
    assert (attempt.lease_expires_at - attempt.heartbeat_at).total_seconds() == pytest.approx(LEASE)


def test_heartbeat_of_an_ended_attempt_tells_the_worker_to_stop(tm):
    tree = start(tm, t("a", "sleep"))
    c = claim_named(tree, "a")
    control.task_cancel(task=get(tree, "a"))
    assert runs.heartbeat(c.attempt_id) is False


def test_a_stale_worker_cannot_overwrite_a_newer_attempt(tm):
    tree = start(tm, t("a", "sleep", max_retries=2, retry_delay=0))
    old = claim_named(tree, "a")
    reaper.reap(now=later(LEASE + 0.5), wake=False)
    new = claim_one(now=later(LEASE + 1))
    assert new.number == 2
    # the resumed worker of attempt 1 reports success: fenced out
    assert runs.heartbeat(old.attempt_id) is False
    done(old, result={"stale": True}, now=later(LEASE + 1.2))
    assert Attempt.objects.get(id=old.attempt_id).outcome == "worker_lost"
    task = get(tree, "a")
    assert task.status == "in_progress" and task.current_attempt_id == new.attempt_id
    done(new, result={"fresh": True}, now=later(LEASE + 1.5))
    task.refresh_from_db()
    assert task.status == "completed" and task.result == {"fresh": True}
    assert Attempt.objects.filter(task=task, outcome="completed").count() == 1
    assert_invariants([tree.id])


def test_claim_start_time_is_never_before_the_commit_that_made_the_task_ready(tm):
    tree = start(tm, t("a"), t("b", dependencies=["a"]))
    a = claim_named(tree, "a")
    done(a)
    finished = Attempt.objects.get(id=a.attempt_id).finished_at
    b = claim_named(tree, "b")
    assert Attempt.objects.get(id=b.attempt_id).started_at >= finished


# --- retries ---------------------------------------------------------------------------------------


def test_lost_workers_count_toward_max_retries(tm):
    tree = start(tm, t("a", "sleep", max_retries=2, retry_delay=0))
    clock = 0.0
    for number in (1, 2, 3):
        c = claim_one(now=later(clock))
        assert c is not None and c.number == number
        clock += LEASE + 1
        reaper.reap(now=later(clock), wake=False)
    task = get(tree, "a")
    assert task.status == "failed" and task.error_type == "worker_lost"
    nxt = claim_one(now=later(clock + 100))
    assert nxt is None or nxt.task_id != task.id  # no attempt 4
    assert Attempt.objects.filter(task=task).count() == 3
    assert_invariants([tree.id])


@pytest.mark.parametrize("outcome", ["failed", "timed_out", "worker_lost"])
def test_every_kind_of_failure_consumes_a_retry(tm, outcome):
    tree = start(tm, t("a", "sleep", max_retries=1, retry_delay=0))
    for n in (1, 2):
        c = claim_one(now=later(n))
        done(c, outcome, now=later(n + 0.5), error="boom")
    task = get(tree, "a")
    assert task.status == "failed" and Attempt.objects.filter(task=task).count() == 2


def test_backoff_grows_exponentially_with_jitter_and_a_cap(tm, settings):
    settings.ARBOR_MAX_RETRY_DELAY = 5.0
    tree = start(tm, t("a", "sleep", max_retries=5, retry_delay=1.0))
    clock = 0.0
    for n in range(1, 6):
        c = claim_one(now=later(clock))
        assert c is not None and c.number == n
        finished = later(clock + 0.1)
        done(c, "failed", now=finished, error="boom")
        task = get(tree, "a")
        delay = (task.next_attempt_at - finished).total_seconds()
        raw = min(1.0 * 2 ** (n - 1), 5.0)
        assert 0.5 * raw - 1e-3 <= delay <= raw + 1e-3, (n, delay)
        assert claim_one(now=finished + dt.timedelta(seconds=delay * 0.99)) is None  # not before
        clock += 0.1 + delay + 0.01


def test_a_manual_retry_gets_a_fresh_retry_budget(tm):
    tree = start(tm, t("a", "sleep", max_retries=1, retry_delay=0))
    for _ in (1, 2):
        done(claim_one(), "failed", error="boom")  # real clock: the retry service uses it too
    assert get(tree, "a").status == "failed"
    control.task_retry(task=get(tree, "a"))
    done(claim_one(), "failed", error="boom again")
    task = get(tree, "a")
    assert task.status == "pending", "the first failure after a retry must be retried (max_retries=1)"
    done(claim_one(), "failed", error="and again")
    assert get(tree, "a").status == "failed"
    assert Attempt.objects.filter(task=task).count() == 4
    assert_invariants([tree.id], run_start={task.id: task.ready_at})


@pytest.mark.parametrize(
    "spec,error_type",
    [
        (t("a", "write_marker_file", inputs={"permanent": True}, max_retries=3), "permanent_error"),
        (t("a", "sleep", inputs={"seconds": "soon"}, max_retries=3), "permanent_error"),
    ],
)
def test_permanent_errors_fail_at_once(tm, spec, error_type):
    tree = start(tm, spec)
    worker.run_until_idle(timeout=10)
    task = get(tree, "a")
    assert task.status == "failed" and task.error_type == error_type
    assert Attempt.objects.filter(task=task).count() == 1


def test_an_executor_that_disappeared_fails_at_once(tm, settings):
    tree = start(tm, t("a", "write_marker_file", max_retries=3))
    settings.ARBOR_EXECUTORS = {}
    worker.run_until_idle(timeout=10)
    task = get(tree, "a")
    assert task.status == "failed" and task.error_type == "executor_not_found"
    assert Attempt.objects.filter(task=task).count() == 1


def test_an_executor_that_cancels_itself_is_not_retried(tm):
    tree = start(tm, t("a", "sleep", max_retries=3, inputs={"seconds": 5}))
    c = claim_named(tree, "a")
    finish = worker._outcome(c, worker._Reporter(), None, worker.ExecutionCancelled())
    runs.finish([finish])
    task = get(tree, "a")
    assert task.status == "cancelled" and Attempt.objects.filter(task=task).count() == 1


def test_interrupted_attempts_go_back_to_the_queue_without_using_a_retry(tm):
    tree = start(tm, t("a", "sleep", max_retries=0))
    for n in (1, 2, 3):
        c = claim_one(now=later(n))
        assert c.number == n
        done(c, "interrupted", now=later(n + 0.1))
        task = get(tree, "a")
        assert task.status == "pending" and task.next_attempt_at is None
    done(claim_one(now=later(5)), now=later(5.1))
    assert get(tree, "a").status == "completed"
    assert_invariants([tree.id])


# --- timeouts (in process: no hard kill of the test process) ---------------------------------------


def run_named(tree, name, **kw):
    c = claim_named(tree, name)
    t0 = time.monotonic()
    finish = worker.run_claim(c, hard_kill=False, **kw)
    elapsed = time.monotonic() - t0
    runs.finish([finish])
    return finish, elapsed


def test_cooperative_timeout_is_recorded_as_timed_out_and_retried(tm):
    tree = start(tm, t("a", "sleep", timeout=0.3, max_retries=1, retry_delay=0, inputs={"seconds": 30}))
    finish, elapsed = run_named(tree, "a")
    assert finish.outcome == "timed_out" and elapsed < 1.0
    task = get(tree, "a")
    assert task.status == "pending" and task.error_type == "timeout"


def test_timeout_is_enforced_on_an_executor_that_ignores_it(tm, settings):
    settings.ARBOR_TIMEOUT_GRACE = 0.3
    tree = start(tm, t("a", "sleep_ignoring_cancel", timeout=0.3, max_retries=0, inputs={"seconds": 3}))
    finish, elapsed = run_named(tree, "a")
    assert finish.outcome == "timed_out"
    assert 0.5 <= elapsed < 1.5  # timeout + grace, not the executor's 3 s
    assert get(tree, "a").status == "failed"


def test_default_timeout_applies_without_a_task_timeout(tm, settings):
    settings.ARBOR_DEFAULT_TIMEOUT = 0.3
    tree = start(tm, t("a", "sleep", inputs={"seconds": 30}))
    finish, _ = run_named(tree, "a")
    assert finish.outcome == "timed_out"


# --- a worker that cannot renew its lease stops its executor ---------------------------------------


def test_worker_that_cannot_renew_its_lease_stops_its_executor(tm, settings):
    settings.ARBOR_LEASE_SECONDS = 0.5
    settings.ARBOR_HEARTBEAT_SECONDS = 0.05
    tree = start(tm, t("a", "sleep", max_retries=1, retry_delay=0, inputs={"seconds": 30}))
    c = claim_named(tree, "a")
    with mock.patch.object(runs, "heartbeat", side_effect=OperationalError("server closed the connection")):
        t0 = time.monotonic()
        finish = worker.run_claim(c, hard_kill=False)
    assert time.monotonic() - t0 < 2.0
    assert finish.outcome == "worker_lost"  # never "cancelled": the task is retried
    runs.finish([finish])
    assert get(tree, "a").status == "pending"


@pytest.mark.django_db(transaction=True)
def test_cancelled_attempt_is_stopped_at_the_next_heartbeat(tm, settings):
    settings.ARBOR_CANCEL_GRACE = 0.3
    tree = start(tm, t("a", "sleep", max_retries=3, inputs={"seconds": 30}))
    c = claim_named(tree, "a")
    def cancel():
        try:
            control.task_cancel(task=get(tree, "a"))
        finally:
            connections.close_all()  # the timer thread's own connection (else it outlives the test)

    timer = threading.Timer(0.3, cancel)
    timer.start()
    t0 = time.monotonic()
    finish = worker.run_claim(c, hard_kill=False)
    elapsed = time.monotonic() - t0
    timer.join()
    assert elapsed < 0.3 + 0.25 + 0.5  # cancel + one heartbeat + slack
    runs.finish([finish])  # the late outcome is discarded
    task = get(tree, "a")
    assert task.status == "cancelled" and Attempt.objects.filter(task=task).count() == 1
    assert Attempt.objects.get(id=c.attempt_id).outcome == "cancelled"


# --- cancellation --------------------------------------------------------------------------------


def test_cancel_pending_and_running_cascades_and_discards_late_results(tm):
    tree = start(tm, t("a", "sleep"), t("b", dependencies=["a"]), t("c", dependencies=["b"]), t("d"))
    a = claim_named(tree, "a")
    control.task_cancel(task=get(tree, "a"))
    done(a, result={"late": True})
    assert get(tree, "a").status == "cancelled" and get(tree, "a").result is None
    for name in ("b", "c"):  # the root cause is a user's cancel (SEMANTICS "Failure, cancellation")
        task = get(tree, name)
        assert task.status == "cancelled" and task.error_type == "upstream_cancelled"
    control.task_cancel(task=get(tree, "d"))
    assert get(tree, "d").status == "cancelled" and not Attempt.objects.filter(task__name="d").exists()
    worker.run_until_idle(timeout=10)
    assert_invariants([tree.id], settled=True)


def test_cancel_tree_ends_running_attempts(tm):
    tree = start(tm, t("a", "sleep"), t("b", "sleep"))
    claim_named(tree, "a")
    control.tree_cancel(tree=tree)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"cancelled"}
    assert not Attempt.objects.filter(tree=tree, outcome="running").exists()
    assert_invariants([tree.id], settled=True)


def test_rerun_from_a_task_clears_downstream(tm):
    tree = start(tm, t("a"), t("b", dependencies=["a"]))
    worker.run_until_idle(timeout=10)
    control.task_rerun(task=get(tree, "a"))
    assert get(tree, "b").status == "pending"
    worker.run_until_idle(timeout=10)
    assert Attempt.objects.filter(task=get(tree, "b"), outcome="completed").count() == 2


# --- resources (MATRIX: the lock compatibility table of SEMANTICS, tests/engine) -------------


@pytest.mark.parametrize("held,wanted", sorted(MATRIX))
def test_lock_compatibility_at_claim_time(tm, held, wanted):
    res = lambda mode: [{"type": "db", "identifier": "x", "mode": mode}]  # noqa: E731
    tree = start(
        tm,
        t("a", "sleep", priority=0, resources=res(held)),
        t("b", "sleep", priority=1, resources=res(wanted)),
    )
    first = claim_named(tree, "a")
    second = claim_one()
    if MATRIX[(held, wanted)]:
        assert second is not None and second.name == "b"
    else:
        assert second is None or second.name != "b"
        task = get(tree, "b")
        assert (
            task.status == "pending" and task.waiting_reason == f"waiting for resource 'db:x' (held {held})"
        )
        done(first)
        assert claim_one().name == "b"
        assert get(tree, "b").waiting_reason == ""


def test_locks_are_taken_all_or_nothing(tm):
    tree = start(
        tm,
        t("holder", "sleep", priority=0, resources=[{"type": "db", "identifier": "y", "mode": "write"}]),
        t(
            "both",
            "sleep",
            priority=1,
            resources=[
                {"type": "db", "identifier": "x", "mode": "write"},
                {"type": "db", "identifier": "y", "mode": "write"},
            ],
        ),
    )
    claim_named(tree, "holder")
    assert claim_one() is None
    assert get(tree, "both").waiting_reason == "waiting for resource 'db:y' (held write)"
    assert not ResourceLock.objects.filter(key="db:x").exists()  # nothing taken while y is held


def test_capacity_pool_limits_holders(tm):
    ResourcePool.objects.create(key="gpu:0", capacity=2, everyone=True)
    res = [{"type": "gpu", "identifier": "0", "mode": "read"}]
    tree = start(tm, *(t(f"g{i}", "sleep", resources=res) for i in range(3)))
    claims = [claim_one() for _ in range(3)]
    got = [c for c in claims if c is not None and c.name.startswith("g")]
    assert len(got) == 2
    waiting = Task.objects.get(tree=tree, status="pending", name__startswith="g")
    assert waiting.waiting_reason == "resource 'gpu:0' is at capacity 2"


def test_claim_looks_past_tasks_blocked_by_locks(tm):
    res = [{"type": "db", "identifier": "x", "mode": "exclusive"}]
    tree = start(
        tm,
        t("holder", "sleep", priority=0, resources=res),
        *(t(f"w{i}", "sleep", priority=1, resources=res) for i in range(30)),
        t("free", "sleep", priority=3),
    )
    claim_named(tree, "holder")
    c = claim_one()
    assert c is not None and c.name == "free"


@pytest.mark.parametrize("outcome", ["completed", "failed", "timed_out", "cancelled", "interrupted"])
def test_locks_are_released_however_the_attempt_ends(tm, outcome):
    tree = start(tm, t("a", "sleep", resources=[{"type": "db", "identifier": "x"}]))
    c = claim_named(tree, "a")
    assert ResourceLock.objects.count() == 1
    done(c, outcome, error="x")
    assert ResourceLock.objects.count() == 0


def test_locks_of_a_cancelled_attempt_stay_until_its_worker_stops(tm):
    tree = start(tm, t("a", "sleep", resources=[{"type": "db", "identifier": "x"}]))
    c = claim_named(tree, "a")
    control.task_cancel(task=get(tree, "a"))
    assert ResourceLock.objects.count() == 1  # the executor may still be running
    reaper.reap(wake=False)
    assert ResourceLock.objects.count() == 1
    done(c, "cancelled")  # the worker stopped and reports
    assert ResourceLock.objects.count() == 0


# --- shutdown ------------------------------------------------------------------------------------


def test_drain_claims_nothing_once_the_worker_is_stopping(tm, tmp_path, monkeypatch):
    start(tm, t("a"))
    stop = tmp_path / "stop"
    stop.touch()
    monkeypatch.setenv("ARBOR_STOP_FILE", str(stop))
    assert worker.drain(hard_kill=False) == 0
    assert not Attempt.objects.exists()


def test_shutdown_interrupts_attempts_that_outlive_the_grace(tm, settings, tmp_path, monkeypatch):
    settings.ARBOR_SHUTDOWN_GRACE = 0.3
    tree = start(
        tm,
        t("a", "sleep", max_retries=0, inputs={"seconds": 30}),
        t("quick", "sleep", inputs={"seconds": 0.1}),
    )
    c = claim_named(tree, "a")
    stop = tmp_path / "stop"
    monkeypatch.setenv("ARBOR_STOP_FILE", str(stop))
    threading.Timer(0.2, stop.touch).start()
    t0 = time.monotonic()
    finish = worker.run_claim(c, hard_kill=False)
    assert finish.outcome == "interrupted" and time.monotonic() - t0 < 1.5
    runs.finish([finish])
    task = get(tree, "a")
    assert task.status == "pending" and task.next_attempt_at is None  # back in the queue at once
    assert worker.drain(hard_kill=False) == 0  # and this worker takes nothing new


# --- the database goes away --------------------------------------------------------------------


def test_api_answers_503_while_the_database_is_unreachable(client, user):
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, name="t", key_prefix=raw[:8], digest=ApiToken.hash(raw))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/trees/", **headers).status_code == 200
    with mock.patch.object(
        connection, "ensure_connection", side_effect=OperationalError("connection refused")
    ):
        api = client.get("/api/v1/trees/", **headers)
        page = client.get("/")
    assert api.status_code == 503 and api.json()["error"]["code"] == "database_unavailable"
    assert api["Retry-After"]
    assert page.status_code in (302, 503) and b"Traceback" not in page.content


@pytest.mark.django_db(transaction=True)
def test_db_retry_survives_a_dropped_connection():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("terminating connection due to administrator command")
        return "ok"

    assert worker._db_retry(flaky) == "ok" and len(calls) == 3


def test_hard_kill_kills_the_process_tree_of_a_real_worker(tmp_path):
    """_kill_children(descendants=True) reaches processes an executor spawned, even in a new session."""
    import subprocess
    import sys

    script = (
        "import subprocess, sys, time, django\n"
        "django.setup()\n"
        "a = subprocess.Popen(['sleep', '600'])\n"
        "b = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "print(a.pid, b.pid, flush=True)\n"
        "from tasks_app.worker.loop import _kill_children\n"
        "_kill_children(descendants=True)\n"
        "time.sleep(0.2)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test"},
    )
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2, proc.stderr
    import psutil

    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_fault_executor_table_matches_test_settings():
    from orchestrator_site import settings_test

    assert settings_test.FAULT_EXECUTORS == FAULT_EXECUTORS


def test_watchdog_sees_claimable_work_only_when_locks_allow(tm):
    res = [{"type": "db", "identifier": "x", "mode": "write"}]
    tree = start(
        tm, t("holder", "sleep", priority=0, resources=res), t("blocked", "sleep", priority=1, resources=res)
    )
    claim_named(tree, "holder")
    # "blocked" waits only for a lock held by a running attempt: not a stalled cluster
    Task.objects.filter(tree=tree).update(updated_at=later(-60))
    assert runs.claimable_since(later(-30)) is False
    ResourceLock.objects.all().delete()
    assert runs.claimable_since(later(-30)) is True
    assert runs.claimable_since(later(-90)) is False  # it has not waited that long
    assert Outcome.RUNNING.value == "running"


def test_readers_queue_behind_a_waiting_writer(tm):
    """FIFO per resource: a stream of readers cannot starve a writer."""
    res = lambda mode: [{"type": "db", "identifier": "x", "mode": mode}]  # noqa: E731
    tree = start(
        tm,
        t("r1", "sleep", priority=0, resources=res("read")),
        t("w", "sleep", priority=1, resources=res("exclusive")),
        t("r2", "sleep", priority=2, resources=res("read")),
    )
    r1 = claim_named(tree, "r1")
    assert claim_one() is None
    assert get(tree, "w").waiting_reason == "waiting for resource 'db:x' (held read)"
    assert get(tree, "r2").waiting_reason == "waiting for resource 'db:x' (queued behind a exclusive request)"
    done(r1)
    w = claim_one()
    assert w.name == "w" and claim_one() is None
    done(w)
    assert claim_one().name == "r2"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED claims are PostgreSQL's")
def test_a_task_row_locked_by_a_concurrent_claimer_keeps_its_place_for_the_resource(tm):
    """RT-29 seen in CI: claimer 1 has row-locked "holder" (priority 0) but not yet taken its lock;
    claimer 2's SKIP LOCKED page holds only "waiter" (priority 1, same write lock). Claimer 2 must
    not take the lock first: the waiter queues behind the holder it cannot see."""
    from django.db import connections, transaction

    res = [{"type": "db", "identifier": "z", "mode": "write"}]
    tree = start(
        tm, t("holder", "sleep", priority=0, resources=res), t("waiter", "sleep", priority=1, resources=res)
    )
    locked, release, errors = threading.Event(), threading.Event(), []

    def claimer_one():
        try:
            with transaction.atomic():
                Task.objects.select_for_update().filter(tree=tree, name="holder").get()
                locked.set()
                release.wait(10)
        except Exception as exc:  # surfaced below
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=claimer_one)
    thread.start()
    try:
        assert locked.wait(10) and not errors
        assert claim_one(worker_name="claimer-2") is None
        waiter = get(tree, "waiter")
        assert waiter.status == "pending"
        assert waiter.waiting_reason == "waiting for resource 'db:z' (queued behind a write request)"
        assert not ResourceLock.objects.exists()
    finally:
        release.set()
        thread.join(10)
    assert not errors
    assert claim_one().name == "holder"
    assert claim_one() is None  # the holder has the lock now


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-lock deadlocks are PostgreSQL's")
def test_a_cancel_that_deadlocks_with_a_finishing_worker_is_retried(tm):
    """A worker finishing "a" holds its row and locks the tree last; the cancel locks the tree
    first and then wants "a". PostgreSQL breaks the deadlock by aborting one of them: the cancel
    is retried instead of answering 503."""
    from django.db import connections, transaction

    from tasks_app.models import Tree

    tree = start(tm, t("a", "sleep"))
    claim_named(tree, "a")
    row_held, errors = threading.Event(), []

    def finishing_worker():
        try:
            with transaction.atomic():
                Task.objects.filter(tree=tree, name="a").update(progress=0.5)
                row_held.set()
                time.sleep(0.3)  # the cancel has its tree lock and waits for this row
                list(Tree.objects.select_for_update().filter(id=tree.id))
        except OperationalError as exc:  # this side may be the one rolled back: a worker retries
            errors.append(exc)
        finally:
            row_held.set()
            connections.close_all()

    thread = threading.Thread(target=finishing_worker)
    thread.start()
    assert row_held.wait(10)
    cancelled = control.task_cancel(task=get(tree, "a"))
    thread.join(15)
    assert cancelled.status == "cancelled" and get(tree, "a").status == "cancelled"
    assert len(errors) <= 1


def test_a_task_waiting_for_a_lock_is_announced_once_with_its_reason(tm):
    from tasks_app.models import Event

    res = [{"type": "db", "identifier": "x", "mode": "exclusive"}]
    tree = start(
        tm, t("holder", "sleep", priority=0, resources=res), t("waiter", "sleep", priority=1, resources=res)
    )
    claim_named(tree, "holder")
    for _ in range(3):  # every later claim pass sees the same reason: no new event
        claim_one()
    waits = Event.objects.filter(tree_id=tree.id, kind="task.waiting", task_id=get(tree, "waiter").id)
    assert [e.data["reason"] for e in waits] == ["waiting for resource 'db:x' (held exclusive)"]


def test_rerun_of_a_finished_tree_announces_it_running_again(tm):
    from tasks_app.models import Event

    tree = start(tm, t("a"), t("b", dependencies=["a"]))
    worker.run_until_idle(timeout=10)
    last = Event.objects.filter(tree_id=tree.id).order_by("-seq").first().seq
    control.task_rerun(task=get(tree, "a"))
    kinds = [(e.kind, e.data.get("status")) for e in Event.objects.filter(tree_id=tree.id, seq__gt=last)]
    assert ("tree.status", "in_progress") in kinds


def test_cancel_preview_lists_exactly_the_cascade(tm):
    tree = start(
        tm,
        t("a", "sleep"),
        t("req", dependencies=["a"]),
        t("opt", dependencies=[{"id": "a", "required": False}]),
        t("next", dependencies=["req"]),
    )
    preview = control.preview(task=get(tree, "a"), action="cancel")
    assert [x["name"] for x in preview["tasks"]] == ["a", "req", "next"]
    control.task_cancel(task=get(tree, "a"))
    cancelled = set(Task.objects.filter(tree=tree, status="cancelled").values_list("name", flat=True))
    assert cancelled == {"a", "req", "next"}
