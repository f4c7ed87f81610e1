"""Celery + Redis (one worker, prefork pool of 2 processes) on the benchmark shapes.

Run inside its own virtualenv by bench/peers.py: ``python celery_shapes.py --redis redis://... --runs 3``.
It starts the worker itself and prints one JSON object. Each task receives its dependencies'
results: W1 is ``root | chord(500, final)``, W2/W6 a ``chain``, W3/W5 a ``group``; W4 has no
native DAG in Celery, so it runs layer by layer (``chain`` of ``group``s: each layer waits for the
whole layer above, a stronger wait than Arbor's three dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from celery import Celery, chain, chord, group  # noqa: E402
from shapes import PER_HOP, SHAPES, SLEEP_SECONDS  # noqa: E402

REDIS = os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("peer", broker=REDIS, backend=REDIS)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
)


@app.task(name="noop")
def noop(*deps):
    return None


@app.task(name="nap")
def nap(*deps):
    time.sleep(SLEEP_SECONDS)
    return None


def signature_for(name):
    body = nap if name in ("W5", "W6") else noop
    if name in ("W2", "W6"):
        return chain(body.s(), *[body.s() for _ in range(199)])
    if name in ("W3", "W5"):
        return group(body.s() for _ in range(2000))
    if name == "W1":
        return chain(body.s(), chord([body.s() for _ in range(500)], body.s()))
    if name == "W4":
        return chain(body.s(), *[group(body.s() for _ in range(100)) for _ in range(10)])
    raise KeyError(name)


N = {"W1": 502, "W2": 200, "W3": 2000, "W4": 1001, "W5": 2000, "W6": 200}


def run(name):
    sig = signature_for(name)
    t0 = time.perf_counter()
    result = sig.apply_async()
    result.get(timeout=900, disable_sync_subtasks=False)
    wall = time.perf_counter() - t0
    n = N[name]
    return {
        "wall_s": wall,
        "tasks_per_s": n / wall,
        "per_hop_ms": wall / n * 1000 if name in PER_HOP else None,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(SHAPES))
    args = parser.parse_args()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_shapes",
            "worker",
            "--concurrency",
            "2",
            "--pool",
            "prefork",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=HERE,
        env={**os.environ, "PEER_REDIS_URL": REDIS},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = {}
    try:
        noop.delay().get(timeout=120)  # the worker is up
        run("W3")  # warm-up
        for name in args.only.split(","):
            rows = [run(name) for _ in range(args.runs)]
            out[name] = {
                k: statistics.median([r[k] for r in rows]) if rows[0][k] is not None else None
                for k in rows[0]
            }
            out[name]["runs"] = rows
            print(f"celery {name}: {out[name]['wall_s']:.3f}s", file=sys.stderr, flush=True)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
