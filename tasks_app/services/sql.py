"""Set-based writes for the worker's hot path.

Django's ``bulk_update`` builds one ``CASE WHEN`` per field and row, which costs more Python
time than the database work for a batch of task completions. :func:`update_rows` writes many
rows with different values in one statement on PostgreSQL (``UPDATE ... FROM (VALUES ...)``)
and with one ``executemany`` on SQLite, using Django's own field adaptation.
"""

from __future__ import annotations

from django.db import connection


def update_rows(model, rows: list[dict], fields: list[str], *, where: str = "", where_params=(),
                returning: bool = False):
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
            f"{connection.ops.quote_name(f.column)} = v.c{i}::{f.db_type(connection)}" for i, f in enumerate(cols)
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
