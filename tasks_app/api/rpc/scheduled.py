"""apflow's schedule methods (``tasks.scheduled.list``, ``tasks.scheduled.due``) and the schedule
fields apflow accepts on ``tasks.create`` (``schedule_type``, ``schedule_expression``,
``schedule_enabled``, ``schedule_start_at``, ``schedule_end_at``, ``max_runs``; Arbor adds
``schedule_timezone``, default UTC). A schedule attaches to a tree, so the fields belong on its root.

Entries are apflow task dicts of the scheduled tree's root with the schedule's fields merged in
(apflow keeps them on the task row) plus ``schedule_id``.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tasks_app import selectors
from tasks_app.models import Schedule, Task
from tasks_app.services import schedules as schedule_services
from tasks_app.services import trees

from .protocol import (
    INVALID_PARAMS,
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
    SOURCE,
    RpcError,
    param_bool,
    param_int,
)
from .render import iso, output_list, task_dicts

SCHEDULE_FIELDS = (
    "schedule_type",
    "schedule_expression",
    "schedule_enabled",
    "schedule_start_at",
    "schedule_end_at",
    "max_runs",
    "schedule_timezone",
    "schedule_overlap",
    "schedule_catch_up",
)
MSG_SCHEDULE_ON_CHILD = "schedule fields are accepted on the root task only (task '{name}')"
MSG_SCHEDULE_TYPE = "schedule_type is required with schedule fields"
MSG_DATETIME = "{name} must be an ISO 8601 datetime with an offset"


def _datetime(value, name: str):
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value)) if not isinstance(value, dt.datetime) else value
    if parsed is None or timezone.is_naive(parsed):
        raise RpcError(INVALID_PARAMS, f"{name}: " + MSG_DATETIME.format(name=name), details={"field": name})
    return parsed


def split_schedule(tasks) -> tuple[list, dict | None]:
    """Take the schedule fields off a tasks.create array; return (tasks, fields of the root or None)."""
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        return tasks, None
    found = None
    cleaned = []
    for raw in tasks:
        if not isinstance(raw, dict) or not any(k in raw for k in SCHEDULE_FIELDS):
            cleaned.append(raw)
            continue
        fields = {k: raw[k] for k in SCHEDULE_FIELDS if k in raw}
        cleaned.append({k: v for k, v in raw.items() if k not in SCHEDULE_FIELDS})
        if raw.get("parent_id") not in (None, ""):
            raise RpcError(
                INVALID_PARAMS,
                MSG_SCHEDULE_ON_CHILD.format(name=raw.get("name")),
                details={"field": "schedule_type"},
            )
        if fields.get("schedule_type") in (None, ""):
            if all(v in (None, False, "") for v in fields.values()):
                continue  # apflow clients send empty schedule columns on every task
            raise RpcError(INVALID_PARAMS, MSG_SCHEDULE_TYPE, details={"field": "schedule_type"})
        found = fields
    return cleaned, found


def create_with_schedule(call, params):
    """tasks.create: the tree and, when its root carries schedule fields, its schedule (one transaction)."""
    tasks, fields = split_schedule(params)
    with transaction.atomic():
        tree = trees.tree_create(owner=call.user, tasks=tasks, actor=call.user, source=SOURCE)
        schedule = None
        if fields:
            schedule = schedule_services.schedule_create(
                owner=call.user,
                tree=tree,
                kind=fields["schedule_type"],
                expression=fields.get("schedule_expression"),
                timezone_name=fields.get("schedule_timezone") or "UTC",
                enabled=bool(fields.get("schedule_enabled", True)),
                start_at=_datetime(fields.get("schedule_start_at"), "schedule_start_at"),
                end_at=_datetime(fields.get("schedule_end_at"), "schedule_end_at"),
                max_runs=fields.get("max_runs"),
                **({"overlap": fields["schedule_overlap"]} if fields.get("schedule_overlap") else {}),
                **({"catch_up": fields["schedule_catch_up"]} if fields.get("schedule_catch_up") else {}),
            )
    out = output_list(tree)
    if schedule is not None:
        root = out if isinstance(out, dict) else next(t for t in out if t["id"] == str(tree.id))
        root.update(schedule_fields(schedule))
    return out


def schedule_fields(schedule: Schedule) -> dict:
    return {
        "schedule_id": str(schedule.id),
        "schedule_type": schedule.kind,
        "schedule_expression": schedule.expression,
        "schedule_timezone": schedule.timezone,
        "schedule_enabled": schedule.enabled,
        "schedule_start_at": iso(schedule.start_at),
        "schedule_end_at": iso(schedule.end_at),
        "next_run_at": iso(schedule.next_run_at),
        "last_run_at": iso(schedule.last_run_at),
        "max_runs": schedule.max_runs,
        "run_count": schedule.run_count,
        "schedule_overlap": schedule.overlap,
        "schedule_catch_up": schedule.catch_up,
    }


def _entries(schedules) -> list[dict]:
    schedules = list(schedules)
    roots = {t.id: t for t in Task.objects.filter(id__in=[s.tree_id for s in schedules])}
    dicts = {d["id"]: d for d in task_dicts(list(roots.values()))}
    return [{**dicts.get(str(s.tree_id), {"id": str(s.tree_id)}), **schedule_fields(s)} for s in schedules]


def _scoped(call, params):
    from .methods import _owner_filter  # the same user_id rule as tasks.list

    qs = selectors.schedule_queryset(call.user)
    return _owner_filter(call, params, qs)


def rpc_scheduled_list(call, params):
    qs = _scoped(call, params)
    if param_bool(params, "enabled_only", True):
        qs = qs.filter(enabled=True, next_run_at__isnull=False)
    if params.get("schedule_type"):
        qs = qs.filter(kind=str(params["schedule_type"]))
    if params.get("status"):
        qs = qs.filter(tree__status=str(params["status"]))
    limit = min(param_int(params, "limit", LIST_DEFAULT_LIMIT, minimum=1), LIST_MAX_LIMIT)
    offset = param_int(params, "offset", 0)
    qs = qs.order_by("next_run_at", "created_at", "id")  # PostgreSQL and SQLite: NULLs (finished) last
    return _entries(qs[offset : offset + limit])


def rpc_scheduled_due(call, params):
    before = _datetime(params.get("before"), "before") or timezone.now()
    limit = min(param_int(params, "limit", LIST_DEFAULT_LIMIT, minimum=1), LIST_MAX_LIMIT)
    qs = _scoped(call, params).filter(enabled=True, next_run_at__lte=before).order_by("next_run_at", "id")
    return _entries(qs[:limit])
