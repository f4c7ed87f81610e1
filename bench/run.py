"""Arbor's benchmark: W1–W6 from the performance issue (W5, W6: 5 ms `sleep` tasks), tree creation
and API scale checks.

Run with ``make bench`` (PostgreSQL, then SQLite) or directly:

    DATABASE_URL=... .venv/bin/python bench/run.py --db postgres --runs 3

For each workload: a fresh tree of no-op tasks (each task receives its dependencies' results),
timed from the execute call to the tree being terminal, with a real worker role
(``manage.py arbor_worker``: a django-q2 cluster of ARBOR_WORKERS=2 processes plus the reaper).
Prints a table and writes bench/results/<db>.json.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
os.environ.setdefault("ARBOR_DISPATCH", "q2")
os.environ.setdefault("ARBOR_WORKERS", "2")
os.environ.setdefault("ARBOR_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from shapes import PER_HOP, SHAPES, creation_tasks, median, pg_statements  # noqa: E402  (bench/ is sys.path[0])

from tasks_app.models import Task, Tree  # noqa: E402
from tasks_app.services import control, trees  # noqa: E402

STATS_FILE = ROOT / ".tmp" / f"bench-worker-stats-{os.getpid()}.jsonl"


# --- workloads: bench/shapes.py, the same task lists the served bench and the peers run -------

WORKLOADS = SHAPES


# --- plumbing --------------------------------------------------------------------------------


def start_workers(env_extra=None):
    env = {**os.environ, "ARBOR_BENCH_STATS": str(STATS_FILE), **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "arbor_worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait until the cluster's workers are up: the qcluster child has spawned its workers
    deadline = time.time() + 30
    while time.time() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len(kids) >= int(os.environ["ARBOR_WORKERS"]) + 3:
            time.sleep(1.0)
            return proc
        time.sleep(0.2)
    raise RuntimeError("worker cluster did not start")


def stop_workers(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def cpu_seconds(proc) -> float:
    total = 0.0
    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def worker_queries() -> int:
    if not STATS_FILE.exists():
        return 0
    return sum(json.loads(line)["queries"] for line in STATS_FILE.read_text().splitlines() if line.strip())


def wait_terminal(tree_id, timeout=600.0) -> str:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        status = Tree.objects.filter(id=tree_id).values_list("status", flat=True).first()
        if status in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.01)
    raise TimeoutError(f"tree {tree_id} not terminal after {timeout}s")


def run_workload(name, user, workers_proc, runs):
    results = []
    for _ in range(runs):
        tree = trees.tree_create(owner=user, tasks=WORKLOADS[name](), source="bench")
        n = tree.task_count
        cpu0, q0, s0 = cpu_seconds(workers_proc), worker_queries(), pg_statements()
        t0 = time.perf_counter()
        control.tree_execute(tree=tree, actor=user, source="bench")
        status = wait_terminal(tree.id)
        wall = time.perf_counter() - t0
        cpu1, q1, s1 = cpu_seconds(workers_proc), worker_queries(), pg_statements()
        assert status == "completed", status
        assert Task.objects.filter(tree=tree, status="completed").count() == n
        results.append(
            {
                "wall_s": wall,
                "tasks_per_s": n / wall,
                "per_hop_ms": wall / n * 1000 if name in PER_HOP else None,
                "worker_queries_per_task": (q1 - q0) / n if q1 else None,
                "pg_statements_per_task": (s1 - s0) / n if s0 is not None and s1 is not None else None,
                "cpu_s_per_task": (cpu1 - cpu0) / n,
                "tasks": n,
            }
        )
    return results


def creation_bench(user, runs, n=10_000):
    """Creating a 10,000-task tree through the REST API (in-process test client)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    body = json.dumps(creation_tasks(n))
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = client.post("/api/v1/trees/", body, content_type="application/json")
        wall = time.perf_counter() - t0
        if resp.status_code != 201:
            return [{"error": f"HTTP {resp.status_code}: {resp.content[:200]!r}"}]
        out.append({"wall_s": wall, "tasks": n})
    return out


def scale_checks(user, target_tasks=100_000):
    """List and tree endpoints with >= 100,000 tasks in the database (p95 over 50 requests)."""
    from django.test import Client

    have = Task.objects.count()
    while have < target_tasks:
        chunk = [{"id": "r", "name": "r", "executor": "noop"}] + [
            {"id": f"x{i}", "name": f"x{i}", "executor": "noop", "parent_id": "r"} for i in range(1999)
        ]
        trees.tree_create(owner=user, tasks=chunk, source="bench")
        have += 2000
    big = Tree.objects.filter(owner=user, task_count__gte=2000).order_by("-created_at").first()
    assert big is not None, "the scale checks created no 2,000-task tree"
    client = Client()
    client.force_login(user)

    def p95(url, n=50):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            if resp.status_code != 200:
                return {"error": f"HTTP {resp.status_code} for {url}"}
        times.sort()
        return {"p50_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}

    return {
        "tasks_in_db": Task.objects.count(),
        "task_list_page": p95("/api/v1/tasks/?limit=50"),
        "task_list_filtered": p95("/api/v1/tasks/?status=completed&limit=50&offset=1000"),
        "tree_list_page": p95("/api/v1/trees/?limit=50"),
        "tree_2000_tasks": p95(f"/api/v1/trees/{big.id}/", n=20),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgres" if os.environ.get("DATABASE_URL") else "sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="W1,W2,W3,W4,W5,W6,create,scale")
    args = parser.parse_args()
    only = set(args.only.split(","))
    STATS_FILE.parent.mkdir(exist_ok=True)
    STATS_FILE.unlink(missing_ok=True)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench")
    report = {"db": args.db, "workers": settings.ARBOR_WORKERS, "runs": args.runs, "workloads": {}}
    proc = start_workers()
    try:
        for name in WORKLOADS:
            if name in only:
                rows = run_workload(name, user, proc, args.runs)
                report["workloads"][name] = {
                    "runs": rows,
                    **{
                        k: median(rows, k)
                        for k in (
                            "wall_s",
                            "tasks_per_s",
                            "per_hop_ms",
                            "worker_queries_per_task",
                            "pg_statements_per_task",
                            "cpu_s_per_task",
                        )
                    },
                }
                print(f"{args.db} {name}: median {report['workloads'][name]['wall_s']:.3f}s", flush=True)
    finally:
        stop_workers(proc)
    if "create" in only:
        rows = creation_bench(user, args.runs)
        report["create_10000"] = {"runs": rows, "wall_s": median(rows, "wall_s")}
    if "scale" in only:
        report["scale"] = scale_checks(user)
    out = ROOT / "bench" / "results" / f"{args.db}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    print(f"\nJSON: {out}")


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def print_table(report):
    print(f"\nArbor on {report['db']}, {report['workers']} workers, median of {report['runs']} runs")
    print(f"{'workload':<10}{'wall s':>9}{'tasks/s':>10}{'ms/hop':>9}{'queries/task':>14}{'cpu s/task':>12}")
    for name, row in report["workloads"].items():
        q = (
            row["pg_statements_per_task"]
            if row.get("pg_statements_per_task")
            else row["worker_queries_per_task"]
        )
        print(
            f"{name:<10}{fmt(row['wall_s'], '.3f'):>9}{fmt(row['tasks_per_s'], '.0f'):>10}"
            f"{fmt(row['per_hop_ms'], '.2f'):>9}{fmt(q, '.1f'):>14}{fmt(row['cpu_s_per_task'], '.5f'):>12}"
        )
    if "create_10000" in report:
        c = report["create_10000"]
        print(
            f"create 10,000-task tree via REST: {fmt(c.get('wall_s'), '.3f')} s "
            f"{c['runs'][0].get('error', '')}"
        )
    if "scale" in report:
        s = report["scale"]
        print(f"scale checks with {s['tasks_in_db']} tasks in the database:")
        for key in ("task_list_page", "task_list_filtered", "tree_list_page", "tree_2000_tasks"):
            v = s[key]
            print(
                f"  {key:<22} "
                + (v["error"] if "error" in v else f"p50 {v['p50_ms']:.1f} ms  p95 {v['p95_ms']:.1f} ms")
            )


if __name__ == "__main__":
    main()
