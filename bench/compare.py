"""The side-by-side table: Arbor served (PostgreSQL, SQLite), in-process, Dask, Celery + Redis,
and Arbor's ratio to the best peer per shape (from bench/results/*.json of the same invocation).

A ratio below 1 means Arbor is ahead: its time (or time per hop) divided by the best peer's.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = {
    "W1": "W1 1 → 500 → 1 (s)",
    "W2": "W2 chain of 200 (ms/hop)",
    "W3": "W3 2,000 independent (tasks/s)",
    "W4": "W4 10 × 100, 3 deps (s)",
    "W5": "W5 2,000 × sleep 5 ms (tasks/s)",
    "W6": "W6 chain of 200 × 5 ms (ms/hop)",
}


def load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def cell(row, shape):
    if not row or row.get("wall_s") is None:
        return None, "—"
    if shape in ("W2", "W6"):
        return row["wall_s"], f"{row['per_hop_ms']:.1f}"
    if shape in ("W3", "W5"):
        return row["wall_s"], f"{row['tasks_per_s']:.0f}"
    return row["wall_s"], f"{row['wall_s']:.2f}"


def main():
    pg, lite = load("served-postgres.json").get("shapes", {}), load("served-sqlite.json").get("shapes", {})
    inproc = load("postgres.json").get("workloads", {})
    peers = load("peers.json")
    dask, celery = peers.get("dask", {}), peers.get("celery", {})
    cols = [
        "Arbor PG served",
        "Arbor SQLite served",
        "Arbor PG in-process",
        "Dask",
        "Celery+Redis",
        "PG ÷ best peer",
        "SQLite ÷ best peer",
    ]
    print("\n| shape | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for shape, label in LABELS.items():
        values = [cell(src.get(shape), shape) for src in (pg, lite, inproc, dask, celery)]
        peer_walls = [w for w, _ in values[3:] if w is not None]
        best = min(peer_walls) if peer_walls else None
        ratios = [f"{w / best:.2f}×" if w is not None and best else "—" for w, _ in values[:2]]
        print(f"| {label} | " + " | ".join(text for _, text in values) + " | " + " | ".join(ratios) + " |")
    for db, data in (("PostgreSQL", load("served-postgres.json")), ("SQLite", load("served-sqlite.json"))):
        waits = {k: v.get("wait_answer_ms") for k, v in data.get("shapes", {}).items()}
        if any(w is not None for w in waits.values()):
            print(
                f"\n`wait: true` answered after the tree ended ({db}, ms, median; includes the last commit): "
                + ", ".join(f"{k} {w:.1f}" for k, w in waits.items() if w is not None)
            )
        c = data.get("create_10000")
        if c:
            print(
                f"\ncreate 10,000 tasks served on {db}: "
                f"JSON-RPC {c['rpc']['wall_s']:.2f} s, REST {c['rest']['wall_s']:.2f} s"
            )
    print(
        "\nratio = Arbor's wall time ÷ the best peer's wall time on the same shape (below 1: Arbor is ahead)"
    )


if __name__ == "__main__":
    main()
