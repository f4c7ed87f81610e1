"""All read queries, scoped to their owner, and the one translation of ORM rows into the engine's
:class:`~tasks_app.engine.snapshot.Graph`."""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict

from django.db import connection
from django.db.models import BigIntegerField, Count, Func, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from tasks_app.engine.snapshot import Dep, Graph, Node
from tasks_app.engine.states import Status
from tasks_app.exceptions import NotFound, PermissionDenied
from tasks_app.models import (
    Attempt,
    Delivery,
    Dependency,
    Event,
    NotificationRule,
    Run,
    Schedule,
    ScheduleFire,
    Task,
    Tree,
    Trigger,
)
from tasks_app.models.task import TaskStatus

ACTIONS = ("view", "change", "delete")
MSG_NEEDS_PERMISSION = (
    "you may not {action} {what} '{id}' of another user: it needs the permission {permission}"
)


def model_permission(model, action: str) -> str:
    """``tasks_app.view_tree``, ``tasks_app.change_task``, ..."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def sees_all(user, model, action: str = "view") -> bool:
    """Whether ``user`` may ``action`` every owner's rows of ``model`` (not only their own).

    As the admin does: superusers may; staff need the model permission (view: ``view_*`` or
    ``change_*``); everybody else never. Groups' permissions count (Django's ``has_perm``)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    if not getattr(user, "is_staff", False):
        return False
    if action == "view" and user.has_perm(model_permission(model, "change")):
        return True
    return bool(user.has_perm(model_permission(model, action)))


def _scoped(model, user, action: str) -> QuerySet:
    qs = model.objects.all()
    return qs if sees_all(user, model, action) else qs.filter(owner=user)


def parse_uuid(value, *, what: str = "task") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound(f"{what} '{value}' not found") from None


def tree_queryset(user, action: str = "view") -> QuerySet[Tree]:
    """The trees ``user`` may ``action``: their own, and for staff with the model permission
    (:func:`sees_all`) everybody's. The one place that scopes rows to users."""
    return _scoped(Tree, user, action)


def task_queryset(user, action: str = "view") -> QuerySet[Task]:
    return _scoped(Task, user, action)


def task_list_total(user) -> int | None:
    """How many tasks ``user`` sees in the unfiltered task list, without counting task rows: the
    sum of the visible trees' ``task_count`` (one row per tree instead of one per task; at 1,000,000
    tasks an exact ``COUNT(*)`` of 670,000 rows takes 130-220 ms, docs/performance.md "Scale").

    Exact because every task belongs to a tree of the same owner and ``Tree.task_count`` is the
    number of its tasks: the only writers of task rows keep it (``trees.tree_create``,
    ``editing.tree_edit``, ``tasks.task_delete``; deleting a tree or a user takes its tasks along).
    None when the two scopes differ (staff who may see every task but not every tree, or the
    reverse): the caller counts the rows then."""
    if sees_all(user, Task) != sees_all(user, Tree):
        return None
    return tree_queryset(user).aggregate(n=Sum("task_count"))["n"] or 0


# above this share of the task table (the planner's statistics), a status is counted as the total
# minus the tasks of every other status: fewer rows to count (docs/performance.md "Scale")
MAJORITY_SHARE = 0.5


def status_share(status: str) -> float:
    """The share of all tasks whose status is ``status`` by the database's statistics (what the
    planner estimates from; PostgreSQL's ``pg_stats``, refreshed by autovacuum's ANALYZE): chooses
    how to count, never what the count is. 0.0 when there are none (SQLite, a table never analysed)."""
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text::text[], most_common_freqs FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = %s AND attname = 'status'",
            [Task._meta.db_table],
        )
        row = cursor.fetchone()
    if not row or not row[0]:
        return 0.0
    return dict(zip(row[0], row[1], strict=False)).get(status, 0.0)


def task_status_total(user, status: str) -> int | None:
    """How many tasks of ``status`` ``user`` sees (the task list filtered by ``status`` alone),
    exact, without counting them when they are most of the tasks: :func:`task_list_total`'s sum of
    the trees' ``task_count`` minus the tasks of every other status, in one statement (one
    snapshot). At 1,000,000 tasks ``?status=completed`` matches 620,000 of the reader's 667,000: an
    index-only count of the 45,000 others takes 7 ms, of the 620,000 140 ms.

    None (the caller counts the rows) when the status is a minority by :func:`status_share`, or
    when the task and tree scopes differ (as for :func:`task_list_total`)."""
    if sees_all(user, Task) != sees_all(user, Tree) or status_share(status) <= MAJORITY_SHARE:
        return None
    return status_total_by_complement(user, status)


def status_total_by_complement(user, status: str) -> int:
    """The sum of ``user``'s trees' ``task_count`` minus the count of their tasks of any status but
    ``status`` (``IN`` the others: a range of the owner-and-status index per status), one query."""
    # every other value the ``task_status_valid`` check constraint allows
    others = [value for value in TaskStatus.values if value != status]
    # COUNT as a plain function, not an aggregate: no GROUP BY, whatever the scope's owners
    n_others = (
        task_queryset(user)
        .filter(status__in=others)
        .order_by()
        .annotate(n=Func("pk", function="COUNT", output_field=BigIntegerField()))
        .values("n")
    )
    total = tree_queryset(user).aggregate(
        n=Coalesce(Sum("task_count"), 0) - Subquery(n_others, output_field=BigIntegerField())
    )
    return int(total["n"])


def check_access(user, row, action: str = "view", *, request=None, source: str = "") -> None:
    """``row`` (a Tree or Task) is visible to ``user``; refuse ``action`` on another user's row
    without the model permission (PermissionDenied naming it, audited), and, given the
    ``request``, audit a staff user's detail read or change of such a row (once per request)."""
    model = type(row)
    if row.owner_id == getattr(user, "pk", None):
        return
    # only staff (or superusers) with a view permission get here: others never see the row
    from tasks_app.services import audit  # lazily: services import selectors

    target = f"{model._meta.model_name}:{row.pk}"
    if action != "view" and not sees_all(user, model, action):
        permission = model_permission(model, action)
        exc = PermissionDenied(
            MSG_NEEDS_PERMISSION.format(
                action=action, what=model._meta.model_name, id=row.pk, permission=permission
            ),
            details={"permission": permission, "target": target},
        )
        audit.record(
            audit.AuditKind.PERMISSION_DENIED,
            actor=user,
            request=request,
            source=source,
            target=target,
            permission=permission,
            action=action,
        )
        raise exc
    if request is None:  # internal reads (the interfaces pass their request or Channels scope)
        return
    if isinstance(request, dict):  # a Channels scope: once per connection and row
        seen = request.setdefault("arbor_staff_access", set())
        if target in seen:
            return
        seen.add(target)
    elif getattr(request, "_arbor_staff_access", False):  # once per request
        return
    else:
        request._arbor_staff_access = True
    audit.record(
        audit.AuditKind.STAFF_ACCESS,
        actor=user,
        request=request,
        source=source,
        target=target,
        action=action,
        owner=row.owner_id,
    )


def tree_get(user, tree_id, action: str = "view", *, request=None, source: str = "") -> Tree:
    """A foreign id answers exactly like a missing one; a tree the user may see but not
    ``action`` raises PermissionDenied (audited). Given the ``request`` (or a Channels scope),
    a staff user's detail read or change of another user's tree is audited (once per request)."""
    try:
        tree = tree_queryset(user).get(id=parse_uuid(tree_id, what="tree"))
    except Tree.DoesNotExist:
        raise NotFound(f"tree '{tree_id}' not found") from None
    check_access(user, tree, action, request=request, source=source)
    return tree


def task_get(user, task_id, action: str = "view", *, request=None, source: str = "") -> Task:
    """A task by its id, or by the client id (``ref``) its owner gave at creation: the caller's
    own task with that ref, the newest if several trees reused it (docs/apflow.md)."""
    task = None
    try:
        uid = parse_uuid(task_id)
    except NotFound:
        uid = None
    if uid is not None:
        task = task_queryset(user).select_related("tree").filter(id=uid).first()
    if task is None:
        task = task_by_ref(user, task_id)
    if task is None:
        raise NotFound(f"task '{task_id}' not found")
    check_access(user, task, action, request=request, source=source)
    return task


def task_by_ref(user, ref) -> Task | None:
    """The caller's newest task whose client id is ``ref`` (index ``task_owner_ref``)."""
    if not isinstance(ref, str | int) or isinstance(ref, bool) or not getattr(user, "pk", None):
        return None
    ref = str(ref)
    if not ref or len(ref) > 255:
        return None
    return (
        Task.objects.select_related("tree")
        .filter(owner_id=user.pk, ref=ref)
        .order_by("-created_at", "-position")
        .first()
    )


def tree_tasks(tree_id) -> list[Task]:
    return list(Task.objects.filter(tree_id=tree_id).order_by("position"))


def tree_dependencies(tree_id) -> dict:
    """{downstream_id: [(upstream_id, required), ...]} in list order."""
    deps: dict = defaultdict(list)
    rows = Dependency.objects.filter(tree_id=tree_id).order_by("downstream_id", "position")
    for down, up, required in rows.values_list("downstream_id", "upstream_id", "required"):
        deps[down].append((up, required))
    return deps


def node_from_task(task: Task, deps=()) -> Node:
    return Node(
        id=str(task.id),
        name=task.name,
        status=Status(task.status),
        priority=task.priority,
        deps=tuple(Dep(str(up), req) for up, req in deps),
        parent=str(task.parent_id) if task.parent_id else None,
        created=task.position,
        ready_at=task.ready_at.timestamp() if task.ready_at else None,
        result=task.result,
        executor=task.executor,
        error_type=task.error_type,
        in_scope=task.scheduled,
    )


def graph_snapshot(tree_id, tasks: list[Task] | None = None) -> Graph:
    """The whole tree as an engine Graph (the only ORM -> engine translation)."""
    tasks = tasks if tasks is not None else tree_tasks(tree_id)
    deps = tree_dependencies(tree_id)
    return Graph(node_from_task(t, deps.get(t.id, ())) for t in tasks)


def status_graph(tree_id) -> Graph:
    """The whole tree as an engine Graph without task results, inputs or attempts — what the
    tree's status needs (a 2,000-task tree ending: 2 light reads instead of 2,000 model rows)."""
    deps = tree_dependencies(tree_id)
    rows = Task.objects.filter(tree_id=tree_id).order_by("position").values_list(*PARTIAL_NODE_FIELDS)
    return Graph(
        node_from_row(row, [Dep(str(up), required) for up, required in deps.get(row[0], ())]) for row in rows
    )


def graph_snapshots(tree_ids) -> dict:
    """``{tree_id: Graph}`` of many trees in two queries (the batch form of ``graph_snapshot``)."""
    ids = list(tree_ids)
    tasks: dict = defaultdict(list)
    deps: dict = defaultdict(list)
    if ids:
        for task in Task.objects.filter(tree_id__in=ids).order_by("position"):
            tasks[task.tree_id].append(task)
        rows = Dependency.objects.filter(tree_id__in=ids).order_by("downstream_id", "position")
        for down, up, required in rows.values_list("downstream_id", "upstream_id", "required"):
            deps[down].append((up, required))
    return {
        tree_id: Graph(node_from_task(t, deps.get(t.id, ())) for t in tasks.get(tree_id, ()))
        for tree_id in ids
    }


def partial_graph(task_ids) -> Graph:
    """The given tasks plus their direct upstream dependencies: enough for readiness and fallout
    decisions about those tasks, without loading the whole tree."""
    task_ids = list(task_ids)
    if not task_ids:
        return Graph([])
    edges = list(
        Dependency.objects.filter(downstream_id__in=task_ids)
        .order_by("downstream_id", "position")
        .values_list("downstream_id", "upstream_id", "required")
    )
    deps: dict = defaultdict(list)
    upstream_ids = set()
    for down, up, required in edges:
        deps[down].append((up, required))
        upstream_ids.add(up)
    ids = set(task_ids) | upstream_ids
    tasks = Task.objects.filter(id__in=ids).only(
        "id",
        "name",
        "status",
        "priority",
        "parent_id",
        "position",
        "ready_at",
        "executor",
        "error_type",
        "scheduled",
        "tree_id",
    )
    nodes = []
    for t in tasks:
        t.result = None  # not loaded: readiness never needs results
        nodes.append(node_from_task(t, deps.get(t.id, ()) if t.id in set(task_ids) else ()))
    return Graph(nodes)


PARTIAL_NODE_FIELDS = (
    "id",
    "tree_id",
    "name",
    "status",
    "priority",
    "parent_id",
    "position",
    "ready_at",
    "executor",
    "error_type",
    "scheduled",
)


def node_from_row(row, deps) -> Node:
    """A task row of ``PARTIAL_NODE_FIELDS`` (and its ``Dep``s) as the engine sees it."""
    tid, _tree, name, status, priority, parent, position, ready_at, executor, error_type, scheduled = row
    return Node(
        id=str(tid),
        name=name,
        status=Status(status),
        priority=priority,
        deps=tuple(deps),
        parent=str(parent) if parent else None,
        created=position,
        ready_at=ready_at.timestamp() if ready_at else None,
        executor=executor,
        error_type=error_type,
        in_scope=scheduled,
    )


EDGE_FIELDS = (
    "downstream_id",
    "upstream_id",
    "required",
    "upstream__name",
    "upstream__status",
    "upstream__priority",
    "upstream__position",
    "upstream__error_type",
    "upstream__scheduled",
)


def edges_into(downstream):
    """The dependency edges of ``downstream`` (ids, or a subquery of ids) with each upstream
    task's status: the rows :func:`partial_graph_from_rows` takes as ``edges``."""
    return (
        Dependency.objects.filter(downstream_id__in=downstream)
        .order_by("downstream_id", "position")
        .values_list(*EDGE_FIELDS)
    )


def edges_into_dependents_of(upstream_ids):
    """The edges of every dependent of ``upstream_ids``: read in the same round trip as the
    dependents themselves, before their ids are known (a superset of the edges needed)."""
    return edges_into(Dependency.objects.filter(upstream_id__in=upstream_ids).values("downstream_id"))


def partial_graph_from_rows(rows, edges=None) -> Graph:
    """Like :func:`partial_graph`, for task rows already read (``PARTIAL_NODE_FIELDS`` order) and
    their dependency edges (``EDGE_FIELDS`` order; edges of other tasks are ignored) — read here,
    in one more query, when not given."""
    ids = [row[0] for row in rows]
    if edges is None:
        edges = edges_into(ids)
    else:
        wanted = set(ids)
        edges = [edge for edge in edges if edge[0] in wanted]
    deps: dict = defaultdict(list)
    upstream_nodes: dict = {}
    for down, up, required, name, status, priority, position, error_type, scheduled in edges:
        deps[down].append(Dep(str(up), required))
        upstream_nodes[up] = Node(
            id=str(up),
            name=name,
            status=Status(status),
            priority=priority,
            created=position,
            error_type=error_type,
            in_scope=scheduled,
        )
    nodes = {row[0]: node_from_row(row, deps.get(row[0], ())) for row in rows}
    for up, node in upstream_nodes.items():
        nodes.setdefault(up, node)
    return Graph(nodes.values())


def dependents_of(task_ids) -> list:
    return list(
        Dependency.objects.filter(upstream_id__in=list(task_ids))
        .values_list("downstream_id", flat=True)
        .distinct()
    )


def task_attempts(task: Task) -> QuerySet[Attempt]:
    return Attempt.objects.filter(task=task).select_related("run").order_by("number")


# --- events: the one wire form (websocket, SSE, REST event log) -----------------------------------

EVENT_WIRE_FIELDS = (
    "id",
    "tree_id",
    "seq",
    "kind",
    "task_id",
    "data",
    "actor__username",
    "source",
    "created_at",
)


def event_wire(row: dict) -> dict:
    """One event row (``values(*EVENT_WIRE_FIELDS)``) as every client sees it, on the websocket,
    in the SSE stream and in ``GET .../events/``: the same keys and values everywhere, so a client
    can catch up over REST and continue on the socket without translating (docs/live.md)."""
    created = row["created_at"]
    return {
        "type": "event",
        "tree": str(row["tree_id"]),
        "seq": row["seq"],
        "kind": row["kind"],
        "task": str(row["task_id"]) if row["task_id"] else None,
        "data": row["data"],
        "actor": row["actor__username"],
        "source": row["source"],
        "at": created.isoformat() if created else None,
    }


def events_wire(rows: QuerySet[Event]) -> list[dict]:
    return [event_wire(r) for r in rows.values(*EVENT_WIRE_FIELDS)]


def tree_events(tree: Tree, *, after_seq: int = 0, limit: int = 1000) -> QuerySet[Event]:
    return Event.objects.filter(tree=tree, seq__gt=after_seq).order_by("seq")[:limit]


def task_events(task: Task, *, after_seq: int = 0, limit: int = 1000) -> QuerySet[Event]:
    return Event.objects.filter(tree_id=task.tree_id, task_id=task.id, seq__gt=after_seq).order_by("seq")[
        :limit
    ]


def tree_attempts(tree: Tree, *, run: int | None = None) -> QuerySet[Attempt]:
    """The tree's attempts in start order; ``run``: only those of run number ``run``."""
    qs = Attempt.objects.filter(tree=tree).select_related("run")
    if run is not None:
        qs = qs.filter(run__number=run)
    return qs.order_by("started_at", "number", "id")


def tree_runs(tree: Tree) -> QuerySet[Run]:
    """The tree's run records, newest first (``tree`` comes from ``tree_get``: owner-scoped)."""
    return Run.objects.filter(tree=tree).select_related("started_by", "target_task").order_by("-number")


def run_get(tree: Tree, number) -> Run:
    try:
        return tree_runs(tree).get(number=int(number))
    except (Run.DoesNotExist, TypeError, ValueError):
        raise NotFound(f"run {number} of tree '{tree.id}' not found") from None


def run_attempts(run: Run) -> QuerySet[Attempt]:
    return (
        Attempt.objects.filter(run=run).select_related("run", "task").order_by("started_at", "number", "id")
    )


def task_lineage(user, task: Task) -> dict:
    """``{"original": Task | None, "copies": [Task, ...]}``, both scoped to what ``user`` may see."""
    visible = task_queryset(user)
    original = visible.filter(id=task.original_task_id).first() if task.original_task_id else None
    copies = list(visible.filter(original_task_id=task.id).order_by("created_at", "id"))
    return {"original": original, "copies": copies}


def execution_stats(user, *, tree_id=None, slowest: int = 5) -> dict:
    """Counts by status, total and average execution time, slowest tasks (the TaskManager stats)."""
    tasks = task_queryset(user)
    if tree_id is not None:
        tasks = tasks.filter(tree_id=tree_id)
    counts = {s.value: 0 for s in Status}
    for row in tasks.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    finished = tasks.filter(started_at__isnull=False, completed_at__isnull=False)
    rows = list(finished.values("id", "name", "tree_id", "started_at", "completed_at", "status"))
    durations = [
        ((r["completed_at"] - r["started_at"]).total_seconds(), r)
        for r in rows
        if r["completed_at"] is not None and r["started_at"] is not None  # the filter above
    ]
    total = sum(d for d, _ in durations)
    durations.sort(key=lambda item: item[0], reverse=True)
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "finished": len(durations),
        "total_execution_seconds": round(total, 6),
        "average_execution_seconds": round(total / len(durations), 6) if durations else None,
        "slowest": [
            {
                "id": str(r["id"]),
                "name": r["name"],
                "tree": str(r["tree_id"]),
                "status": r["status"],
                "seconds": round(d, 6),
            }
            for d, r in durations[:slowest]
        ],
    }


THROUGHPUT_BUCKETS = {
    "minute": (TruncMinute, datetime.timedelta(minutes=1)),
    "hour": (TruncHour, datetime.timedelta(hours=1)),
    "day": (TruncDay, datetime.timedelta(days=1)),
}


def throughput(user, *, bucket: str = "minute", count: int = 60, tree_id=None, now=None) -> dict:
    """Completed tasks per bucket over the last ``count`` buckets: one GROUP BY on ``completed_at``.

    Every completion is counted (no sampling); empty buckets are filled with 0. ``series`` is in
    time order, each point ``{"t": bucket start (ISO 8601, UTC), "count": n}``.
    """
    trunc, step = THROUGHPUT_BUCKETS[bucket]
    now = now or timezone.now()
    end = trunc_datetime(now, bucket) + step
    start = end - step * count
    tasks = task_queryset(user).filter(status=Status.COMPLETED, completed_at__gte=start, completed_at__lt=end)
    if tree_id is not None:
        tasks = tasks.filter(tree_id=tree_id)
    rows = tasks.annotate(b=trunc("completed_at")).values("b").annotate(n=Count("id")).order_by()
    by_bucket = {trunc_datetime(r["b"], bucket): r["n"] for r in rows}
    series = []
    for i in range(count):
        t = start + step * i
        series.append({"t": t.isoformat().replace("+00:00", "Z"), "count": by_bucket.get(t, 0)})
    return {
        "bucket": bucket,
        "start": series[0]["t"] if series else None,
        "total": sum(by_bucket.values()),
        "series": series,
    }


def trunc_datetime(value: datetime.datetime, bucket: str) -> datetime.datetime:
    """``value`` (aware) truncated to the start of its bucket, in UTC."""
    value = value.astimezone(datetime.UTC).replace(second=0, microsecond=0)
    if bucket in ("hour", "day"):
        value = value.replace(minute=0)
    if bucket == "day":
        value = value.replace(hour=0)
    return value


def attempt_stats(user, *, tree_id=None) -> dict:
    attempts = Attempt.objects.all() if sees_all(user, Tree) else Attempt.objects.filter(tree__owner=user)
    if tree_id is not None:
        attempts = attempts.filter(tree_id=tree_id)
    by_outcome = dict(attempts.values_list("outcome").annotate(n=Count("id")))
    return {"by_outcome": by_outcome}


__all__ = [
    "attempt_stats",
    "check_access",
    "dependents_of",
    "execution_stats",
    "graph_snapshot",
    "model_permission",
    "node_from_task",
    "parse_uuid",
    "partial_graph",
    "sees_all",
    "task_attempts",
    "task_events",
    "task_lineage",
    "task_get",
    "task_list_total",
    "task_status_total",
    "task_queryset",
    "throughput",
    "tree_dependencies",
    "tree_attempts",
    "tree_events",
    "tree_get",
    "tree_queryset",
    "tree_tasks",
]


def schedule_queryset(user, action: str = "view") -> QuerySet[Schedule]:
    """The schedules ``user`` may ``action``: their own, and with the model permission everybody's."""
    return _scoped(Schedule, user, action).select_related("tree")


def schedule_get(user, schedule_id, action: str = "view", *, request=None, source: str = "") -> Schedule:
    """Like :func:`tree_get`: a foreign id is a missing one; ``action`` on another user's schedule
    needs the model permission (PermissionDenied, audited)."""
    try:
        schedule = schedule_queryset(user).get(id=parse_uuid(schedule_id, what="schedule"))
    except Schedule.DoesNotExist:
        raise NotFound(f"schedule '{schedule_id}' not found") from None
    check_access(user, schedule, action, request=request, source=source)
    return schedule


def schedule_fires(schedule: Schedule) -> QuerySet[ScheduleFire]:
    return ScheduleFire.objects.filter(schedule=schedule).order_by("-scheduled_for", "-id")


def last_fires(schedule_ids) -> dict:
    """The latest fire of each schedule, by schedule id (two queries, whatever the history)."""
    latest = (
        ScheduleFire.objects.filter(schedule=OuterRef("pk"))
        .order_by("-scheduled_for", "-id")
        .values("id")[:1]
    )
    ids = [
        i
        for i in Schedule.objects.filter(id__in=list(schedule_ids))
        .annotate(last=Subquery(latest))
        .values_list("last", flat=True)
        if i is not None
    ]
    return {fire.schedule_id: fire for fire in ScheduleFire.objects.filter(id__in=ids)}


def upcoming_fires(user, *, limit: int = 10) -> QuerySet[Schedule]:
    """Active schedules by next fire time (the dashboard's "upcoming")."""
    return (
        schedule_queryset(user)
        .filter(enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")[:limit]
    )


# --- triggers and notifications -----------------------------------------------------------------


def trigger_get(user, trigger_id, action: str = "view", *, request=None, source: str = "") -> Trigger:
    """A trigger of a tree ``user`` may see; checked like its tree (a foreign id is not found)."""
    try:
        trigger = Trigger.objects.select_related("tree").get(
            id=parse_uuid(trigger_id, what="trigger"), tree__in=tree_queryset(user)
        )
    except Trigger.DoesNotExist:
        raise NotFound(f"trigger '{trigger_id}' not found") from None
    check_access(user, trigger.tree, action, request=request, source=source)
    return trigger


def trigger_for_fire(trigger_id) -> Trigger | None:
    """The trigger an unauthenticated fire request names (it authenticates with its secret)."""
    try:
        return Trigger.objects.get(id=parse_uuid(trigger_id, what="trigger"))
    except (Trigger.DoesNotExist, NotFound):
        return None


def tree_triggers(tree: Tree) -> QuerySet[Trigger]:
    return Trigger.objects.filter(tree=tree).order_by("-created_at", "id")


def rule_get(user, rule_id, action: str = "view", *, request=None, source: str = "") -> NotificationRule:
    """A rule of a tree or schedule ``user`` may see; checked like its tree or schedule."""
    visible = Q(tree__in=tree_queryset(user)) | Q(schedule__in=schedule_queryset(user))
    try:
        rule = NotificationRule.objects.select_related("tree", "schedule").get(
            visible, id=parse_uuid(rule_id, what="notification")
        )
    except NotificationRule.DoesNotExist:
        raise NotFound(f"notification '{rule_id}' not found") from None
    check_access(user, rule.tree or rule.schedule, action, request=request, source=source)
    return rule


def schedule_rules(schedule: Schedule) -> QuerySet[NotificationRule]:
    return NotificationRule.objects.filter(schedule=schedule).order_by("-created_at", "id")


def tree_rules(tree: Tree) -> QuerySet[NotificationRule]:
    return NotificationRule.objects.filter(tree=tree).order_by("-created_at", "id")


def rule_deliveries(rule: NotificationRule) -> QuerySet[Delivery]:
    return Delivery.objects.filter(rule=rule).order_by("-created_at", "id")


def rule_delivery_get(rule: NotificationRule, delivery_id) -> Delivery:
    """One delivery of ``rule`` (the rule's access was checked by ``rule_get``)."""
    try:
        return Delivery.objects.get(rule=rule, id=parse_uuid(delivery_id, what="delivery"))
    except Delivery.DoesNotExist:
        raise NotFound(f"delivery '{delivery_id}' not found") from None
