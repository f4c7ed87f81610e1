"""Fault scenarios of reliability.md §2.2 with real worker processes and real signals.

Each test starts ``manage.py arbor_worker`` (django-q2 cluster + reaper + watchdog), injects one
fault, waits (bounded) for the system to settle, asserts the invariants I1–I7 and reports the
measured recovery time and extra executions (printed, and collected in the terminal summary).
Timings come from settings_test: lease 2 s, heartbeat 0.25 s, reaper tick 0.25 s, timeout and
cancel grace 1 s, shutdown grace 2 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import psutil
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tasks_app.models import Attempt, Event, ResourceLock, ResourcePool, Task, Tree
from tasks_app.services import control
from tests.fault.invariants import assert_invariants
from tests.helpers import wait_for

from .conftest import report, worker_pid

LEASE = settings.ARBOR_LEASE_SECONDS
TICK = settings.ARBOR_REAPER_INTERVAL
DONE = {"completed", "failed", "cancelled"}


def probe(name, log, *, executor="write_marker_file", locks=(), **fields):
    """A task running one of tests.fault_executors, logging to ``log``."""
    inputs = {"log": log, **fields.pop("inputs", {})}
    spec = {"id": name, "name": name, "executor": executor, "inputs": inputs, **fields}
    if locks:
        spec["resources"] = [
            {"type": k.split(":")[0], "identifier": k.split(":")[1], "mode": m} for k, m in locks
        ]
        inputs["locks"] = [list(lock) for lock in locks]
    return spec


def build(tm, *children):
    """A tree whose root (noop) runs after every child (optional dependencies)."""
    root = {
        "id": "root",
        "name": "root",
        "executor": "noop",
        "priority": 3,
        "dependencies": [{"id": c["id"], "required": False} for c in children],
    }
    return tm.create_tree([root, *(dict(c, parent_id="root") for c in children)])


def settle(tree, timeout=60.0) -> Tree:
    wait_for(
        lambda: Tree.objects.get(id=tree.id).status in DONE,
        timeout,
        message=f"tree {tree.name} finished",
        reconnect=True,
    )
    return Tree.objects.get(id=tree.id)


def attempts(tree, name) -> list[Attempt]:
    return list(Attempt.objects.filter(task__tree=tree, task__name=name).order_by("number"))


def task(tree, name) -> Task:
    return Task.objects.get(tree=tree, name=name)


def running(tree, name=None, min_age=0.2):
    qs = Attempt.objects.filter(outcome="running")
    if tree is not None:
        qs = qs.filter(tree=tree)
    if name:
        qs = qs.filter(task__name=name)
    cutoff = timezone.now() - timezone.timedelta(seconds=min_age)
    return list(qs.filter(started_at__lte=cutoff).order_by("started_at"))


def gone(pid) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def extra_executions(fault, tree, expected: int) -> int:
    return len({e["attempt_id"] for e in fault.starts()}) - expected


# --- crash / kill -----------------------------------------------------------------------------


def test_rt01_sigkill_a_busy_worker(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        *(probe(f"t{i}", fault.log, max_retries=1, retry_delay=0, inputs={"seconds": 1.0}) for i in range(8)),
    )
    tm.execute(tree.id)
    victim = wait_for(lambda: running(tree, min_age=0.3), 20, message="a busy worker", reconnect=True)[0]
    os.kill(worker_pid(victim), signal.SIGKILL)
    killed = timezone.now()
    lost = wait_for(
        lambda: Attempt.objects.filter(id=victim.id, outcome="worker_lost").first(), LEASE + 5, reconnect=True
    )
    assert (lost.finished_at - killed).total_seconds() <= LEASE + TICK + 1.0
    retried = wait_for(
        lambda: Attempt.objects.filter(task_id=victim.task_id, number=2).first(), 15, reconnect=True
    )
    settle(tree)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    extra = extra_executions(fault, tree, 8)
    assert extra <= 1
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-01",
        "SIGKILL of a busy worker: lost attempt reaped, re-run elsewhere",
        (retried.started_at - killed).total_seconds(),
        extra,
        f"(lost recorded after {(lost.finished_at - killed).total_seconds():.2f}s)",
    )


def test_rt06_random_kills_during_a_thousand_task_run(tm, fault):
    import random

    fault.cluster(workers=2)
    trees = [
        build(
            tm,
            *(
                probe(f"t{i}", fault.log, max_retries=1, retry_delay=0, inputs={"seconds": 0.02})
                for i in range(99)
            ),
        )
        for _ in range(10)
    ]  # 10 trees x 100 tasks (99 probes + a noop root each)
    started = time.monotonic()
    for tree in trees:
        tm.execute(tree.id)
    rng, kills = random.Random(6), []
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 1.5))
        busy = wait_for(
            lambda: [a for a in running(None, min_age=0) if not gone(worker_pid(a))],
            20,
            interval=0.005,
            message="a busy, live worker",
            reconnect=True,
        )
        victim = rng.choice(busy)
        try:
            os.kill(worker_pid(victim), signal.SIGKILL)
            kills.append(victim.id)
        except ProcessLookupError:
            pass
    for tree in trees:
        settle(tree, timeout=120)
    took = time.monotonic() - started
    ids = [tree.id for tree in trees]
    assert set(Task.objects.filter(tree_id__in=ids).values_list("status", flat=True)) == {"completed"}
    assert len(kills) == 3
    extra = len({e["attempt_id"] for e in fault.starts()}) - 990
    # each kill costs the attempt the killed worker was running, and nothing else: a fourth
    # re-execution seen in CI was an attempt reaped while its worker retried a deadlocked finish
    # (two workers locking two trees' rows in opposite orders), fixed since
    ended = Counter(
        Attempt.objects.filter(tree_id__in=ids).exclude(outcome="completed").values_list("outcome", flat=True)
    )
    logs = "".join(c.text() for c in fault.clusters)
    assert "deadlock detected" not in logs
    assert extra <= len(kills), (extra, ended, logs[-3000:])
    assert_invariants(ids, settled=True, log_entries=fault.executions())
    report(
        "RT-06",
        "1,000 tasks in 10 trees, 3 random SIGKILLs of busy workers: nothing lost",
        took,
        extra,
        f"(recovery = whole run; attempts not completed: {dict(ended)})",
    )


def test_rt02_sigkill_the_whole_cluster(tm, fault):
    cluster = fault.cluster(workers=2)
    tree = build(
        tm,
        *(probe(f"t{i}", fault.log, max_retries=1, retry_delay=0, inputs={"seconds": 1.0}) for i in range(6)),
    )
    tm.execute(tree.id)
    wait_for(lambda: len(running(tree, min_age=0.2)) >= 2, 20, message="two busy workers", reconnect=True)
    old = cluster.qcluster_pid()
    os.killpg(old, signal.SIGKILL)
    killed = timezone.now()
    # arbor_worker notices its cluster died and starts a new one; the reaper frees the lost attempts
    first_new = wait_for(
        lambda: Attempt.objects.filter(tree=tree, started_at__gt=killed).order_by("started_at").first(),
        LEASE + 15,
        message="a claim by the new cluster",
        reconnect=True,
    )
    settle(tree)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    assert cluster.qcluster_pid() != old
    extra = extra_executions(fault, tree, 6)
    assert extra <= 2  # at most one per worker process of the killed cluster
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-02",
        "SIGKILL of the whole qcluster: restarted by arbor_worker, work resumes",
        (first_new.started_at - killed).total_seconds(),
        extra,
    )


def test_rt03_killed_after_claim_before_first_heartbeat(tm, fault):
    fault.cluster(workers=1)
    tree = build(
        tm,
        probe("t", fault.log, executor="kill_self", max_retries=1, retry_delay=0, inputs={"attempts": [1]}),
    )
    tm.execute(tree.id)
    settle(tree, 30)
    first, second = attempts(tree, "t")
    assert first.outcome == "worker_lost" and first.heartbeat_at <= first.started_at  # never renewed
    assert second.outcome == "completed" and task(tree, "t").status == "completed"
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-03",
        "killed after claim, before the first heartbeat: reaped and re-run",
        (second.started_at - first.started_at).total_seconds(),
        extra_executions(fault, tree, 1),
    )


def test_rt04_killed_after_the_work_before_the_outcome_commit(tm, fault):
    fault.cluster(workers=1)
    tree = build(tm, probe("t", fault.log, max_retries=1, retry_delay=0, inputs={"kill_attempts": [1]}))
    tm.execute(tree.id)
    settle(tree, 30)
    first, second = attempts(tree, "t")
    assert first.outcome == "worker_lost" and second.outcome == "completed"
    effects = [e for e in fault.executions() if e["event"] == "end" and e["outcome"] == "completed"]
    assert len(effects) == 2  # the work was done twice (at-least-once) ...
    assert (
        len({e["task_key"] for e in effects}) == 1
    )  # ... with one idempotency key: one effect in a keyed sink
    assert len({e["attempt_id"] for e in effects}) == 2
    assert task(tree, "t").result == {"attempt": 2}
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    killed_at = effects[0]["t"]
    report(
        "RT-04",
        "killed after the side effect, before the commit: re-run with the same task_key",
        second.started_at.timestamp() - killed_at,
        extra_executions(fault, tree, 1),
    )


def test_rt05_watchdog_restarts_a_wedged_cluster(tm, fault):
    """django-q2 #23: SIGKILL of the first idle worker (it holds the task queue's read lock)."""
    cluster = fault.cluster(workers=2)
    first_idle = cluster.ready_pids()[0]
    time.sleep(0.5)  # both workers are blocked in task_queue.get()
    os.kill(first_idle, signal.SIGKILL)
    time.sleep(1.0)  # the sentinel reincarnates it; the queue lock died with it
    tree = build(tm, *(probe(f"t{i}", fault.log) for i in range(3)))
    started = timezone.now()
    tm.execute(tree.id)
    settle(tree, 40)
    took = (Tree.objects.get(id=tree.id).finished_at - started).total_seconds()
    wedged = "watchdog" in cluster.text()
    assert task(tree, "t0").status == "completed"
    assert took <= settings.ARBOR_WATCHDOG_STALL_SECONDS + 25
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-05",
        "idle worker holding the queue lock killed (django-q2 #23)",
        took,
        extra_executions(fault, tree, 3),
        "(watchdog restarted the cluster)" if wedged else "(no wedge this time)",
    )


def test_rt07_stopped_worker_is_fenced_out(tm, fault):
    fault.cluster(workers=2)
    tree = build(tm, probe("t", fault.log, max_retries=1, retry_delay=0, inputs={"seconds": 2 * LEASE}))
    tm.execute(tree.id)
    victim = wait_for(lambda: running(tree, "t", min_age=0.3), 20, reconnect=True)[0]
    pid = worker_pid(victim)
    os.kill(pid, signal.SIGSTOP)
    stopped = timezone.now()
    try:
        second = wait_for(
            lambda: Attempt.objects.filter(task_id=victim.task_id, number=2).first(),
            LEASE + 6,
            message="attempt 2 on the other worker",
            reconnect=True,
        )
        time.sleep(max(0.0, 2 * LEASE - (timezone.now() - stopped).total_seconds()))
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed = time.time()
    settle(tree, 30)
    # the stale worker noticed (fenced heartbeat or discarded outcome) and stopped its executor
    wait_for(
        lambda: any(e["event"] == "end" and e["attempt_id"] == str(victim.id) for e in fault.executions()),
        5,
        message="the stale executor stopped",
        reconnect=True,
    )
    first, again = attempts(tree, "t")
    assert first.outcome == "worker_lost" and again.outcome == "completed" and again.id == second.id
    assert task(tree, "t").result == {"attempt": 2}
    stale_end = next(
        e for e in fault.executions() if e["event"] == "end" and e["attempt_id"] == str(victim.id)
    )
    assert stale_end["t"] >= resumed - 0.1
    assert_invariants([tree.id], settled=True)  # the stale executor overlapped in wall time, fenced
    report(
        "RT-07",
        "SIGSTOP for 2x lease: reaped, re-run elsewhere, resumed worker fenced out",
        (second.started_at - stopped).total_seconds(),
        extra_executions(fault, tree, 1),
    )


# --- timeouts --------------------------------------------------------------------------------


def test_rt10_timeouts_cooperative_and_ignored(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        probe(
            "coop",
            fault.log,
            executor="sleep",
            timeout=1.5,
            max_retries=1,
            retry_delay=0,
            inputs={"seconds": 60},
        ),
        probe(
            "deaf",
            fault.log,
            executor="sleep_ignoring_cancel",
            timeout=1.5,
            max_retries=1,
            retry_delay=0,
            inputs={"seconds": 60},
        ),
    )
    tm.execute(tree.id)
    settle(tree, 40)
    late = []
    for name, bound in (("coop", 1.5 + 0.6), ("deaf", 1.5 + settings.ARBOR_TIMEOUT_GRACE + 0.8)):
        items = attempts(tree, name)
        assert [a.outcome for a in items] == ["timed_out", "timed_out"]  # counted toward max_retries
        assert task(tree, name).status == "failed" and task(tree, name).error_type == "timeout"
        for a in items:
            took = (a.finished_at - a.started_at).total_seconds()
            assert took <= bound, (name, took)
            late.append(took - 1.5)
    assert_invariants([tree.id], settled=True)
    report(
        "RT-10",
        "timeout 1.5 s: cooperative sleep and an executor deaf to cancel (hard kill)",
        max(late),
        0,
        "(recovery = time past the timeout until timed_out was recorded)",
    )


def test_rt11_rt12_rt13_hard_kill_of_signal_blocking_busy_loop_and_children(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        probe("busy", fault.log, executor="block_signals_busy_loop", timeout=1.5, max_retries=0),
        probe("spawner", fault.log, executor="spawn_child_then_hang", timeout=1.5, max_retries=0),
    )
    tm.execute(tree.id)
    settle(tree, 30)
    bound = 1.5 + settings.ARBOR_TIMEOUT_GRACE + 0.8
    late = {}
    for name in ("busy", "spawner"):
        (a,) = attempts(tree, name)
        assert a.outcome == "timed_out" and task(tree, name).status == "failed"
        took = (a.finished_at - a.started_at).total_seconds()
        assert took <= bound, (name, took)
        late[name] = took - 1.5
        wait_for(
            lambda a=a: gone(worker_pid(a)), 5, message=f"{name}'s worker process killed", reconnect=True
        )
    child = next(e["child"] for e in fault.starts("spawner"))
    wait_for(
        lambda: gone(child), 3, message="the executor's child process killed (no orphan)", reconnect=True
    )
    assert_invariants([tree.id], settled=True)
    report(
        "RT-11/12",
        "timeout on an executor that blocks signals and swallows exceptions",
        late["busy"],
        0,
        "(worker process killed)",
    )
    report("RT-13", "timeout on an executor that spawned a child: child killed too", late["spawner"], 0)


# --- retries and poison ----------------------------------------------------------------------


def test_rt14_rt15_retries_with_backoff_and_permanent_errors(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        probe("flaky", fault.log, max_retries=3, retry_delay=0.2, inputs={"fail_attempts": True}),
        probe("refused", fault.log, max_retries=3, retry_delay=0.2, inputs={"permanent": True}),
    )
    tm.execute(tree.id)
    settle(tree, 40)
    flaky = attempts(tree, "flaky")
    assert len(flaky) == 4 and all(a.outcome == "failed" for a in flaky)
    assert task(tree, "flaky").status == "failed"
    delays = [
        e.data["retry_in"]
        for e in Event.objects.filter(
            tree=tree, task_id=task(tree, "flaky").id, kind="task.status", data__reason="retry"
        ).order_by("seq")
    ]
    assert len(delays) == 3
    for n, (delay, before, after) in enumerate(zip(delays, flaky, flaky[1:], strict=False), start=1):
        raw = min(0.2 * 2 ** (n - 1), settings.ARBOR_MAX_RETRY_DELAY)
        assert 0.5 * raw - 0.001 <= delay <= raw + 0.001
        assert (after.started_at - before.finished_at).total_seconds() >= delay - 0.01
    (refused,) = attempts(tree, "refused")
    assert refused.outcome == "failed" and task(tree, "refused").error_type == "permanent_error"
    assert_invariants([tree.id], settled=True)
    gaps = [
        (b.started_at - a.finished_at).total_seconds() - d
        for a, b, d in zip(flaky, flaky[1:], delays, strict=False)
    ]
    report(
        "RT-14",
        "always failing, max_retries=3: exactly 4 attempts with jittered backoff",
        max(gaps),
        0,
        "(recovery = worst claim latency after the backoff)",
    )
    report("RT-15", "permanent error: 1 attempt, failed at once", None, 0)


def test_rt16_rt18_poison_tasks_that_kill_their_worker(tm, fault):
    fault.cluster(workers=2)
    others = [probe(f"ok{i}", fault.log, inputs={"seconds": 0.2}) for i in range(16)]
    tree = build(
        tm,
        probe("poison", fault.log, executor="kill_self", max_retries=2, retry_delay=0.1),
        probe(
            "poison1", fault.log, executor="kill_self", max_retries=1, retry_delay=0.1, inputs={"delay": 0.3}
        ),
        *others,
    )
    started = timezone.now()
    tm.execute(tree.id)
    wait_for(
        lambda: Task.objects.filter(tree=tree, name__startswith="ok", status="completed").count() == 16,
        30,
        message="the healthy tasks",
        reconnect=True,
    )
    others_done = (timezone.now() - started).total_seconds()
    settle(tree, 40)
    for name, expected in (("poison", 3), ("poison1", 2)):
        items = attempts(tree, name)
        assert len(items) == expected and all(a.outcome == "worker_lost" for a in items)
        t = task(tree, name)
        assert t.status == "failed" and t.error_type == "worker_lost"
    for other in Task.objects.filter(tree=tree, name__startswith="ok"):
        assert other.status == "completed" and other.attempts.count() == 1
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    poison = attempts(tree, "poison")
    report(
        "RT-16",
        "poison (SIGKILLs its worker each time), max_retries=2: failed after 3 attempts",
        (poison[1].started_at - poison[0].started_at).total_seconds(),
        0,
        f"(16 healthy tasks done in {others_done:.1f}s meanwhile)",
    )
    p1 = attempts(tree, "poison1")
    report(
        "RT-18",
        "max_retries=1 across worker crashes: exactly 2 attempts",
        (p1[1].started_at - p1[0].started_at).total_seconds(),
        0,
    )


# --- database outages ---------------------------------------------------------------------------


def _terminate_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_rt19_terminated_connections(tm, fault):
    cluster = fault.cluster(workers=2)
    tree = build(
        tm,
        *(
            probe(f"t{i}", fault.log, max_retries=2, retry_delay=0, inputs={"seconds": 0.4})
            for i in range(12)
        ),
    )
    tm.execute(tree.id)
    wait_for(lambda: running(tree, min_age=0.1), 20, reconnect=True)
    killed = 0
    for _ in range(4):
        killed += _terminate_backends()
        time.sleep(0.7)
    last = timezone.now()
    settle(tree, 60)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    assert cluster.proc.poll() is None  # no manual action, nothing restarted by hand
    first_after = Attempt.objects.filter(tree=tree, started_at__gt=last).order_by("started_at").first()
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-19",
        f"pg_terminate_backend x4 ({killed} connections) while tasks run",
        (first_after.started_at - last).total_seconds() if first_after else 0.0,
        extra_executions(fault, tree, 12),
    )


# --- shutdown --------------------------------------------------------------------------------


def test_rt24_sigterm_drains_running_attempts(tm, fault):
    cluster = fault.cluster(workers=2)
    tree = build(tm, *(probe(f"t{i}", fault.log, inputs={"seconds": 1.2}) for i in range(6)))
    tm.execute(tree.id)
    wait_for(lambda: len(running(tree, min_age=0.1)) >= 2, 20, message="two busy workers", reconnect=True)
    signalled = cluster.signal(signal.SIGTERM)
    sig_at = timezone.now()
    code = cluster.wait(timeout=settings.ARBOR_SHUTDOWN_GRACE + 15)
    exit_after = time.monotonic() - signalled
    assert code == 0
    assert exit_after <= settings.ARBOR_SHUTDOWN_GRACE + 5
    late_claims = Attempt.objects.filter(tree=tree, started_at__gt=sig_at + timezone.timedelta(seconds=1))
    assert not late_claims.exists()  # no new claims 1 s after SIGTERM
    drained = Attempt.objects.filter(tree=tree, started_at__lte=sig_at)
    assert drained.count() >= 2 and set(drained.values_list("outcome", flat=True)) == {"completed"}
    assert not Attempt.objects.filter(tree=tree, outcome="running").exists()
    # a new cluster finishes the rest
    restarted = time.monotonic()
    fault.cluster(workers=2, ready=False)
    settle(tree, 40)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-24",
        "SIGTERM: running attempts finish within grace, no new claims, exit 0",
        exit_after,
        extra_executions(fault, tree, 6),
        f"(rest finished by a new cluster {time.monotonic() - restarted:.1f}s after its start)",
    )


def test_rt25_sigterm_interrupts_what_outlives_the_grace(tm, fault):
    cluster = fault.cluster(workers=2)
    tree = build(
        tm,
        probe("long", fault.log, max_retries=0, inputs={"seconds": 60}, locks=[("db:x", "read")]),
        probe(
            "deaf",
            fault.log,
            executor="sleep_ignoring_cancel",
            max_retries=0,
            inputs={"seconds": 60},
            locks=[("db:x", "read")],
        ),
    )
    tm.execute(tree.id)
    wait_for(lambda: len(running(tree, min_age=0.1)) >= 2, 20, message="both running", reconnect=True)
    signalled = cluster.signal(signal.SIGTERM)
    sig_at = timezone.now()
    code = cluster.wait(timeout=settings.ARBOR_SHUTDOWN_GRACE + 15)
    exit_after = time.monotonic() - signalled
    assert code == 0 and exit_after <= settings.ARBOR_SHUTDOWN_GRACE + 5
    released = []
    for name in ("long", "deaf"):
        (a,) = attempts(tree, name)
        assert a.outcome == "interrupted" and a.lease_expires_at is None
        assert a.heartbeat_at > sig_at  # heartbeats continued during the grace period
        t = task(tree, name)
        assert t.status == "pending" and t.next_attempt_at is None and t.ready_at is not None  # re-queued now
        released.append((a.finished_at - sig_at).total_seconds())
    assert not ResourceLock.objects.exists()
    assert_invariants([tree.id])
    control.tree_cancel(tree=Tree.objects.get(id=tree.id))
    assert_invariants([tree.id], settled=True)
    report(
        "RT-25",
        "SIGTERM with 60 s tasks: interrupted after the 2 s grace, released at once, re-queued",
        max(released),
        0,
        f"(worker exited {exit_after:.1f}s after SIGTERM)",
    )


def test_rt26_a_second_signal_exits_at_once_and_the_reaper_recovers(tm, fault):
    cluster = fault.cluster(workers=2)
    tree = build(tm, *(probe(f"t{i}", fault.log, max_retries=1, inputs={"seconds": 3}) for i in range(2)))
    tm.execute(tree.id)
    wait_for(lambda: len(running(tree, min_age=0.1)) >= 2, 20, message="both running", reconnect=True)
    signalled = cluster.signal(signal.SIGTERM)
    time.sleep(0.3)
    cluster.signal(signal.SIGTERM)  # the impatient operator: no more waiting
    code = cluster.wait(timeout=10)
    exit_after = time.monotonic() - signalled
    assert code != 0 and exit_after <= 2.0  # well before the 2 s grace would have ended
    pids = list(cluster.known)
    wait_for(lambda: all(gone(pid) for pid in pids), 10, message="the whole cluster gone", reconnect=True)
    left = list(Attempt.objects.filter(tree=tree, outcome="running"))
    assert len(left) == 2  # nobody recorded them: the reaper must
    stopped_at = timezone.now()
    fault.cluster(workers=2)  # a fresh arbor_worker: its reaper finds the expired leases
    settle(tree, timeout=30)
    for name in ("t0", "t1"):
        first, second = attempts(tree, name)
        assert first.outcome == "worker_lost" and second.outcome == "completed"
        assert (first.finished_at - stopped_at).total_seconds() <= LEASE + TICK + 3.0
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    reaped = max((attempts(tree, n)[0].finished_at - stopped_at).total_seconds() for n in ("t0", "t1"))
    report(
        "RT-26",
        "second SIGTERM during the drain: exit at once, attempts reaped by the next reaper",
        reaped,
        extra_executions(fault, tree, 2),
        f"(exited {exit_after:.2f}s after the first signal)",
    )


# --- dependencies, locks, cancellation -------------------------------------------------------


def test_rt27_dependencies_and_priorities(tm, fault):
    fault.cluster(workers=1)
    tree = build(
        tm,
        probe("a", fault.log, inputs={"permanent": True}),
        probe("b", fault.log, dependencies=["a"]),
        probe("c", fault.log, dependencies=[{"id": "a", "required": False}]),
        *(probe(f"p{p}", fault.log, priority=p) for p in (3, 1, 0, 2)),
    )
    tm.execute(tree.id)
    settle(tree, 30)
    b = task(tree, "b")
    assert task(tree, "a").status == "failed"
    assert b.status == "cancelled" and b.error_type == "upstream_failed" and not b.attempts.exists()
    assert task(tree, "c").status == "completed"
    order = [e["task"] for e in fault.starts() if e["task"].startswith("p")]
    assert order == ["p0", "p1", "p2", "p3"]
    # the root depends on every child optionally: a's failure is handled, the run completes
    # (SEMANTICS "Tree status": the run's leaves decide)
    finished = Tree.objects.get(id=tree.id)
    assert finished.status == "completed" and finished.handled_failures == 1
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report("RT-27", "required dep failed -> upstream_failed; optional dep -> runs; priority order", None, 0)


def test_rt28_lock_rules_under_concurrency(tm, fault):
    ResourcePool.objects.create(key="gpu:0", capacity=2, everyone=True)
    fault.cluster(workers=3)
    specs = []
    for i in range(10):
        specs.append(probe(f"w{i}", fault.log, inputs={"seconds": 0.15}, locks=[("db:x", "write")]))
        specs.append(probe(f"r{i}a", fault.log, inputs={"seconds": 0.15}, locks=[("db:x", "read")]))
        specs.append(probe(f"r{i}b", fault.log, inputs={"seconds": 0.15}, locks=[("db:x", "read")]))
    specs += [
        probe(f"x{i}", fault.log, inputs={"seconds": 0.1}, locks=[("db:x", "exclusive")]) for i in range(3)
    ]
    specs += [probe(f"g{i}", fault.log, inputs={"seconds": 0.3}, locks=[("gpu:0", "read")]) for i in range(6)]
    tree = build(tm, *specs)
    started = timezone.now()
    tm.execute(tree.id)
    settle(tree, 90)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    log = fault.executions()
    assert_invariants([tree.id], settled=True, log_entries=log)
    spans = {}
    for e in log:
        spans.setdefault(e["attempt_id"], {})[e["event"]] = e
    readers = sorted(
        (s["start"]["t"], s["end"]["t"]) for s in spans.values() if s["start"]["task"].startswith("r")
    )
    overlapping = sum(1 for x, y in zip(readers, readers[1:], strict=False) if y[0] < x[1])
    assert overlapping >= 1  # readers do share the resource
    report(
        "RT-28",
        "10 writers, 20 readers, 3 exclusive on db:x + 6 readers of a 2-slot pool, 3 workers",
        (Tree.objects.get(id=tree.id).finished_at - started).total_seconds(),
        extra_executions(fault, tree, 39),
        f"(0 lock violations; {overlapping} reader overlaps; recovery = total run time)",
    )


def test_rt29_locks_of_a_killed_attempt_are_released(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        probe(
            "holder",
            fault.log,
            executor="kill_self",
            priority=0,
            max_retries=1,
            retry_delay=5,
            inputs={"attempts": [1], "delay": 0.5},
            locks=[("db:z", "write")],
        ),
        probe("waiter", fault.log, priority=1, locks=[("db:z", "write")]),
    )
    tm.execute(tree.id)
    settle(tree, 40)
    first = attempts(tree, "holder")[0]
    (waiter,) = attempts(tree, "waiter")
    killed_at = next(e["t"] for e in fault.starts("holder")) + 0.5
    waited = waiter.started_at.timestamp() - killed_at
    assert first.outcome == "worker_lost" and waiter.started_at >= first.finished_at
    assert waited <= LEASE + TICK + 1.5
    assert task(tree, "holder").status == "completed"
    assert_invariants([tree.id], settled=True, log_entries=fault.executions())
    report(
        "RT-29",
        "lock holder SIGKILLed: lock freed by the reaper, waiter proceeds",
        waited,
        extra_executions(fault, tree, 2) - 0,
        "(the holder's retry is by policy)",
    )


def test_rt30_cancel_running_tasks(tm, fault):
    fault.cluster(workers=2)
    tree = build(
        tm,
        probe("coop", fault.log, max_retries=3, inputs={"seconds": 30}),
        probe("deaf", fault.log, executor="sleep_ignoring_cancel", max_retries=3, inputs={"seconds": 60}),
        probe("after", fault.log, dependencies=["coop"]),
    )
    tm.execute(tree.id)
    coop = wait_for(lambda: running(tree, "coop", min_age=0.2), 20, reconnect=True)[0]
    deaf = wait_for(lambda: running(tree, "deaf", min_age=0.2), 20, reconnect=True)[0]
    t0 = time.time()
    control.task_cancel(task=task(tree, "coop"))
    stopped = wait_for(
        lambda: next(
            (e for e in fault.executions() if e["event"] == "end" and e["attempt_id"] == str(coop.id)), None
        ),
        3,
        message="cooperative stop",
        reconnect=True,
    )
    coop_latency = stopped["t"] - t0
    assert stopped["outcome"] == "cancelled" and coop_latency <= settings.ARBOR_HEARTBEAT_SECONDS + 0.6
    assert not gone(worker_pid(coop))  # stopped cooperatively: its worker lives on
    t1 = time.monotonic()
    control.task_cancel(task=task(tree, "deaf"))
    wait_for(
        lambda: gone(worker_pid(deaf)),
        settings.ARBOR_CANCEL_GRACE + 3,
        message="deaf executor killed",
        reconnect=True,
    )
    deaf_latency = time.monotonic() - t1
    assert deaf_latency <= settings.ARBOR_CANCEL_GRACE + settings.ARBOR_HEARTBEAT_SECONDS + 1.0
    settle(tree, 20)
    time.sleep(1.0)  # nothing is retried
    for name in ("coop", "deaf"):
        t = task(tree, name)
        assert t.status == "cancelled" and t.error_type == "cancelled" and t.attempts.count() == 1
    after = task(tree, "after")
    assert after.status == "cancelled" and after.error_type == "upstream_cancelled"  # a user's cancel
    wait_for(lambda: not ResourceLock.objects.exists(), 3, reconnect=True)
    assert_invariants([tree.id], settled=True)
    report("RT-30", "cancel a running task: cooperative stop", coop_latency, 0)
    report("RT-30", "cancel a running task that ignores it: killed after the cancel grace", deaf_latency, 0)
