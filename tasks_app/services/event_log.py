"""The event outbox: every state change appends Event rows with a per-tree sequence number,
in the same transaction as the change (Zulip's after-commit events, with a durable log).

Services collect events in an :class:`EventBuffer` and flush it as the *last* write of their
transaction, so the tree row (which holds the sequence counter) is always the last lock taken:
two transactions never wait on each other's task rows while holding a tree row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

from django.db import connection
from django.utils import timezone

from tasks_app.live.events import publish_on_commit
from tasks_app.models import Event, Tree

from .sql import RoundTrip


@dataclass
class EventBuffer:
    actor_id: int | None = None
    source: str = ""
    _items: dict = field(default_factory=lambda: defaultdict(list))

    def add(self, tree_id, kind: str, *, task_id=None, **data) -> None:
        self._items[tree_id].append((kind, task_id, data))

    def tree_ids(self) -> set:
        return {tree_id for tree_id, items in self._items.items() if items}

    def __len__(self) -> int:
        return sum(len(v) for v in self._items.values())

    def flush(self, *, locked: bool = False, batch: RoundTrip | None = None) -> list[Event]:
        """Allocate sequence numbers, insert the rows, publish after commit. Call inside atomic().

        ``locked``: the caller holds the row lock of every tree in the buffer (a batch of runs
        started together): on PostgreSQL all trees' events go in one statement. ``batch``: the
        events written so far are written as steps of that round trip (with the writes before
        them) when it runs; returns nothing then."""
        if batch is not None:
            pending = EventBuffer(actor_id=self.actor_id, source=self.source, _items=self._items)
            self._items = defaultdict(list)
            if connection.vendor == "postgresql" and not (locked and len(pending.tree_ids()) > 1):
                pending._flush_postgresql(timezone.now(), batch=batch)
            else:
                batch.call(lambda: pending.flush(locked=locked))
            return []
        rows: list[Event] = []
        now = timezone.now()
        if connection.vendor == "postgresql":
            if locked and len(self.tree_ids()) > 1:
                return self._flush_postgresql_many(now)
            return self._flush_postgresql(now)
        for tree_id in sorted(self._items, key=str):
            items = self._items[tree_id]
            last = _bump_seq(tree_id, len(items))
            first = last - len(items) + 1
            rows.extend(self._event(tree_id, first + offset, item, now) for offset, item in enumerate(items))
        self._items.clear()
        if rows:
            Event.objects.bulk_create(rows, batch_size=500)
            publish_on_commit([serialize_event(e) for e in rows])
        return rows

    def _event(self, tree_id, seq: int, item, now, event_id=None) -> Event:
        kind, task_id, data = item
        return Event(
            id=event_id,
            tree_id=tree_id,
            seq=seq,
            kind=kind,
            task_id=task_id,
            data=data,
            actor_id=self.actor_id,
            source=self.source,
            created_at=now,
        )

    def _flush_postgresql(self, now, batch: RoundTrip | None = None) -> list[Event]:
        """The same in one statement per tree: bump the counter, insert the rows and queue the
        NOTIFY (delivered on commit) — one round trip instead of three on the hot path (none of
        its own with ``batch``: the statements join that round trip)."""
        from tasks_app.live.delivery import PG_CHANNEL, wake_mode

        notify_all = wake_mode() == "postgres"
        tree_table, event_table = Tree._meta.db_table, Event._meta.db_table
        rows: list[Event] = []
        for tree_id in sorted(self._items, key=str):
            items = self._items[tree_id]
            n = len(items)
            # other flushes NOTIFY only in the "postgres" wake-up mode
            suffix = _status_suffix(items)
            notify = notify_all or bool(suffix)
            # every parameter typed: the worker prepares this statement (RoundTrip, prepare=True)
            sql = (
                f"WITH s AS (UPDATE {tree_table} SET last_seq = last_seq + %s::bigint WHERE id = %s::uuid "
                "RETURNING last_seq), "
                f"ins AS (INSERT INTO {event_table} (tree_id, seq, kind, task_id, data, actor_id, "
                "source, created_at) "
                "SELECT %s::uuid, s.last_seq - %s::bigint + v.n, v.kind, v.task_id, v.data, %s::bigint, "
                "%s::varchar, %s::timestamptz FROM s, "
                "unnest(%s::varchar[], %s::uuid[], %s::jsonb[]) WITH ORDINALITY AS v(kind, task_id, data, n) "
                "RETURNING id, seq) "
                "SELECT last_seq, ARRAY(SELECT id FROM ins ORDER BY seq)"
                + (", pg_notify(%s::text, %s::text || ':' || last_seq::text || %s::text)" if notify else "")
                + " FROM s"
            )
            tree_uuid = _db_uuid(tree_id)
            params = [
                n,
                tree_uuid,
                tree_uuid,
                n,
                self.actor_id,
                self.source,
                now,
                [kind for kind, _, _ in items],
                [_db_uuid(task_id) if task_id else None for _, task_id, _ in items],
                [json.dumps(data) for _, _, data in items],
            ]
            if notify:
                params += [PG_CHANNEL, str(tree_id), suffix]
            if batch is not None:
                batch.sql(
                    sql, params, fetch=True, then=partial(self._written, tree_id, items, now), prepare=True
                )
                continue
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            rows.extend(self._rows_of(tree_id, items, now, row))
        self._items.clear()
        if rows:
            publish_on_commit([serialize_event(e) for e in rows])
        return rows

    def _rows_of(self, tree_id, items, now, row) -> list[Event]:
        """The Event rows one tree's statement wrote (``row``: its last_seq and the new ids)."""
        if row is None:
            raise Tree.DoesNotExist(str(tree_id))
        first, ids = int(row[0]) - len(items) + 1, row[1]
        return [
            self._event(tree_id, first + offset, item, now, event_id=ids[offset])
            for offset, item in enumerate(items)
        ]

    def _written(self, tree_id, items, now, result) -> None:
        rows = self._rows_of(tree_id, items, now, result.rows[0] if result.rows else None)
        if rows:
            publish_on_commit([serialize_event(e) for e in rows])

    def _flush_postgresql_many(self, now) -> list[Event]:
        """Every tree's events in one statement (trees already locked by the caller, so the
        multi-row counter update cannot deadlock): bump each counter, insert, queue the NOTIFYs."""
        from tasks_app.live.delivery import PG_CHANNEL, wake_mode

        notify_all = wake_mode() == "postgres"
        tree_table, event_table = Tree._meta.db_table, Event._meta.db_table
        trees = sorted((t for t, items in self._items.items() if items), key=str)
        tree_col, count_col, suffix_col, v_tree, v_n, v_kind, v_task, v_data = [], [], [], [], [], [], [], []
        for tree_id in trees:
            items = self._items[tree_id]
            tree_col.append(_db_uuid(tree_id))
            count_col.append(len(items))
            suffix_col.append(_status_suffix(items))
            for offset, (kind, task_id, data) in enumerate(items, start=1):
                v_tree.append(_db_uuid(tree_id))
                v_n.append(offset)
                v_kind.append(kind)
                v_task.append(_db_uuid(task_id) if task_id else None)
                v_data.append(json.dumps(data))
        notify = notify_all or any(suffix_col)
        sql = (
            "WITH c AS (SELECT * FROM unnest(%s::uuid[], %s::int[], %s::text[]) AS c(tree_id, n, suffix)), "
            f"s AS (UPDATE {tree_table} t SET last_seq = t.last_seq + c.n FROM c WHERE t.id = c.tree_id "
            "RETURNING t.id, t.last_seq, c.n, c.suffix), "
            f"ins AS (INSERT INTO {event_table} (tree_id, seq, kind, task_id, data, actor_id, "
            "source, created_at) "
            "SELECT v.tree_id, s.last_seq - s.n + v.n, v.kind, v.task_id, v.data, %s, %s, %s "
            "FROM unnest(%s::uuid[], %s::int[], %s::varchar[], %s::uuid[], %s::jsonb[]) "
            "AS v(tree_id, n, kind, task_id, data) JOIN s ON s.id = v.tree_id RETURNING id, tree_id, seq) "
            "SELECT ins.tree_id::text, ins.seq, ins.id FROM ins"
            + (
                " UNION ALL SELECT s.id::text, -1, 0 FROM s, "
                "LATERAL (SELECT pg_notify(%s, s.id::text || ':' || s.last_seq::text || s.suffix)) "
                "AS notified" + ("" if notify_all else " WHERE s.suffix <> ''")
                if notify
                else ""
            )
        )
        params = [tree_col, count_col, suffix_col, self.actor_id, self.source, now]
        params += [v_tree, v_n, v_kind, v_task, v_data]
        if notify:
            params.append(PG_CHANNEL)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        seq_id = {(tree, seq): event_id for tree, seq, event_id in fetched if seq >= 0}
        first_of: dict[str, int] = {}
        for tree, seq, _ in fetched:
            if seq >= 0:
                first_of[tree] = min(seq, first_of.get(tree, seq))
        rows: list[Event] = []
        for tree_id in trees:
            key = str(_db_uuid(tree_id))
            if key not in first_of:
                raise Tree.DoesNotExist(str(tree_id))
            first = first_of[key]
            rows.extend(
                self._event(tree_id, first + offset, item, now, event_id=seq_id[(key, first + offset)])
                for offset, item in enumerate(self._items[tree_id])
            )
        self._items.clear()
        if rows:
            publish_on_commit([serialize_event(e) for e in rows])
        return rows


def _status_suffix(items) -> str:
    """The NOTIFY payload's suffix for a tree's flushed events: a status change always NOTIFYs
    (``wait: true`` waiters listen for it, whatever the live wake-up mode)."""
    from tasks_app.live.waiters import STATUS_SUFFIX

    return STATUS_SUFFIX if any(kind == "tree.status" for kind, _, _ in items) else ""


def _bump_seq(tree_id, count: int) -> int:
    table = Tree._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq",
            [count, _db_uuid(tree_id)],
        )
        row = cursor.fetchone()
    if row is None:
        raise Tree.DoesNotExist(str(tree_id))
    return int(row[0])


def _db_uuid(value):
    """UUIDs are stored as 32-char hex on SQLite and as native uuid on PostgreSQL."""
    import uuid

    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if connection.vendor == "postgresql" else value.hex


def serialize_event(event: Event) -> dict:
    return {
        "type": "event",
        "tree": str(event.tree_id),
        "seq": event.seq,
        "kind": event.kind,
        "task": str(event.task_id) if event.task_id else None,
        "data": event.data,
        "actor": event.actor_id,
        "source": event.source,
        "at": event.created_at.isoformat() if event.created_at else None,
    }
