"""Set-based writes for the worker's hot path and for creating trees.

Django's ``bulk_update`` builds one ``CASE WHEN`` per field and row, which costs more Python
time than the database work for a batch of task completions. :func:`update_rows` writes many
rows with different values in one statement on PostgreSQL (``UPDATE ... FROM (VALUES ...)``)
and with one ``executemany`` on SQLite, using Django's own field adaptation.
:func:`insert_rows` is the same for ``bulk_create`` (a 10,000-task tree).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.db import connection, models


def update_rows(
    model, rows: list[dict], fields: list[str], *, where: str = "", where_params=(), returning: bool = False
):
    """``rows`` are dicts with ``pk`` plus every name in ``fields``. ``where`` is an extra SQL
    condition on the target table (aliased ``t``), e.g. ``"t.status = %s"``. Returns the number of
    rows changed, or with ``returning=True`` the set of primary keys changed."""
    if not rows:
        return set() if returning else 0
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    pk = meta.pk
    cols = [meta.get_field(name) for name in fields]

    def prep(field, value):
        return field.get_db_prep_save(value, connection)

    if connection.vendor == "postgresql":
        value_rows = []
        params: list = []
        for row in rows:
            value_rows.append("(" + ", ".join(["%s"] * (len(cols) + 1)) + ")")
            params.append(prep(pk, row["pk"]))
            params.extend(prep(f, row[f.name]) for f in cols)
        casts = ", ".join(
            f"{connection.ops.quote_name(f.column)} = v.c{i}::{f.db_type(connection)}"
            for i, f in enumerate(cols)
        )
        names = ", ".join(["id"] + [f"c{i}" for i in range(len(cols))])
        sql = (
            f"UPDATE {table} AS t SET {casts} FROM (VALUES {', '.join(value_rows)}) AS v({names}) "
            f"WHERE t.{connection.ops.quote_name(pk.column)} = v.id::{pk.db_type(connection)}"
        )
        if where:
            sql += f" AND {where}"
        if returning:
            sql += f" RETURNING t.{connection.ops.quote_name(pk.column)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *where_params])
            if returning:
                return {pk.to_python(r[0]) for r in cursor.fetchall()}
            return cursor.rowcount
    if returning:  # SQLite: the transaction is IMMEDIATE, so read-then-write is atomic
        matched = set(
            model._default_manager.filter(pk__in=[row["pk"] for row in rows])
            .extra(where=[where.replace("t.", f"{table}.")] if where else [], params=list(where_params))
            .values_list("pk", flat=True)
        )
        rows = [row for row in rows if row["pk"] in matched]
        update_rows(model, rows, fields)
        return matched
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in cols)
    sql = f"UPDATE {table} AS t SET {assignments} WHERE t.{connection.ops.quote_name(pk.column)} = %s"
    if where:
        sql += f" AND {where}"
    batch = [[*(prep(f, row[f.name]) for f in cols), prep(pk, row["pk"]), *where_params] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, batch)
        return cursor.rowcount


EMPTY_JSON: dict[type, str] = {dict: "{}", list: "[]"}


def _json_adapter(field):
    """JSON text as Django writes it (``json.dumps`` with the field's encoder); most task fields are
    ``{}`` or ``[]``, which skip the call."""
    encoder = field.encoder

    def adapt_json(value):
        if value is None:
            return None  # SQL NULL, as Django stores a Python None
        if not value and type(value) in EMPTY_JSON:
            return EMPTY_JSON[type(value)]
        return json.dumps(value, cls=encoder)

    return adapt_json


def _column_adapter(field):
    """How a Python value of ``field`` is handed to the driver, chosen once per column (``None``:
    as it is). ``bulk_create`` calls ``pre_save`` and ``get_db_prep_save`` per value instead: on a
    10,000-task tree that is 400,000 calls and most of the creation time."""
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.JSONField):
        return _json_adapter(target)
    if connection.vendor == "postgresql":
        return None  # COPY: psycopg writes str, numbers, bool, None, UUID and datetime itself
    if isinstance(target, models.UUIDField):  # SQLite stores 32 hex digits
        last: list[Any] = [None, None]  # a column often repeats one id (the tree, the parent)

        def adapt_uuid(value):
            if value is last[0]:
                return last[1]
            out = value.hex if type(value) is uuid.UUID else target.get_db_prep_save(value, connection)
            last[0], last[1] = value, out
            return out

        return adapt_uuid
    if isinstance(target, models.DateTimeField):
        adapt = connection.ops.adapt_datetimefield_value
        cache: dict = {}  # rows of one insert mostly share their timestamps

        def adapt_datetime(value):
            if value not in cache:
                cache[value] = adapt(value)
            return cache[value]

        return adapt_datetime
    if isinstance(
        target,
        models.CharField | models.TextField | models.IntegerField | models.FloatField | models.BooleanField,
    ):
        return None  # sqlite3 takes str, int, float, bool and None as they are
    return lambda value: target.get_db_prep_save(value, connection)


def insert_rows(model, fields: list[str], rows) -> int:
    """Insert ``rows`` (sequences of Python values in ``fields`` order, attribute names such as
    ``tree_id``) into ``model``'s table and return how many were written.

    No model instances, no ``pre_save`` (pass ``auto_now`` timestamps and defaults yourself), no
    signals; values are adapted once per column kind. PostgreSQL: one ``COPY … FROM STDIN`` (text
    format, formatted by psycopg in C and streamed while the server inserts). SQLite: one
    ``executemany`` (the driver loops in C).
    """
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    adapters = [(i, adapt) for i, f in enumerate(columns) if (adapt := _column_adapter(f)) is not None]

    def adapted():
        for row in rows:
            row = list(row)
            for i, adapt in adapters:
                row[i] = adapt(row[i])
            yield row

    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = ", ".join(quote(f.column) for f in columns)
    if connection.vendor == "postgresql":
        statement = f"COPY {table} ({names}) FROM STDIN"
        count, start = 0, time.monotonic()
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in adapted():
                copy.write_row(row)
                count += 1
        if connection.queries_logged:  # as Django logs executemany (COPY bypasses its cursor wrapper)
            connection.queries_log.append(
                {"sql": f"{count} rows: {statement}", "time": f"{time.monotonic() - start:.3f}"}
            )
        return count
    prepared = list(adapted())
    if prepared:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})", prepared
            )
    return len(prepared)
