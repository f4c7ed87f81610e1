"""A worker runs several non-inline attempts side by side (worker.loop._Pool): each keeps its
own lease, heartbeats, timeout and cancellation, and one slot's end never disturbs another."""

import time
from unittest import mock

import pytest

from tasks_app.executors.base import CancelableExecutor
from tasks_app.models import Attempt, Event, Task
from tasks_app.services import control, runs
from tasks_app.worker import loop as worker
from tests.fault_executors import FAULT_EXECUTORS
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fault_executors(settings):
    settings.ARBOR_EXECUTORS = {**settings.ARBOR_EXECUTORS, **FAULT_EXECUTORS}
    settings.ARBOR_WORKER_CONCURRENCY = 8


def t(name, executor="sleep", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def start(tm, *children):
    root = t("root", "noop", priority=3, dependencies=[{"id": c["id"], "required": False} for c in children])
    tree = tm.create_tree([root, *(dict(c, parent_id="root") for c in children)])
    tm.execute(tree.id)
    return tree


def get(tree, name) -> Task:
    return Task.objects.get(tree=tree, name=name)


def test_a_claim_takes_up_to_slow_limit_non_inline_tasks(tm):
    start(tm, *(t(f"s{i}", inputs={"seconds": 5}) for i in range(5)))
    assert len(runs.claim_batch(worker="w1", limit=64)) == 1  # the default: one at a time
    assert len(runs.claim_batch(worker="w1", limit=64, slow_limit=3)) == 3
    assert {c.executor for c in runs.claim_batch(worker="w1", limit=64, slow_limit=8)} == {"sleep"}


def test_one_drain_runs_non_inline_tasks_side_by_side(tm):
    tree = start(tm, *(t(f"s{i}", inputs={"seconds": 0.4}) for i in range(6)))
    t0 = time.monotonic()
    assert worker.drain(hard_kill=False) == 7
    assert time.monotonic() - t0 < 6 * 0.4  # not back to back
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    attempts = list(Attempt.objects.filter(tree=tree, executor="sleep"))
    assert len({a.worker for a in attempts}) == 1
    latest_start = max(a.started_at for a in attempts)
    assert all(a.finished_at > latest_start for a in attempts)  # they overlapped


def test_heartbeats_renew_every_running_attempt(tm):
    tree = start(tm, *(t(f"s{i}", inputs={"seconds": 0.8}) for i in range(3)))
    beats = []
    real = runs.heartbeat

    def spy(attempt_id, **kw):
        beats.append(attempt_id)
        return real(attempt_id, **kw)

    with mock.patch.object(runs, "heartbeat", spy):
        worker.drain(hard_kill=False)
    ids = set(Attempt.objects.filter(tree=tree, executor="sleep").values_list("id", flat=True))
    assert len(ids) == 3
    for attempt_id in ids:  # heartbeat every 0.25 s (settings_test), 0.8 s each
        assert beats.count(attempt_id) >= 2
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}


def test_a_timeout_in_the_pool_does_not_disturb_the_others(tm, settings):
    settings.ARBOR_TIMEOUT_GRACE = 0.3
    tree = start(
        tm,
        t("deaf", "sleep_ignoring_cancel", timeout=0.3, max_retries=0, inputs={"seconds": 30}),
        t("polite", timeout=0.3, max_retries=0, inputs={"seconds": 30}),
        t("a", inputs={"seconds": 1.2}),
        t("b", inputs={"seconds": 1.2}),
    )
    t0 = time.monotonic()
    worker.drain(hard_kill=False)
    assert time.monotonic() - t0 < 5
    assert get(tree, "deaf").status == "failed" and get(tree, "deaf").error_type == "timeout"
    assert get(tree, "polite").status == "failed" and get(tree, "polite").error_type == "timeout"
    assert get(tree, "a").status == "completed" and get(tree, "b").status == "completed"
    assert get(tree, "root").status == "completed"


def test_cancelling_one_task_in_the_pool_leaves_the_others_running(tm, settings):
    settings.ARBOR_CANCEL_GRACE = 0.3
    tree = start(
        tm,
        t("victim", max_retries=3, inputs={"seconds": 30}),
        t("a", inputs={"seconds": 1.0}),
        t("b", inputs={"seconds": 1.0}),
    )
    victim = get(tree, "victim")
    real = runs.heartbeat
    t0 = time.monotonic()

    def heartbeat(attempt_id, **kw):
        # what a worker sees of a cancel: its attempt was ended elsewhere (cancelled at 0.3 s;
        # the cancel itself runs in the test thread: the tests' in-memory SQLite has one writer)
        if attempt_id == victim_attempt[0] and time.monotonic() - t0 > 0.3:
            if not cancelled:
                cancelled.append(control.task_cancel(task=Task.objects.get(id=victim.id)))
            return real(attempt_id, **kw)
        return real(attempt_id, **kw)

    cancelled: list = []
    victim_attempt: list = []
    claim = runs.claim_batch
    with (
        mock.patch.object(runs, "claim_batch", lambda **kw: _remember(claim(**kw), victim, victim_attempt)),
        mock.patch.object(runs, "heartbeat", heartbeat),
    ):
        worker.drain(hard_kill=False)
    assert cancelled and time.monotonic() - t0 < 5
    assert get(tree, "victim").status == "cancelled"
    assert Attempt.objects.filter(task=victim).count() == 1
    assert get(tree, "a").status == "completed" and get(tree, "b").status == "completed"
    assert Attempt.objects.get(task=get(tree, "a")).outcome == "completed"


def _remember(claims, victim, out):
    out.extend(c.attempt_id for c in claims if c.task_id == victim.id)
    return claims


class Chatty(CancelableExecutor):
    id = "chatty"
    name = "Chatty (tests)"

    def execute(self, inputs, context):
        context.log("one")
        context.log("two", level="warning")
        return {"ok": True}


def test_log_lines_of_a_completed_attempt_are_announced_with_its_outcome(tm, settings):
    settings.ARBOR_EXECUTORS = {
        **settings.ARBOR_EXECUTORS,
        "chatty": "tests.services.test_worker.Chatty",
    }
    tree = start(tm, t("c", "chatty"))
    worker.drain(hard_kill=False)
    task = get(tree, "c")
    assert task.status == "completed"
    events = list(Event.objects.filter(tree=tree, task_id=task.id).values_list("kind", "data"))
    logs = [data["line"] for kind, data in events if kind == "task.log"]
    assert logs == ["one", "two"]
    assert [kind for kind, _ in events][-1] == "task.status"  # the lines come before the outcome
    assert Attempt.objects.get(task=task).logs == [["info", "one"], ["warning", "two"]]


def test_an_executor_that_is_not_concurrent_never_shares_its_worker(tm):
    tree = start(
        tm,
        t("deaf", "sleep_ignoring_cancel", priority=1, inputs={"seconds": 0.4}),
        t("a", inputs={"seconds": 0.4}),
        t("b", inputs={"seconds": 0.4}),
    )
    assert runs.run_kind("sleep_ignoring_cancel") == runs.ALONE and runs.run_kind("sleep") == runs.SHARED
    worker.drain(hard_kill=False)
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    deaf = Attempt.objects.get(task=get(tree, "deaf"))
    for name in ("a", "b"):
        other = Attempt.objects.get(task=get(tree, name))
        assert other.finished_at <= deaf.started_at or other.started_at >= deaf.finished_at


class _EndsWhileLooked:
    """A slot's ``done`` event whose thread ends between the pool's two looks at it: not set when
    the pool collects the ended slots, set when it next asks."""

    def __init__(self):
        self.asked = 0

    def is_set(self):
        self.asked += 1
        return self.asked > 1


def test_an_attempt_that_ends_while_the_pool_collects_outcomes_is_not_lost():
    """The race behind a W5 tree that failed once in ten runs: one attempt of a batch ended while
    ``_Pool.wait`` gathered the others; it was dropped from the pool without its outcome, never
    heartbeated again and reaped as ``worker_lost``."""
    pool = worker._Pool(hard_kill=False)
    now = time.monotonic()

    def slot(name, done):
        claim = mock.Mock(task_id=name, attempt_id=name, timeout=None)
        s = worker._Slot(
            claim=claim,
            executor=None,
            ctx=mock.Mock(),
            reporter=worker._Reporter(),
            start=now,
            next_beat=now + 60,
            next_flush=now + 60,
            last_renewed=now,
        )
        s.done = done
        return s

    finished = mock.Mock(is_set=lambda: True)
    racing = slot("racing", _EndsWhileLooked())
    pool.slots = [slot("finished", finished), racing]
    with mock.patch.object(worker._Pool, "_ended", lambda self, s: s.claim.task_id):
        assert pool.wait(0) == ["finished"]
        assert pool.slots == [racing]  # still supervised: its outcome is taken on the next pass
        assert pool.wait(0) == ["racing"]
    assert pool.slots == []


def test_executor_threads_are_reused_one_attempt_at_a_time():
    """An executor thread takes the next attempt only once its last one returned; a fresh
    ``contextvars`` context each time; an attempt that never returns keeps its thread."""
    import contextvars
    import threading

    threads = worker._ExecutorThreads()
    seen = contextvars.ContextVar("seen", default=None)
    ran: list = []

    def job(name, release=None):
        def fn():
            ran.append((name, threading.get_ident(), seen.get()))
            seen.set(name)  # must not be visible to the next attempt on this thread
            if release is not None:
                release.wait(5)
            done.set()

        done = threading.Event()
        return fn, done

    first, first_done = job("a")
    threads.run(first)
    assert first_done.wait(5)
    # the thread offers itself again right after its attempt returned
    wait_for(lambda: threads._idle, timeout=5, interval=0.01, message="the thread is not idle again")
    release = threading.Event()
    stuck, stuck_done = job("b", release)
    threads.run(stuck)  # takes the idle thread
    other, other_done = job("c")
    threads.run(other)  # the only thread is busy: a new one
    assert other_done.wait(5)
    release.set()
    assert stuck_done.wait(5)
    (a, b, c) = sorted(ran)
    assert a[1] == b[1] != c[1]
    assert [a[2], b[2], c[2]] == [None, None, None]


def test_a_forked_child_starts_its_own_executor_threads():
    """A child forked after its parent ran executors (django-q2 forks its workers) must not hand
    an attempt to a thread that only exists in the parent."""
    import os
    import threading

    threads = worker._ExecutorThreads()
    done = threading.Event()
    threads.run(done.set)
    assert done.wait(5)
    wait_for(lambda: threads._idle, timeout=5, interval=0.01, message="the thread is not idle again")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its attempt must run
        ran = threading.Event()
        threads.run(ran.set)
        os.write(write, b"1" if ran.wait(5) else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
