"""Schedules: create, edit, pause, resume, delete, and the scheduler tick that fires them.

A fire re-runs its tree **in place** (apflow's behaviour): the tree's finished tasks go back to
``pending`` and the tree is executed through :func:`control.tree_execute` with source
``"schedule"``. Each fire is one :class:`ScheduleFire` row that names the tree's run number.

Exactly once: the tick locks due schedule rows with ``FOR UPDATE SKIP LOCKED`` (SQLite's
IMMEDIATE transactions serialise instead) and, in one transaction per schedule, records the fire
(unique on schedule + scheduled_for), advances ``next_run_at`` and starts the run. A process killed
mid-fire rolls back all three; the next tick anywhere fires it once.

Hook for notifications: when a fire's run ends, the tick appends a ``schedule.run_finished`` event
to the tree (``schedule_id``, ``fire_id``, ``status``, ``run``) in the transaction that records
the outcome; a fire that started appends ``schedule.fired``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from tasks_app import conf
from tasks_app.engine import schedules as rules
from tasks_app.engine.states import Status
from tasks_app.exceptions import ArchivedTask, OrchestratorError, PermissionDenied, ValidationError
from tasks_app.models import FireStatus, Schedule, ScheduleFire, Tree
from tasks_app.models.schedule import FIRE_OPEN, CatchUp, Overlap

from . import control, grants
from .event_log import EventBuffer

logger = logging.getLogger(__name__)
SOURCE = "schedule"
EDITABLE = (
    "name",
    "kind",
    "expression",
    "timezone",
    "start_at",
    "end_at",
    "max_runs",
    "enabled",
    "overlap",
    "catch_up",
    "max_concurrent",
)
RULE_FIELDS = ("kind", "expression", "timezone", "start_at", "end_at", "max_runs")

MSG_END_BEFORE_START = "end_at must be after start_at"
MSG_ARCHIVED = "tree '{name}' is archived and read-only: it cannot be scheduled"
MSG_OVERLAP = "overlap must be one of: skip, queue, cancel"
MSG_CATCH_UP = "catch_up must be one of: skip, run"
MSG_MAX_CONCURRENT = (
    "max_concurrent must be 1: a schedule re-runs its tree in place, and a tree runs "
    "once at a time (use overlap=queue to run fires back to back)"
)
MSG_MAX_RUNS = "max_runs must be a positive whole number"
MSG_MIN_INTERVAL = "interval must be at least {n} seconds (ARBOR_SCHEDULE_MIN_INTERVAL)"
MSG_NAIVE = "{field} needs a timezone offset"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details={"field": field})


def spec_of(schedule: Schedule) -> rules.Spec:
    return rules.check(schedule.kind, schedule.expression, schedule.timezone)


def anchor_of(schedule: Schedule) -> dt.datetime:
    return schedule.start_at or schedule.created_at or timezone.now()


def _validate(values: dict) -> rules.Spec:
    spec = rules.check(values["kind"], values["expression"], values.get("timezone") or "UTC")
    if spec.kind == "interval" and (spec.seconds or 0) < settings.ARBOR_SCHEDULE_MIN_INTERVAL:
        raise _invalid("expression", MSG_MIN_INTERVAL.format(n=settings.ARBOR_SCHEDULE_MIN_INTERVAL))
    for field in ("start_at", "end_at"):
        value = values.get(field)
        if value is not None and timezone.is_naive(value):
            raise _invalid(field, MSG_NAIVE.format(field=field))
    start, end = values.get("start_at"), values.get("end_at")
    if start is not None and end is not None and end <= start:
        raise _invalid("end_at", MSG_END_BEFORE_START)
    if values.get("overlap", Overlap.SKIP) not in Overlap.values:
        raise _invalid("overlap", MSG_OVERLAP)
    if values.get("catch_up", CatchUp.SKIP) not in CatchUp.values:
        raise _invalid("catch_up", MSG_CATCH_UP)
    if values.get("max_concurrent", 1) != 1:
        raise _invalid("max_concurrent", MSG_MAX_CONCURRENT)
    max_runs = values.get("max_runs")
    if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
        raise _invalid("max_runs", MSG_MAX_RUNS)
    return spec


def _first_fire(schedule: Schedule, spec: rules.Spec, now: dt.datetime) -> dt.datetime | None:
    if schedule.max_runs is not None and schedule.run_count >= schedule.max_runs:
        return None
    anchor = anchor_of(schedule)
    if spec.kind == "interval" and schedule.start_at is None:
        anchor = now  # first fire one interval from now, not at once
    times = rules.upcoming(spec, now, 1, anchor=anchor, start_at=schedule.start_at, end_at=schedule.end_at)
    if (
        spec.kind == "once"
        and not times
        and schedule.run_count == 0
        and spec.at is not None
        and spec.at <= now
    ):
        return spec.at  # a past 'once' fires at the next tick, like a missed fire
    return times[0] if times else None


def _check_tree(tree: Tree) -> None:
    if tree.archived:
        raise ArchivedTask("tree: " + MSG_ARCHIVED.format(name=tree.name), details={"field": "tree"})


@transaction.atomic
def schedule_create(
    *, owner, tree: Tree, kind: str, expression, timezone_name: str = "UTC", **fields
) -> Schedule:
    """Create a schedule of ``tree`` (owned by ``owner``); raise ValidationError naming the field."""
    _check_tree(tree)
    values = {
        "kind": kind,
        "expression": "" if expression is None else str(expression).strip(),
        "timezone": timezone_name or "UTC",
        **{k: v for k, v in fields.items() if k in EDITABLE},
    }
    spec = _validate(values)
    schedule = Schedule(owner=owner, tree=tree, **values)
    schedule.created_at = timezone.now()
    schedule.next_run_at = _first_fire(schedule, spec, schedule.created_at)
    schedule.full_clean(exclude=["owner", "tree"])
    schedule.save()
    return schedule


@transaction.atomic
def schedule_update(*, schedule: Schedule, **fields) -> Schedule:
    """Change a schedule's fields; a change to its rule recomputes ``next_run_at`` from now."""
    schedule = Schedule.objects.select_for_update().select_related("tree").get(id=schedule.id)
    _check_tree(schedule.tree)
    changed = {k: v for k, v in fields.items() if k in EDITABLE}
    if "expression" in changed:
        changed["expression"] = "" if changed["expression"] is None else str(changed["expression"]).strip()
    values = {f: getattr(schedule, f) for f in EDITABLE} | changed
    spec = _validate(values)
    was_enabled = schedule.enabled
    for key, value in changed.items():
        setattr(schedule, key, value)
    now = timezone.now()
    resumed = changed.get("enabled") is True and not was_enabled  # like schedule_resume: from now
    if (
        any(k in changed for k in RULE_FIELDS)
        or resumed
        or (changed.get("enabled") and schedule.next_run_at is None)
    ):
        schedule.next_run_at = _first_fire(schedule, spec, now)
    schedule.full_clean(exclude=["owner", "tree"])
    schedule.save(update_fields=[*changed, "next_run_at", "updated_at"])
    return schedule


def schedule_pause(*, schedule: Schedule) -> Schedule:
    return schedule_update(schedule=schedule, enabled=False)


@transaction.atomic
def schedule_resume(*, schedule: Schedule) -> Schedule:
    """Resume from now: times that passed while paused are not fired."""
    schedule = Schedule.objects.select_for_update().select_related("tree").get(id=schedule.id)
    _check_tree(schedule.tree)
    schedule.enabled = True
    schedule.next_run_at = _first_fire(schedule, spec_of(schedule), timezone.now())
    schedule.save(update_fields=["enabled", "next_run_at", "updated_at"])
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule and its fire history (a running fire's run is left to finish)."""
    Schedule.objects.filter(id=schedule.id).delete()


def upcoming(schedule: Schedule, count: int = 5, *, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``count`` fire times of a schedule, from its ``next_run_at`` on."""
    if schedule.next_run_at is None:
        return []
    first = schedule.next_run_at
    spec = spec_of(schedule)
    rest = rules.upcoming(
        spec,
        max(first, after or first),
        count - 1,
        anchor=first,
        start_at=schedule.start_at,
        end_at=schedule.end_at,
    )
    times = [first, *rest][:count]
    if schedule.max_runs is not None:
        times = times[: max(0, schedule.max_runs - schedule.run_count)]
    return times


def preview(
    *,
    kind: str,
    expression,
    timezone_name: str = "UTC",
    count: int = 5,
    start_at: dt.datetime | None = None,
    end_at: dt.datetime | None = None,
) -> dict:
    """The sentence and the next ``count`` times of a rule that is not saved (the UI's preview)."""
    spec = rules.check(kind, expression, timezone_name or "UTC")
    now = timezone.now()
    anchor = start_at or now
    times = rules.upcoming(spec, now, count, anchor=anchor, start_at=start_at, end_at=end_at)
    return {"description": rules.describe(spec), "next": times}


# --- the scheduler tick -------------------------------------------------------------------------


def _worker() -> str:
    from tasks_app.worker.loop import worker_id

    return worker_id()


def _settle_open_fires(tree: Tree, events: EventBuffer, now: dt.datetime) -> None:
    """Record the outcome of the tree's running fire once its run ended (the tree row is locked)."""
    _settle_open_fires_many([tree], events, now)


def _settle_open_fires_many(trees: list[Tree], events: EventBuffer, now: dt.datetime) -> None:
    """``_settle_open_fires`` for many locked trees: one query finds their running fires."""
    idle = {tree.id: tree for tree in trees if tree.status != Status.IN_PROGRESS.value}
    if not idle:
        return
    for fire in ScheduleFire.objects.filter(tree_id__in=list(idle), status=FireStatus.RUNNING.value):
        tree = idle[fire.tree_id]
        # the tree's status is this run's outcome unless someone ran the tree again in between
        # (then the outcome shown is the later run's; the run-history Run row will make it exact)
        status = tree.status if tree.status in FireStatus.values else FireStatus.COMPLETED.value
        same_run = fire.run_number == tree.run_count
        finished = (tree.finished_at if same_run else None) or now
        ScheduleFire.objects.filter(id=fire.id, status=FireStatus.RUNNING.value).update(
            status=status,
            finished_at=finished,
            reason=""
            if same_run
            else f"the tree was run again (run {tree.run_count}) before this run was recorded",
        )
        events.add(
            tree.id,
            "schedule.run_finished",
            schedule_id=str(fire.schedule_id),
            fire_id=fire.id,
            status=status,
            run=fire.run_number,
        )


def _start_run(schedule: Schedule, tree: Tree, fire: ScheduleFire, now: dt.datetime) -> None:
    """Re-run the (locked, idle) tree in place for ``fire``."""
    events = EventBuffer(source=SOURCE)
    events.add(
        tree.id,
        "schedule.fired",
        schedule_id=str(schedule.id),
        fire_id=fire.id,
        scheduled_for=fire.scheduled_for.isoformat(),
        run=tree.run_count + 1,
    )
    events.flush()
    # a fresh run in place (finished tasks back to pending, attempts kept), as the schedule's
    # owner: a grant revoked since (an executor, a shared resource) stops the fire
    tree = control.tree_execute(
        tree=tree, actor=schedule.owner, source=SOURCE, trigger="schedule", fresh=True
    )
    fire.status, fire.run_number, fire.started_at = FireStatus.RUNNING.value, tree.run_count, timezone.now()
    fire.save(update_fields=["status", "run_number", "started_at"])


def _dispatch_fire(schedule: Schedule, fire: ScheduleFire, now: dt.datetime, *, last: bool) -> bool:
    """Start, queue or skip ``fire`` by the overlap policy. Returns whether it counts as a run."""
    tree = Tree.objects.select_for_update().get(id=schedule.tree_id)
    events = EventBuffer(source=SOURCE)
    _settle_open_fires(tree, events, now)
    if len(events):
        events.flush()
    if tree.archived:
        return _end_fire(fire, FireStatus.ERROR, MSG_ARCHIVED.format(name=tree.name))
    busy = tree.status == Status.IN_PROGRESS.value
    if schedule.overlap == Overlap.QUEUE:
        waiting = ScheduleFire.objects.filter(tree_id=tree.id, status=FireStatus.QUEUED.value).exclude(
            id=fire.id
        )
        if busy or waiting.exists():
            return _end_fire(fire, FireStatus.QUEUED, "waiting for the current run to end", counts=True)
    elif busy and (schedule.overlap == Overlap.SKIP or not last):
        return _end_fire(
            fire,
            FireStatus.SKIPPED,
            "the tree was still running"
            if schedule.overlap == Overlap.SKIP
            else "superseded by a later fire",
        )
    elif busy:  # overlap = cancel: end the current run, then start this one
        control.tree_cancel(
            tree=tree,
            source=SOURCE,
            reason=f"cancelled by a schedule fire (overlap=cancel, schedule {schedule.id})",
        )
        tree.refresh_from_db()
        events = EventBuffer(source=SOURCE)
        _settle_open_fires(tree, events, now)
        if len(events):
            events.flush()
    try:
        with transaction.atomic():
            _start_run(schedule, tree, fire, now)
    except OrchestratorError as exc:
        return _end_fire(fire, FireStatus.ERROR, str(exc)[:300])
    return True


def _end_fire(fire: ScheduleFire, status: FireStatus, reason: str, *, counts: bool = False) -> bool:
    fire.status, fire.reason = status.value, reason
    if status != FireStatus.QUEUED:
        fire.finished_at = timezone.now()
    fire.save(update_fields=["status", "reason", "finished_at"])
    return counts


def _fire_schedule(schedule: Schedule, now: dt.datetime, worker: str) -> int:
    """Record and dispatch the due fires of one locked schedule; advance it. Returns fires started."""
    plan = _plan(schedule, now)
    counted = 0
    for index, when in enumerate(plan.fire):
        fire = ScheduleFire.objects.create(
            schedule=schedule,
            tree_id=schedule.tree_id,
            scheduled_for=when,
            status=FireStatus.QUEUED.value,
            missed=plan.missed if index == 0 else 0,
            fired_at=timezone.now(),
            worker=worker,
        )
        if pause := conf.get("ARBOR_TEST_FIRE_PAUSE"):
            time.sleep(pause)  # fault tests kill the process here
        counted += _dispatch_fire(schedule, fire, now, last=index == len(plan.fire) - 1)
    schedule.run_count += counted
    schedule.last_run_at = now
    schedule.next_run_at = plan.next_run_at
    if schedule.max_runs is not None and schedule.run_count >= schedule.max_runs:
        schedule.next_run_at = None
    schedule.save(update_fields=["run_count", "last_run_at", "next_run_at", "updated_at"])
    return len(plan.fire)


def _due(now: dt.datetime, limit: int, failed: set) -> list[Schedule]:
    qs = (
        Schedule.objects.filter(enabled=True, next_run_at__lte=now)
        .exclude(id__in=failed)
        .select_related("owner")
        .order_by("next_run_at")
    )
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return list(qs[:limit])


def fire_due(now: dt.datetime | None = None, *, limit: int | None = None, batch: int = 250) -> int:
    """Fire every due schedule, at most ``limit`` (``ARBOR_SCHEDULE_BATCH``) in this call, in
    transactions of ``batch`` schedules claimed with ``FOR UPDATE SKIP LOCKED`` (so several
    processes share a burst). Each claimed batch is fired with bulk statements
    (:func:`_fire_batch`). Returns how many fires were recorded."""
    limit = limit or settings.ARBOR_SCHEDULE_BATCH
    worker = _worker()
    done = claimed = 0
    failed: set = set()
    while claimed < limit:
        now_tick = now or timezone.now()
        with transaction.atomic():
            rows = _due(now_tick, min(batch, limit - claimed), failed)
            if not rows:
                break
            claimed += len(rows)
            done += _fire_batch(rows, now_tick, worker, failed)
    return done


def _fire_batch(rows: list[Schedule], now: dt.datetime, worker: str, failed: set) -> int:
    """Fire the locked ``rows``: the common case (one due time, a tree no other schedule of the
    batch fires) in bulk, the rest (catch-up of several due times, a second schedule of the same
    tree) one by one by the same rules. A batch that fails as a whole (the unique backstop,
    an unexpected error) is rolled back and fired one by one."""
    bulk: list = []
    single: list = []
    trees_seen: set = set()
    for schedule in rows:
        plan = _plan(schedule, now)
        if len(plan.fire) == 1 and schedule.tree_id not in trees_seen:
            trees_seen.add(schedule.tree_id)
            bulk.append((schedule, plan))
        else:
            single.append(schedule)
    done = 0
    if bulk:
        try:
            with transaction.atomic():
                done += _fire_bulk(bulk, now, worker)
        except Exception:
            logger.warning(
                "schedules: a batch of %d fires failed; firing one by one", len(bulk), exc_info=True
            )
            single = [schedule for schedule, _ in bulk] + single
    for schedule in single:
        fired = _fire_one(schedule, now, worker)
        if fired is None:
            failed.add(schedule.id)
        done += fired or 0
    return done


def _plan(schedule: Schedule, now: dt.datetime) -> rules.DuePlan:
    spec = spec_of(schedule)
    remaining = None if schedule.max_runs is None else max(0, schedule.max_runs - schedule.run_count)
    assert schedule.next_run_at is not None  # only due schedules are planned
    return rules.plan_due(
        spec,
        schedule.next_run_at,
        now,
        catch_up=schedule.catch_up,
        max_catch_up=settings.ARBOR_SCHEDULE_MAX_CATCH_UP,
        remaining_runs=remaining,
        anchor=schedule.next_run_at,
        end_at=schedule.end_at,
    )


def _fire_bulk(items: list, now: dt.datetime, worker: str) -> int:
    """One due time per schedule, one schedule per tree: record every fire in one insert, decide
    each by the overlap policy (as ``_dispatch_fire``), start the runs with one
    ``control.trees_execute`` (the batch form of ``tree_execute``), record the outcomes and
    advance the schedules in bulk."""
    fired_at = timezone.now()
    fires = ScheduleFire.objects.bulk_create(
        [
            ScheduleFire(
                schedule=schedule,
                tree_id=schedule.tree_id,
                scheduled_for=plan.fire[0],
                status=FireStatus.QUEUED.value,
                missed=plan.missed,
                fired_at=fired_at,
                worker=worker,
            )
            for schedule, plan in items
        ]
    )
    if getattr(settings, "ARBOR_TEST_FIRE_PAUSE", 0):
        time.sleep(settings.ARBOR_TEST_FIRE_PAUSE)  # fault tests kill the process here
    tree_ids = sorted({schedule.tree_id for schedule, _ in items}, key=str)
    trees = {t.id: t for t in Tree.objects.select_for_update().filter(id__in=tree_ids).order_by("id")}
    events = EventBuffer(source=SOURCE)
    _settle_open_fires_many(list(trees.values()), events, now)
    decided = timezone.now()
    waiting = set(
        ScheduleFire.objects.filter(tree_id__in=tree_ids, status=FireStatus.QUEUED.value)
        .exclude(id__in=[f.id for f in fires])
        .values_list("tree_id", flat=True)
    )
    counted: dict = {}
    to_start: list = []
    for (schedule, _), fire in zip(items, fires, strict=True):
        tree = trees.get(schedule.tree_id)
        counted[schedule.id] = False
        if tree is None or tree.archived:
            name = tree.name if tree is not None else schedule.tree_id
            _set_end(fire, FireStatus.ERROR, MSG_ARCHIVED.format(name=name), at=decided)
            continue
        busy = tree.status == Status.IN_PROGRESS.value
        if schedule.overlap == Overlap.QUEUE:
            if busy or tree.id in waiting:
                _set_end(fire, FireStatus.QUEUED, "waiting for the current run to end")
                counted[schedule.id] = True
                continue
        elif busy and schedule.overlap == Overlap.SKIP:
            _set_end(fire, FireStatus.SKIPPED, "the tree was still running", at=decided)
            continue
        elif busy:  # overlap = cancel: end the current run, then start this one
            control.tree_cancel(
                tree=tree,
                source=SOURCE,
                reason=f"cancelled by a schedule fire (overlap=cancel, schedule {schedule.id})",
            )
            tree.refresh_from_db()
            _settle_open_fires_many([tree], events, now)
        to_start.append((schedule, fire, tree))
    owners: dict = {}  # one user object per owner: its permission cache serves all its fires
    for schedule, fire, tree in to_start:
        owners.setdefault(schedule.owner_id, schedule.owner)
        events.add(
            tree.id,
            "schedule.fired",
            schedule_id=str(schedule.id),
            fire_id=fire.id,
            scheduled_for=fire.scheduled_for.isoformat(),
            run=tree.run_count + 1,
        )
    if len(events):
        events.flush(locked=True)
    if to_start:
        # a fresh run in place (finished tasks back to pending, attempts kept), as each
        # schedule's owner: a grant revoked since (an executor, a shared resource) stops the fire
        results = control.trees_execute(
            [
                control.RunRequest(tree=tree, actor=owners[schedule.owner_id])
                for schedule, _, tree in to_start
            ],
            source=SOURCE,
            trigger="schedule",
            fresh=True,
        )
        started_at = timezone.now()
        for schedule, fire, tree in to_start:
            result = results[tree.id]
            if isinstance(result, Exception):
                if isinstance(result, PermissionDenied):
                    grants.record_denied(result, actor=schedule.owner, source=SOURCE)
                _set_end(fire, FireStatus.ERROR, str(result)[:300], at=started_at)
                continue
            fire.status, fire.run_number, fire.started_at = (
                FireStatus.RUNNING.value,
                result.run_count,
                started_at,
            )
            counted[schedule.id] = True
    _save_fires(fires)
    groups: dict = defaultdict(list)  # one update per (counted, next_run_at): few in a burst
    for schedule, plan in items:
        add = int(counted[schedule.id])
        nxt = plan.next_run_at
        if schedule.max_runs is not None and schedule.run_count + add >= schedule.max_runs:
            nxt = None
        groups[(add, nxt)].append(schedule.id)
    updated_at = timezone.now()
    for (add, nxt), ids in groups.items():
        Schedule.objects.filter(id__in=ids).update(
            run_count=F("run_count") + add, last_run_at=now, next_run_at=nxt, updated_at=updated_at
        )
    return len(items)


def _save_fires(fires: list[ScheduleFire]) -> None:
    """Write the batch's fire outcomes in a few statements: the started ones together (their run
    number is their tree's run count, just incremented), the others grouped by outcome."""
    running = [f.id for f in fires if f.status == FireStatus.RUNNING.value]
    if running:
        ScheduleFire.objects.filter(id__in=running).update(
            status=FireStatus.RUNNING.value,
            started_at=next(f.started_at for f in fires if f.status == FireStatus.RUNNING.value),
            run_number=Subquery(Tree.objects.filter(id=OuterRef("tree_id")).values("run_count")[:1]),
        )
    ended: dict = defaultdict(list)
    for fire in fires:
        if fire.status != FireStatus.RUNNING.value:
            ended[(fire.status, fire.reason, fire.finished_at)].append(fire.id)
    for (status, reason, finished_at), ids in ended.items():
        if status == FireStatus.QUEUED.value and not reason:
            continue  # as inserted
        ScheduleFire.objects.filter(id__in=ids).update(status=status, reason=reason, finished_at=finished_at)


def _set_end(fire: ScheduleFire, status: FireStatus, reason: str, *, at: dt.datetime | None = None) -> None:
    """``_end_fire`` without the write (``_save_fires`` writes the batch's fires together)."""
    fire.status, fire.reason = status.value, reason
    if status != FireStatus.QUEUED:
        fire.finished_at = at or timezone.now()


def _fire_one(schedule: Schedule, now: dt.datetime, worker: str) -> int | None:
    try:
        with transaction.atomic():
            return _fire_schedule(schedule, now, worker)
    except IntegrityError:
        # the unique (schedule, scheduled_for) backstop: another process recorded this due time
        logger.warning(
            "schedule %s: fire at %s already recorded; advancing", schedule.id, schedule.next_run_at
        )
        _advance_past_recorded(schedule, now)
        return 0
    except Exception:
        logger.exception("schedule %s: fire failed; it is retried at the next tick", schedule.id)
        return None


def _advance_past_recorded(schedule: Schedule, now: dt.datetime) -> None:
    spec = spec_of(schedule)
    assert schedule.next_run_at is not None  # only due schedules are advanced
    nxt = rules.next_after(spec, max(now, schedule.next_run_at), anchor=schedule.next_run_at)
    if nxt is not None and schedule.end_at is not None and nxt > schedule.end_at:
        nxt = None
    Schedule.objects.filter(id=schedule.id, next_run_at=schedule.next_run_at).update(next_run_at=nxt)


def _work_waiting(now: dt.datetime) -> bool:
    """Whether a schedule may be due or a fire may wait to be settled: the conditions of
    :func:`_due` and :func:`settle_fires` (a superset: a fire whose tree is gone counts), in one
    hand-written ``SELECT EXISTS (…) OR EXISTS (…)`` — compiling the ORM's form cost more CPU
    than running it, twice a second."""
    q = connection.ops.quote_name
    fire, tree = ScheduleFire._meta.db_table, Tree._meta.db_table
    open_marks = ", ".join(["%s"] * len(FIRE_OPEN))
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {q(Schedule._meta.db_table)} WHERE {q('enabled')} "
        f"AND {q('next_run_at')} <= %s) OR EXISTS (SELECT 1 FROM {q(fire)} f LEFT JOIN {q(tree)} t "
        f"ON t.{q('id')} = f.{q('tree_id')} WHERE f.{q('status')} IN ({open_marks}) "
        f"AND (t.{q('status')} IS NULL OR t.{q('status')} <> %s))"
    )
    params = [connection.ops.adapt_datetimefield_value(now), *FIRE_OPEN, Status.IN_PROGRESS.value]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return bool(cur.fetchone()[0])


def _unsettled():
    # both kinds of open fire wait for their tree to stop running: skip those trees cheaply
    return ScheduleFire.objects.filter(status__in=FIRE_OPEN).exclude(tree__status=Status.IN_PROGRESS.value)


def settle_fires(now: dt.datetime | None = None, *, limit: int = 200) -> int:
    """Record outcomes of fires whose run ended and start queued fires whose tree is idle."""
    now = now or timezone.now()
    open_trees = list(_unsettled().values_list("tree_id", flat=True).distinct()[:limit])
    moved = 0
    for tree_id in open_trees:
        try:
            moved += _settle_tree(tree_id, now)
        except Exception:
            logger.exception("tree %s: could not settle schedule fires", tree_id)
    return moved


@transaction.atomic
def _settle_tree(tree_id, now: dt.datetime) -> int:
    qs = Tree.objects.filter(id=tree_id)
    if connection.vendor == "postgresql":
        qs = qs.select_for_update(skip_locked=True)
    tree = qs.first()
    if tree is None or tree.status == Status.IN_PROGRESS.value:
        return 0
    events = EventBuffer(source=SOURCE)
    _settle_open_fires(tree, events, now)
    if len(events):
        events.flush()
    fire = (
        ScheduleFire.objects.filter(tree_id=tree_id, status=FireStatus.QUEUED.value)
        .select_related("schedule")
        .order_by("scheduled_for", "id")
        .first()
    )
    if fire is None:
        return 1
    try:
        with transaction.atomic():
            _start_run(fire.schedule, tree, fire, now)
    except OrchestratorError as exc:
        _end_fire(fire, FireStatus.ERROR, str(exc)[:300])
    return 1


def scheduler_tick(now: dt.datetime | None = None) -> int:
    """One bounded scheduler step (arbor_worker calls it every ``ARBOR_SCHEDULER_INTERVAL``).

    An idle tick is one statement: :func:`_work_waiting` (most ticks find nothing to do; the
    claim's transaction and the settling query cost four statements, docs/performance.md
    "Scale")."""
    if not _work_waiting(now or timezone.now()):
        return 0
    fired = fire_due(now)  # first: a burst of due fires is the latency-sensitive part
    settle_fires(now)
    return fired
