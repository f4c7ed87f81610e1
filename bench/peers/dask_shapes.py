"""Dask distributed (LocalCluster: 2 worker processes, 1 thread each) on the benchmark shapes.

Run inside its own virtualenv by bench/peers.py: ``python dask_shapes.py --runs 3 --only W1,...``.
Prints one JSON object. Each task receives its dependencies' results (futures as arguments);
timed from the first submit to the last result gathered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shapes import PER_HOP, SHAPES, SLEEP_SECONDS, graph


def noop(*deps):
    return None


def sleep(*deps):
    time.sleep(SLEEP_SECONDS)
    return None


def run(client, name):
    g = graph(name)
    t0 = time.perf_counter()
    futures = {}
    for task_id, deps, sleeps in g:
        futures[task_id] = client.submit(
            sleep if sleeps else noop, *[futures[d] for d in deps], key=f"{name}-{task_id}-{t0}", pure=False
        )
    client.gather(list(futures.values()))
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "tasks_per_s": len(g) / wall,
        "per_hop_ms": wall / len(g) * 1000 if name in PER_HOP else None,
    }


def main():
    from dask.distributed import Client, LocalCluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(SHAPES))
    args = parser.parse_args()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    out = {}
    try:
        run(client, "W3")  # warm-up: imports and connections
        for name in args.only.split(","):
            rows = [run(client, name) for _ in range(args.runs)]
            out[name] = {
                k: statistics.median([r[k] for r in rows]) if rows[0][k] is not None else None
                for k in rows[0]
            }
            out[name]["runs"] = rows
            print(f"dask {name}: {out[name]['wall_s']:.3f}s", file=sys.stderr, flush=True)
    finally:
        client.close()
        cluster.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
