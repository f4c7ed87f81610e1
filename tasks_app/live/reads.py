"""Reads for live delivery: snapshots, the event tail and access re-checks.

Imports only models and selectors (the consumers and the hub never write). Every function here is
synchronous; callers in async code wrap them in ``database_sync_to_async`` or run them on the
hub's own thread.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count

from tasks_app import selectors
from tasks_app.engine.states import TERMINAL, Status
from tasks_app.exceptions import NotFound
from tasks_app.models import Dependency, Event, Task, Tree

EVENT_FIELDS = selectors.EVENT_WIRE_FIELDS
TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
RESULT_PREVIEW_BYTES = 2000
# tree-level event kinds that the dashboard forwards as they are
DASHBOARD_KINDS = frozenset({"tree.created", "tree.status", "tree.retry", "tree.deleted", "task.rerun"})
# the wire form of one event row: one function for the websocket, SSE and the REST event log
event_payload = selectors.event_wire


@contextlib.contextmanager
def consistent_reads():
    """Run several reads against one snapshot of the database.

    PostgreSQL: a read-only REPEATABLE READ transaction. SQLite: a deferred (shared) read
    transaction; ``atomic()`` would take the write lock there (``transaction_mode=IMMEDIATE``).
    """
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
        return
    yield


# --- the tail -----------------------------------------------------------------------------------


def max_event_id() -> int:
    row = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return int(row or 0)


def tail_events(after_id: int, gap_ids=(), limit: int = 1000) -> list[tuple[int, int | None, dict]]:
    """Committed events with ``id > after_id`` (plus any of ``gap_ids`` that have appeared), in id
    order, as ``(id, owner_id, payload)``."""
    from django.db.models import Q

    cond = Q(id__gt=after_id)
    if gap_ids:
        cond |= Q(id__in=list(gap_ids))
    rows = Event.objects.filter(cond).order_by("id").values(*EVENT_FIELDS, "tree__owner_id")[:limit]
    return [(r["id"], r["tree__owner_id"], event_payload(r)) for r in rows]


def tree_events_after(
    tree_id, after_seq: int, *, before_seq: int | None = None, limit: int = 1000
) -> list[dict]:
    qs = Event.objects.filter(tree_id=tree_id, seq__gt=after_seq)
    if before_seq is not None:
        qs = qs.filter(seq__lt=before_seq)
    return [event_payload(r) for r in qs.order_by("seq").values(*EVENT_FIELDS)[:limit]]


def tree_head(tree_id) -> tuple[str, int] | None:
    """``(status, last_seq)`` of a tree, or None if it is gone."""
    row = Tree.objects.filter(id=tree_id).values_list("status", "last_seq").first()
    return (row[0], int(row[1])) if row else None


def root_outcome(tree_id) -> dict[str, Any]:
    """``{result, error}`` of a tree's root task (the final event of apflow-shaped streams)."""
    row = Task.objects.filter(id=tree_id).values("result", "error").first()
    return dict(row) if row else {}


def run_start_seq(tree_id) -> int:
    """The sequence number just before the tree's current run started (its latest
    ``tree.status in_progress`` event), or 0."""
    for seq, data in (
        Event.objects.filter(tree_id=tree_id, kind="tree.status")
        .order_by("-seq")
        .values_list("seq", "data")[:200]
    ):
        if isinstance(data, dict) and data.get("status") == Status.IN_PROGRESS.value:
            return int(seq) - 1
    return 0


# --- access -------------------------------------------------------------------------------------


def readable_tree(user, tree_id, *, scope=None) -> Tree | None:
    """The tree if ``user`` (active) may read it, else None: a foreign id is the same as a missing one.
    Given the Channels ``scope``, a staff user's watch of another user's tree is audited (once)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    try:
        return selectors.tree_get(user, tree_id, request=scope, source="ws")
    except NotFound:
        return None


def sees_all_trees(user) -> bool:
    """Whether ``user`` watches every user's trees (staff with tasks_app.view_tree, superusers)."""
    return selectors.sees_all(user, Tree)


def fresh_user(user_id):
    """The user row as it is now (deactivation, staff changes), or None."""
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


# --- snapshots ----------------------------------------------------------------------------------


def _preview(result):
    if result is None:
        return None
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        return None
    return result if len(text) <= RESULT_PREVIEW_BYTES else {"truncated": True, "bytes": len(text)}


def _iso(value):
    return value.isoformat() if value else None


def tree_info(tree: Tree, counts: dict | None = None) -> dict:
    owner = getattr(tree, "_owner_username", None)
    if owner is None:
        owner = get_user_model().objects.filter(pk=tree.owner_id).values_list("username", flat=True).first()
    return {
        "id": str(tree.id),
        "name": tree.name,
        "owner": owner,
        "status": tree.status,
        "handled_failures": tree.handled_failures,
        "task_count": tree.task_count,
        "run_count": tree.run_count,
        "last_seq": tree.last_seq,
        "archived": tree.archived,
        "cancel_requested": tree.cancel_requested,
        "created_at": _iso(tree.created_at),
        "updated_at": _iso(tree.updated_at),
        "started_at": _iso(tree.started_at),
        "finished_at": _iso(tree.finished_at),
        "counts": counts if counts is not None else status_counts([tree.id]).get(tree.id, _zero_counts()),
    }


TASK_FIELDS = (
    "id",
    "parent_id",
    "name",
    "ref",
    "executor",
    "priority",
    "status",
    "result",
    "error",
    "error_type",
    "progress",
    "progress_message",
    "waiting_reason",
    "attempt_count",
    "position",
    "started_at",
    "completed_at",
    "tags",
)


def tree_snapshot(tree_id) -> dict | None:
    """``{"type": "snapshot", "seq": N, "tree": {...}, "tasks": [...]}``: the state exactly as of
    event ``N`` (one consistent read), or None if the tree is gone."""
    with consistent_reads():
        tree = Tree.objects.filter(id=tree_id).first()
        if tree is None:
            return None
        rows = list(Task.objects.filter(tree_id=tree_id).order_by("position").values(*TASK_FIELDS))
        deps: dict = defaultdict(list)
        edges = (
            Dependency.objects.filter(tree_id=tree_id)
            .order_by("downstream_id", "position")
            .values_list("downstream_id", "upstream_id", "upstream__name", "required")
        )
        for down, up, name, required in edges:
            deps[down].append({"id": str(up), "name": name, "required": required})
        info = tree_info(tree, counts=_count_rows(rows))
    tasks = []
    for r in rows:
        tasks.append(
            {
                "id": str(r["id"]),
                "parent": str(r["parent_id"]) if r["parent_id"] else None,
                "name": r["name"],
                "ref": r["ref"],
                "executor": r["executor"],
                "priority": r["priority"],
                "status": r["status"],
                "result": _preview(r["result"]),
                "error": r["error"],
                "error_type": r["error_type"],
                "progress": r["progress"],
                "progress_message": r["progress_message"],
                "waiting_reason": r["waiting_reason"],
                "attempt_count": r["attempt_count"],
                "position": r["position"],
                "is_root": r["parent_id"] is None,
                "dependencies": deps.get(r["id"], []),
                "started_at": _iso(r["started_at"]),
                "completed_at": _iso(r["completed_at"]),
                "tags": r["tags"],
            }
        )
    return {"type": "snapshot", "seq": tree.last_seq, "tree": info, "tasks": tasks}


def tree_check(tree_id) -> dict | None:
    """``{"type": "check", "seq": N, "status", "task_count", "counts"}``: the tree's task counts
    exactly as of event ``N`` (one consistent read), for a client's self-check; None if it is gone."""
    with consistent_reads():
        row = Tree.objects.filter(id=tree_id).values("id", "status", "last_seq").first()
        if row is None:
            return None
        counts = status_counts([row["id"]]).get(row["id"], _zero_counts())
    return {
        "type": "check",
        "tree": str(row["id"]),
        "seq": row["last_seq"],
        "status": row["status"],
        "task_count": sum(counts.values()),
        "counts": counts,
    }


def _zero_counts() -> dict:
    return {s.value: 0 for s in Status}


def _count_rows(rows) -> dict:
    counts = _zero_counts()
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def status_counts(tree_ids) -> dict:
    """``{tree id: {status: n}}`` with every status present (one grouped query)."""
    ids = [t if isinstance(t, uuid.UUID) else uuid.UUID(str(t)) for t in tree_ids]
    out = {i: _zero_counts() for i in ids}
    rows = Task.objects.filter(tree_id__in=ids).values("tree_id", "status").annotate(n=Count("id"))
    for row in rows:
        out.setdefault(row["tree_id"], _zero_counts())[row["status"]] = row["n"]
    return out


def dashboard_snapshot(user, *, limit: int = 200) -> dict:
    """The user's most recent trees (staff with tasks_app.view_tree: everyone's) with their counts."""
    with consistent_reads():
        trees = list(selectors.tree_queryset(user).select_related("owner").order_by("-created_at")[:limit])
        counts = status_counts([t.id for t in trees])
    out = []
    for tree in trees:
        tree._owner_username = tree.owner.username
        out.append(tree_info(tree, counts=counts.get(tree.id)))
    return {"type": "snapshot", "trees": out, "staff": sees_all_trees(user)}


def tree_summary(tree_id) -> dict | None:
    """What the dashboard shows of one tree now: status, last_seq and counts."""
    row = Tree.objects.filter(id=tree_id).values("id", "status", "last_seq", "task_count", "owner_id").first()
    if row is None:
        return None
    counts = status_counts([row["id"]]).get(row["id"], _zero_counts())
    return {
        "type": "tree",
        "tree": str(row["id"]),
        "status": row["status"],
        "last_seq": row["last_seq"],
        "task_count": row["task_count"],
        "counts": counts,
    }


def event_ids_between(lower: int, upper: int) -> list[int]:
    """Visible event ids in ``(lower, upper]``."""
    return list(Event.objects.filter(id__gt=lower, id__lte=upper).values_list("id", flat=True))
