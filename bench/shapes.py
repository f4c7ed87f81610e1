"""The benchmark shapes, as Arbor task lists, and what the Arbor benches share (no Django at import:
the peers' runners import this too).

W1 1 root -> 500 parallel -> 1 final; W2 a chain of 200; W3 2,000 independent; W4 10 layers x 100,
each depending on 3 random tasks of the layer above (seed 42); W5 = W3 and W6 = W2 with every task
sleeping 5 ms (``sleep``, ``seconds: 0.005``: not run inline). Each task receives its
dependencies' results.
"""

from __future__ import annotations

import random
import statistics
from typing import Any


def w1():
    tasks: list[dict[str, Any]] = [{"id": "root", "name": "root", "executor": "noop"}]
    tasks += [
        {"id": f"p{i}", "name": f"p{i}", "executor": "noop", "parent_id": "root", "dependencies": ["root"]}
        for i in range(500)
    ]
    tasks.append(
        {
            "id": "final",
            "name": "final",
            "executor": "noop",
            "parent_id": "root",
            "dependencies": [f"p{i}" for i in range(500)],
        }
    )
    return tasks


def w2():
    tasks: list[dict[str, Any]] = [{"id": "n0", "name": "n0", "executor": "noop"}]
    tasks += [
        {"id": f"n{i}", "name": f"n{i}", "executor": "noop", "parent_id": "n0", "dependencies": [f"n{i - 1}"]}
        for i in range(1, 200)
    ]
    return tasks


def w3():
    tasks: list[dict[str, Any]] = [{"id": "root", "name": "root", "executor": "noop"}]
    tasks += [{"id": f"t{i}", "name": f"t{i}", "executor": "noop", "parent_id": "root"} for i in range(1999)]
    return tasks


def w4():
    rng = random.Random(42)
    tasks: list[dict[str, Any]] = [{"id": "root", "name": "root", "executor": "noop"}]
    for layer in range(10):
        for i in range(100):
            deps = [] if layer == 0 else [f"l{layer - 1}_{j}" for j in rng.sample(range(100), 3)]
            tasks.append(
                {
                    "id": f"l{layer}_{i}",
                    "name": f"l{layer}_{i}",
                    "executor": "noop",
                    "parent_id": "root",
                    "dependencies": deps,
                }
            )
    return tasks


SLEEP_SECONDS = 0.005
SLEEP = {"executor": "sleep", "inputs": {"seconds": SLEEP_SECONDS}}


def w5():
    return [{**task, **SLEEP} for task in w3()]


def w6():
    return [{**task, **SLEEP} for task in w2()]


SHAPES = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}
PER_HOP = {"W2", "W6"}


def creation_tasks(n: int = 10_000):
    """A root and n-1 children in chains of 10 (the creation benchmark)."""
    tasks: list[dict[str, Any]] = [{"id": "root", "name": "root", "executor": "noop"}]
    tasks += [
        {
            "id": f"c{i}",
            "name": f"c{i}",
            "executor": "noop",
            "parent_id": "root",
            "dependencies": [f"c{i - 1}"] if i % 10 != 1 else [],
        }
        for i in range(1, n)
    ]
    return tasks


def graph(name: str):
    """``[(id, [dependency ids], sleeps)]`` in a topological order, for the peers' runners.

    Arbor's parent/child link is not an ordering edge (a parent does not wait for its children,
    and W3's children do not wait for the root), so only ``dependencies`` count."""
    return [(t["id"], list(t.get("dependencies", [])), t["executor"] == "sleep") for t in SHAPES[name]()]


# Statements the clients sent (web, workers, django-q2), counted by pg_stat_statements. PostgreSQL's
# own foreign-key checks ("SELECT 1 FROM ONLY <table> x WHERE id = $1 FOR KEY SHARE OF x", one per
# written row and key) show up there as top-level statements too; they are not round trips and
# would triple the figure, so they are left out.
STATEMENTS_SQL = (
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
    "WHERE query NOT LIKE 'SELECT $_ FROM ONLY %FOR KEY SHARE OF x'"
)


def pg_statements() -> int | None:
    """The statements counted so far (``STATEMENTS_SQL``); None off PostgreSQL or without the
    extension."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cur:
            cur.execute(STATEMENTS_SQL)
            return int(cur.fetchone()[0])
    except Exception:
        return None


def median(rows: list[dict], key: str) -> float | None:
    """The median of ``key`` over the runs that have it."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None
