"""Running, cancelling, retrying and re-running trees and tasks (one write path each)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from tasks_app import selectors
from tasks_app.engine import propagation, readiness
from tasks_app.engine.inputs import mark_result
from tasks_app.engine.snapshot import Graph
from tasks_app.engine.states import TERMINAL, UPSTREAM_ERROR_TYPES, Outcome, Status
from tasks_app.exceptions import (
    AlreadyRunning,
    ArchivedTask,
    InvalidTransition,
    NotFound,
    OrchestratorError,
    TreeValidationError,
    ValidationError,
)
from tasks_app.executors import registry
from tasks_app.executors.registry import DEMO_PARAM
from tasks_app.models import Attempt, Dependency, Task, Tree

from . import dispatch, grants, history, locking, scheduling
from .event_log import EventBuffer
from .retry import on_deadlock

ACTIVE = [Status.PENDING.value, Status.IN_PROGRESS.value]
TERMINAL_VALUES = (Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value)


def _lock_tree(tree_id) -> Tree:
    return locking.lock_tree(tree_id)


def archived_refusal(tree: Tree) -> ArchivedTask | None:
    """The refusal of every write to an archived tree (None for a writable one)."""
    return ArchivedTask(f"tree '{tree.name}' is archived and read-only") if tree.archived else None


def _check_writable(tree: Tree) -> None:
    refusal: OrchestratorError | None = archived_refusal(tree)
    if refusal is not None:
        raise refusal


def _mark_ready(tree_id, events: EventBuffer, now) -> list:
    """Give every scheduled pending task whose dependencies are satisfied a ready time, and
    cancel the ones an already-failed required dependency blocks."""
    return _mark_ready_many({tree_id: events}, now)


def _mark_ready_many(buffers: dict, now) -> list:
    """``_mark_ready`` for many trees at once (``{tree_id: EventBuffer}``): two queries for the
    graphs and one update for the ready times, whatever the number of trees."""
    graphs = selectors.graph_snapshots(buffers)
    ready_all: list = []
    for tree_id, graph in graphs.items():
        events = buffers[tree_id]
        terminal = [n.id for n in graph.nodes.values() if n.status in TERMINAL]
        fallout = propagation.fallout_causes(graph, terminal) if terminal else {}
        if fallout:
            scheduling.cancel_upstream_failed(fallout, events, now)
            graph = selectors.graph_snapshot(tree_id)
        ready = [i for i in readiness.ready_ids(graph) if graph.node(i).ready_at is None]
        for i in ready:
            events.add(tree_id, "task.ready", task_id=i)
        ready_all.extend(ready)
    if ready_all:
        Task.objects.filter(id__in=ready_all, status=Status.PENDING.value).update(
            ready_at=now, updated_at=now
        )
    return ready_all


@dataclass
class RunRequest:
    """One tree to start in :func:`trees_execute`: the arguments ``tree_execute`` takes per tree."""

    tree: Tree
    actor: Any = None
    task: Task | None = None
    root_inputs: dict | None = None
    demo: bool | None = None


def _as_fresh(graph: Graph) -> Graph:
    """The graph as ``_reset`` leaves it: every task pending, unscheduled results cleared."""
    return Graph(
        replace(n, status=Status.PENDING, ready_at=None, result=None, error_type=None, in_scope=True)
        for n in graph.nodes.values()
    )


def _check_request(req: RunRequest, tree: Tree | None, graph: Graph | None, *, fresh: bool, source: str):
    """Every refusal of ``tree_execute`` for one tree, before anything is written: the rule of
    :func:`execute_check`, then the root inputs. Returns ``(runnable ids, reset?)``; raises."""
    if tree is None:
        raise NotFound(locking.MSG_TREE_GONE.format(id=req.tree.id), details={"tree": str(req.tree.id)})
    req.task = locking.reload_task(req.task.id) if req.task is not None else None
    verdict = execute_check(req.actor, tree, task=req.task, fresh=fresh, graph=graph, source=source)
    runnable = verdict.check().ids
    if req.root_inputs is not None:
        _check_root_inputs(tree, req.root_inputs)
    return runnable, fresh and tree.status in TERMINAL_VALUES


def trees_execute(
    requests: list[RunRequest], *, source: str = "api", trigger: str = "execute", fresh: bool = False
) -> dict:
    """Start runs of many trees together, in bulk statements: the batch form of ``tree_execute``
    (which is this with one request), for the scheduler's bursts. Call inside ``atomic()``.

    Returns ``{tree_id: Tree}`` for each started tree and ``{tree_id: OrchestratorError}`` for
    each refused one (archived, already running, nothing to run, an executor its actor may not
    use, invalid root inputs); a refused tree has nothing written, the others start. Trees are
    locked in id order (no deadlock between two batches)."""
    wanted = sorted({r.tree.id for r in requests}, key=str)
    locked = {t.id: t for t in Tree.objects.select_for_update().filter(id__in=wanted).order_by("id")}
    graphs = selectors.graph_snapshots(list(locked))
    now = timezone.now()
    results: dict = {}
    accepted: list = []  # (request, locked tree, runnable, reset)
    for req in requests:
        tree = locked.get(req.tree.id)
        try:
            runnable, reset = _check_request(req, tree, graphs.get(req.tree.id), fresh=fresh, source=source)
        except OrchestratorError as exc:
            results[req.tree.id] = exc
            continue
        accepted.append((req, tree, runnable, reset))
    if not accepted:
        return results
    buffers: dict = {}  # one buffer per actor: events carry who started the run
    buffer_of: dict = {}
    for req, tree, _, _ in accepted:
        actor_id = getattr(req.actor, "pk", None)
        if actor_id not in buffers:
            buffers[actor_id] = EventBuffer(actor_id=actor_id, source=source)
        buffer_of[tree.id] = buffers[actor_id]
    for req, tree, _, _ in accepted:
        if req.root_inputs is not None:
            _write_root_inputs(tree, req.root_inputs, buffer_of[tree.id], now)
    reset_by_buffer: dict = {}
    for _, tree, _, reset in accepted:
        if reset:
            reset_by_buffer.setdefault(id(buffer_of[tree.id]), (buffer_of[tree.id], []))[1].append(tree.id)
    for events, tree_ids in reset_by_buffer.values():
        ids = [str(i) for i in Task.objects.filter(tree_id__in=tree_ids).values_list("id", flat=True)]
        _reset(ids, events, now, "new run")
    for req, _, runnable, _ in accepted:
        if req.demo is not None:
            _set_demo(runnable, req.demo)
    tree_ids = [tree.id for _, tree, _, _ in accepted]
    Task.objects.filter(tree_id__in=tree_ids).update(scheduled=False)
    Task.objects.filter(id__in=[i for _, _, runnable, _ in accepted for i in runnable]).update(
        scheduled=True, updated_at=now
    )
    Tree.objects.filter(id__in=tree_ids).update(
        status=Status.IN_PROGRESS.value,
        run_count=F("run_count") + 1,
        started_at=now,
        finished_at=None,
        cancel_requested=False,
        updated_at=now,
    )
    triggers = {}
    for _, tree, _, _ in accepted:
        run_trigger = trigger
        if trigger == "execute" and tree.original_tree_id and not tree.run_count:
            run_trigger = "copy"  # the first run of a copy: a copy-and-run, whichever client asked
        triggers[tree.id] = run_trigger
    runs = history.start_many(
        [
            {
                "tree_id": tree.id,
                "trigger": triggers[tree.id],
                "actor": req.actor,
                "target": req.task,
                "scope": len(runnable),
            }
            for req, tree, runnable, _ in accepted
        ],
        source=source,
        now=now,
    )
    for _, tree, runnable, _ in accepted:
        buffer_of[tree.id].add(
            tree.id,
            "tree.status",
            status=Status.IN_PROGRESS.value,
            run=tree.run_count + 1,
            scope=len(runnable),
            run_number=runs[tree.id].number,
            trigger=triggers[tree.id],
        )
    ready = _mark_ready_many({tree.id: buffer_of[tree.id] for _, tree, _, _ in accepted}, now)
    # a run whose every task was cancelled by an already-failed dependency ends at once: only
    # those trees need the full status rule (the others are in progress, as just written)
    active = set(
        Task.objects.filter(tree_id__in=tree_ids)
        .filter(Q(status=Status.IN_PROGRESS.value) | Q(status=Status.PENDING.value, scheduled=True))
        .values_list("tree_id", flat=True)
        .distinct()
    )
    for tree_id in tree_ids:
        if tree_id not in active:
            scheduling.refresh_tree_status([tree_id], buffer_of[tree_id], now)
    for events in buffers.values():
        events.flush(locked=True)
    dispatch.wake(max(1, len(ready)))
    results.update(Tree.objects.in_bulk(tree_ids))
    return results


# --- "can I?": one check per tree action, used by the action itself and by every interface -----


@dataclass(frozen=True)
class Verdict:
    """What a tree action would do, or why it is refused, without changing anything.

    ``tasks``: ``[{id, name, status}]`` the action would touch, in order (empty when refused);
    ``refusal``: the domain error the action raises (its message and code are the ones the
    REST API, JSON-RPC and the admin show)."""

    action: str
    tasks: tuple = ()
    refusal: OrchestratorError | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> str:
        return "" if self.refusal is None else self.refusal.message

    @property
    def ids(self) -> list[str]:
        return [t["id"] for t in self.tasks]

    def check(self) -> Verdict:
        """Raise the refusal, if any; return the verdict."""
        if self.refusal is not None:
            raise self.refusal
        return self

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "allowed": self.allowed,
            "reason": self.reason,
            "code": self.refusal.code if self.refusal is not None else "",
            "tasks": list(self.tasks),
        }


def _rows(graph, ids) -> tuple:
    return tuple({"id": i, "name": graph.node(i).name, "status": graph.node(i).status.value} for i in ids)


def _by_position(graph, ids) -> list[str]:
    return sorted(ids, key=lambda i: (graph.node(i).created, i))


def _refused(action: str, refusal: OrchestratorError) -> Verdict:
    return Verdict(action, refusal=refusal)


def _granted(action: str, user, graph, ids, source: str) -> Verdict:
    """``ids`` allowed, unless ``user`` may not use one of their executors."""
    refusal = grants.executor_refusal(user, {graph.node(i).executor for i in ids}, source=source)
    return Verdict(action, refusal=refusal) if refusal is not None else Verdict(action, _rows(graph, ids))


def execute_check(
    user, tree: Tree, *, task: Task | None = None, fresh: bool = False, graph=None, source: str = ""
) -> Verdict:
    """Can ``user`` start a run of ``tree`` (of ``task`` and its unfinished upstream tasks)?
    Refused for an archived tree, a tree already executing, nothing pending in scope (with
    ``fresh``, a finished tree starts over: every task in scope), or an executor not granted."""
    refusal: OrchestratorError | None = archived_refusal(tree)
    if refusal is None and tree.status == Status.IN_PROGRESS.value:
        refusal = AlreadyRunning(f"tree '{tree.name}' is already executing")
    if refusal is not None:
        return _refused("execute", refusal)
    graph = graph if graph is not None else selectors.graph_snapshot(tree.id)
    if fresh and tree.status in TERMINAL_VALUES:
        graph = _as_fresh(graph)  # a finished tree starts over: judged as the reset leaves it
    scope = propagation.run_scope(graph, str(task.id) if task is not None else str(tree.id))
    runnable = [i for i in scope if graph.node(i).status == Status.PENDING]
    if not runnable:
        return _refused(
            "execute",
            InvalidTransition(
                "nothing to run: every task in scope is finished (use retry for failed tasks, or rerun)"
            ),
        )
    return _granted("execute", user, graph, _by_position(graph, runnable), source)


def cancel_check(user, tree: Tree, *, graph=None) -> Verdict:
    """Can ``user`` cancel ``tree``: which pending or running tasks it would cancel."""
    refusal: OrchestratorError | None = archived_refusal(tree)
    if refusal is not None:
        return _refused("cancel", refusal)
    graph = graph if graph is not None else selectors.graph_snapshot(tree.id)
    active = [i for i, n in graph.nodes.items() if n.status.value in ACTIVE]
    if not active:
        return _refused(
            "cancel", InvalidTransition(f"tree '{tree.name}' has nothing to cancel: every task is finished")
        )
    return Verdict("cancel", _rows(graph, _by_position(graph, active)))


def retry_check(user, tree: Tree, *, graph=None, source: str = "") -> Verdict:
    """Can ``user`` retry ``tree`` in place: every failed or cancelled task (not cancelled because
    of an upstream task) and what it blocked, dependencies first."""
    refusal: OrchestratorError | None = archived_refusal(tree)
    if refusal is not None:
        return _refused("retry", refusal)
    graph = graph if graph is not None else selectors.graph_snapshot(tree.id)
    failed = _by_position(
        graph,
        [
            i
            for i, n in graph.nodes.items()
            if n.status in (Status.FAILED, Status.CANCELLED) and n.error_type not in UPSTREAM_ERROR_TYPES
        ],
    )
    if not failed:
        return _refused(
            "retry", InvalidTransition(f"tree '{tree.name}' has no failed or cancelled task to retry")
        )
    ids: list = []
    try:
        for f in failed:
            ids.extend(i for i in propagation.retry_set(graph, f) if i not in ids)
    except OrchestratorError as exc:
        return _refused("retry", exc)
    return _granted("retry", user, graph, ids, source)


TREE_CHECKS = {"execute": execute_check, "cancel": cancel_check, "retry": retry_check}


def tree_check(user, tree: Tree, action: str) -> Verdict:
    """The check of a tree action by name (``execute``, ``cancel``, ``retry``)."""
    if action not in TREE_CHECKS:
        raise InvalidTransition(f"unknown action '{action}'")
    return TREE_CHECKS[action](user, tree)


@grants.audit_denials
@on_deadlock
@transaction.atomic
def tree_execute(
    *,
    tree: Tree,
    task: Task | None = None,
    actor=None,
    source: str = "api",
    trigger: str = "execute",
    root_inputs: dict | None = None,
    fresh: bool = False,
    demo: bool | None = None,
) -> Tree:
    """Start a run: the whole tree (root or no task given) or one task with its unfinished
    upstream dependencies. Refused while the tree is already running. Records run n+1
    (``trigger``: ``execute``, ``copy`` for a copy-and-run, ``schedule`` for a scheduled fire).

    ``root_inputs``: replace the root task's inputs first (checked like an edit: inbound
    triggers). ``fresh``: a tree whose last run finished starts over, every task back to
    pending (triggers and schedules: each firing is a new run). ``demo`` (apflow's
    ``use_demo``) sets or clears ``params.use_demo`` on the tasks of the run: an executor that
    declares a demo result returns it instead of running.

    One write path: this is :func:`trees_execute` with one request."""
    request = RunRequest(tree=tree, actor=actor, task=task, root_inputs=root_inputs, demo=demo)
    result = trees_execute([request], source=source, trigger=trigger, fresh=fresh)[tree.id]
    if isinstance(result, Exception):
        raise result
    return result


def _check_root_inputs(tree: Tree, inputs) -> None:
    if not isinstance(inputs, dict):
        raise ValidationError("inputs: must be a JSON object", details={"field": "inputs"})
    root = Task.objects.get(id=tree.id)
    problems = registry.check_inputs(root.executor, inputs)
    if problems:
        raise TreeValidationError([f"task '{root.name}': {p}" for p in problems])


def _write_root_inputs(tree: Tree, inputs, events: EventBuffer, now) -> None:
    Task.objects.filter(id=tree.id).update(inputs=inputs, updated_at=now)
    events.add(tree.id, "task.updated", task_id=tree.id, fields=["inputs"])


def _set_demo(task_ids, demo: bool) -> None:
    changed = []
    for row in Task.objects.filter(id__in=task_ids).only("id", "params"):
        params = dict(row.params or {})
        if demo:
            params[DEMO_PARAM] = True
        elif DEMO_PARAM in params:
            del params[DEMO_PARAM]
        else:
            continue
        row.params = params
        changed.append(row)
    Task.objects.bulk_update(changed, ["params"])


def _end_running_attempt(task: Task, now, reason: str) -> None:
    if task.current_attempt_id:
        Attempt.objects.filter(id=task.current_attempt_id, outcome=Outcome.RUNNING.value).update(
            outcome=Outcome.CANCELLED.value,
            error=reason,
            error_type="cancelled",
            finished_at=now,
            lease_expires_at=None,
        )


@on_deadlock
@transaction.atomic
def task_cancel(*, task: Task, actor=None, source: str = "api", reason: str = "cancelled by user") -> Task:
    """Cancel a pending or running task. A running executor is told to stop (its worker sees the
    attempt end at its next heartbeat) and is killed after a grace period; a late result is
    discarded by the attempt fence. Dependents cascade to ``cancelled`` / ``upstream_cancelled``."""
    tree = _lock_tree(task.tree_id)
    _check_writable(tree)
    task = locking.reload_task(task.id)
    if task.status in (Status.COMPLETED.value, Status.FAILED.value, Status.CANCELLED.value):
        raise InvalidTransition(
            f"task '{task.name}' is already {task.status}; only pending or running tasks can be cancelled"
        )
    now = timezone.now()
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    _cancel_rows([task], events, now, reason)
    scheduling.propagate([task.id], events, now)
    scheduling.refresh_tree_status([tree.id], events, now)
    events.flush()
    task.refresh_from_db()
    return task


def _cancel_rows(tasks, events, now, reason) -> None:
    for task in tasks:
        _end_running_attempt(task, now, reason)
        updated = Task.objects.filter(id=task.id, status__in=ACTIVE).update(
            status=Status.CANCELLED.value,
            error=reason,
            error_type="cancelled",
            completed_at=now,
            cancel_requested=True,
            ready_at=None,
            next_attempt_at=None,
            waiting_reason="",
            updated_at=now,
        )
        if updated:
            events.add(
                task.tree_id,
                "task.status",
                task_id=task.id,
                status=Status.CANCELLED.value,
                error=reason,
                error_type="cancelled",
            )


@on_deadlock
@transaction.atomic
def tree_cancel(
    *, tree: Tree, actor=None, source: str = "api", reason: str = "tree cancelled by user"
) -> Tree:
    tree = _lock_tree(tree.id)
    ids = cancel_check(actor, tree).check().ids
    tasks = list(Task.objects.filter(id__in=ids, status__in=ACTIVE))
    now = timezone.now()
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    Tree.objects.filter(id=tree.id).update(cancel_requested=True)
    _cancel_rows(tasks, events, now, reason)
    scheduling.refresh_tree_status([tree.id], events, now)
    events.flush()
    tree.refresh_from_db()
    return tree


def _reset(ids, events, now, reason: str) -> None:
    Task.objects.filter(id__in=ids).update(
        status=Status.PENDING.value,
        result=None,
        error=None,
        error_type=None,
        progress=0.0,
        progress_message="",
        started_at=None,
        completed_at=None,
        ready_at=None,
        next_attempt_at=None,
        current_attempt=None,
        cancel_requested=False,
        waiting_reason="",
        scheduled=True,
        updated_at=now,
    )
    tree_of = dict(Task.objects.filter(id__in=ids).values_list("id", "tree_id"))
    for i in ids:
        events.add(
            tree_of.get(selectors.parse_uuid(i)),
            "task.status",
            task_id=i,
            status=Status.PENDING.value,
            reason=reason,
        )


def _resume(tree: Tree, ids, events, now, reason: str, *, actor=None, source: str = "", target=None) -> Tree:
    """Put ``ids`` back to pending and resume the tree. After the end of a run this starts a new
    run record (trigger ``retry`` / ``rerun``); while the tree is still in progress the tasks join
    the run in progress (as in Airflow, clearing a task does not make a new run)."""
    run_number = None
    if tree.status != Status.IN_PROGRESS.value or history.open_run(tree.id) is None:
        run = history.start(
            tree_id=tree.id,
            trigger=reason,
            actor=actor,
            source=source,
            target=target,
            scope=len(ids),
            now=now,
        )
        run_number = run.number
    _reset(ids, events, now, reason)
    # a pending dependent that became ready because these tasks had finished must wait for them again
    Task.objects.filter(
        tree_id=tree.id,
        status=Status.PENDING.value,
        ready_at__isnull=False,
        id__in=Dependency.objects.filter(upstream_id__in=ids).values("downstream_id"),
    ).update(ready_at=None, waiting_reason="", updated_at=now)
    Tree.objects.filter(id=tree.id).update(
        status=Status.IN_PROGRESS.value,
        cancel_requested=False,
        finished_at=None,
        # a new run record counts as a run; joining the run in progress does not
        run_count=tree.run_count + 1 if run_number is not None else (tree.run_count or 1),
        started_at=now if run_number is not None else (tree.started_at or now),
        updated_at=now,
    )
    if tree.status != Status.IN_PROGRESS.value:  # watchers see the tree running again
        events.add(
            tree.id, "tree.status", status=Status.IN_PROGRESS.value, reason=reason, run_number=run_number
        )
    ready = _mark_ready(tree.id, events, now)
    scheduling.refresh_tree_status([tree.id], events, now)
    events.flush()
    dispatch.wake(max(1, len(ready)))
    tree.refresh_from_db()
    return tree


@grants.audit_denials
@on_deadlock
@transaction.atomic
def task_retry(*, task: Task, actor=None, source: str = "api") -> Tree:
    """Retry in place: the failed/cancelled task and every task cancelled because of it go back to
    pending; completed tasks are not run again; attempt history is kept."""
    tree = _lock_tree(task.tree_id)
    task = locking.reload_task(task.id)
    ids = task_check(actor, task, "retry", tree=tree, source=source).check().ids
    now = timezone.now()
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(tree.id, "task.retry", task_id=task.id, tasks=len(ids))
    return _resume(tree, ids, events, now, "retry", actor=actor, source=source, target=task)


@grants.audit_denials
@on_deadlock
@transaction.atomic
def tree_retry(*, tree: Tree, actor=None, source: str = "api") -> Tree:
    """Retry every failed or cancelled task of a tree (and what they blocked)."""
    tree = _lock_tree(tree.id)
    ids = retry_check(actor, tree, source=source).check().ids
    now = timezone.now()
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(tree.id, "tree.retry", tasks=len(ids))
    return _resume(tree, ids, events, now, "retry", actor=actor, source=source)


@grants.audit_denials
@on_deadlock
@transaction.atomic
def task_rerun(*, task: Task, actor=None, source: str = "api") -> Tree:
    """Re-run from here (Airflow's clear downstream): the task and everything downstream of it go
    back to pending; their earlier attempts stay as history."""
    tree = _lock_tree(task.tree_id)
    task = locking.reload_task(task.id)
    ids = task_check(actor, task, "rerun", tree=tree, source=source).check().ids
    now = timezone.now()
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    events.add(tree.id, "task.rerun", task_id=task.id, tasks=len(ids))
    return _resume(tree, ids, events, now, "rerun", actor=actor, source=source, target=task)


MARKS = {"mark_success": "success", "skip": "skipped"}


@grants.audit_denials
@on_deadlock
@transaction.atomic
def task_mark(*, task: Task, mark: str, actor=None, source: str = "api") -> Tree:
    """Mark success (``mark="success"``) or skip (``mark="skipped"``) a failed, cancelled or pending
    task (docs/semantics.md "Mark success and skip"): it becomes ``completed`` with the result
    ``{"marked": mark, "by": username}`` (which feeds no dependent's inputs); the tasks cancelled
    only because of it go back to pending and the tree resumes (the run in progress, or a new run
    record with trigger ``mark`` when the tree had ended). A pending task of a tree that is not
    running is only marked (its dependents run at the next execute). Refused for a running task
    (cancel it first) and a completed one."""
    if mark not in MARKS.values():
        raise ValidationError(f"unknown mark '{mark}'", details={"field": "mark"})
    tree = _lock_tree(task.tree_id)
    task = locking.reload_task(task.id)
    was = task.status
    action = next(name for name, value in MARKS.items() if value == mark)
    released = task_check(actor, task, action, tree=tree, source=source).check().ids[1:]
    now = timezone.now()
    by = actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else "system"
    message = f"marked {mark} by {by}"
    events = EventBuffer(actor_id=getattr(actor, "pk", None), source=source)
    updated = Task.objects.filter(id=task.id, status=was).update(
        status=Status.COMPLETED.value,
        result=mark_result(mark, by),
        error=None,
        error_type=None,
        progress=1.0,
        progress_message=message,
        completed_at=now,
        ready_at=None,
        next_attempt_at=None,
        waiting_reason="",
        cancel_requested=False,
        updated_at=now,
    )
    if not updated:  # defensive: its status changed under us (e.g. a worker claimed it)
        raise InvalidTransition(propagation.MARK_RUNNING.format(name=task.name), details={"id": str(task.id)})
    # result, error and progress_message ride along so the run view shows the mark live
    events.add(
        tree.id,
        "task.status",
        task_id=task.id,
        status=Status.COMPLETED.value,
        marked=mark,
        by=by,
        result=mark_result(mark, by),
        error=None,
        progress_message=message,
    )
    events.add(
        tree.id, "task.marked", task_id=task.id, mark=mark, by=by, previous=was, released=len(released)
    )
    if tree.status == Status.IN_PROGRESS.value or was != Status.PENDING.value:
        return _resume(tree, released, events, now, "mark", actor=actor, source=source, target=task)
    scheduling.refresh_tree_status([tree.id], events, now)
    events.flush()
    tree.refresh_from_db()
    return tree


TASK_ACTIONS = ("retry", "rerun", "cancel", *MARKS)


def task_check(user, task: Task, action: str, *, tree: Tree | None = None, source: str = "") -> Verdict:
    """Can ``user`` apply ``action`` (``retry``, ``rerun``, ``cancel``, ``mark_success``, ``skip``)
    to ``task``: the tasks it would touch (:func:`preview`), or why it is refused (an archived
    tree, the task's status, an executor of the tasks it would run not granted)."""
    refusal: OrchestratorError | None = archived_refusal(tree if tree is not None else task.tree)
    if refusal is not None:
        return _refused(action, refusal)
    graph = selectors.graph_snapshot(task.tree_id)
    try:
        tasks = tuple(preview(task=task, action=action, graph=graph)["tasks"])
    except OrchestratorError as exc:
        return _refused(action, exc)
    would_run = [t["id"] for t in (tasks[1:] if action in MARKS else () if action == "cancel" else tasks)]
    if would_run:
        refusal = grants.executor_refusal(user, {graph.node(i).executor for i in would_run}, source=source)
        if refusal is not None:
            return _refused(action, refusal)
    return Verdict(action, tasks)


def preview(*, task: Task, action: str, graph=None) -> dict:
    """What an action would touch, for confirmation pages and the UI's effect preview."""
    graph = graph if graph is not None else selectors.graph_snapshot(task.tree_id)
    tid = str(task.id)
    if action == "retry":
        ids = propagation.retry_set(graph, tid)
    elif action == "rerun":
        ids = propagation.rerun_set(graph, tid)
    elif action in MARKS:
        ids = propagation.mark_set(graph, tid)
    elif action == "cancel":
        ids = propagation.cancel_set(graph, tid)
        # the cascade task_cancel applies: dependents that can no longer run (required
        # edges only, tasks outside the current run untouched); a task of a tree that has not run
        # yet dooms the dependents that will be cancelled when it runs
        after = graph.with_status(tid, Status.CANCELLED)
        if not graph.node(tid).in_scope:
            after = after.replace({i: {"in_scope": True} for i, n in graph.nodes.items() if not n.in_scope})
        fallout = propagation.failure_fallout(after, [tid])
        ids = list(ids) + [i for i in fallout if i not in ids]
    else:
        raise InvalidTransition(f"unknown action '{action}'")
    return {
        "action": action,
        "tasks": [{"id": i, "name": graph.node(i).name, "status": graph.node(i).status.value} for i in ids],
    }
