"""Scale checks of issue 18, through the served stack (Daphne + HTTP, DEBUG=0, a bearer token):

    DATABASE_URL=postgres://... .venv/bin/python bench/scale.py            # everything, full size
    DATABASE_URL=... .venv/bin/python bench/scale.py --only tasks1m --tasks 50000   # small, while developing

* ``tasks1m``: fills the database to ``--tasks`` (1,000,000) tasks with bulk SQL (``INSERT …
  SELECT generate_series``: trees of ``--tree-size`` tasks, a 10-ary hierarchy with chains of
  dependencies, statuses and timestamps of finished, failed, cancelled and never-run trees, two
  users owning 2/3 and 1/3 of them), runs one real tree of the measured user through the worker (so
  it has runs, attempts and events), then times the list and tree endpoints over HTTP: p50/p95
  over ``--requests`` requests each, as the user with most tasks (and the first pages as the other).
* ``idle``: Daphne + ``arbor_worker`` (2 workers), nothing to do: CPU of both process trees over
  ``--idle-seconds`` after a warm-up, per process, and the statements PostgreSQL ran meanwhile.
* ``curve``: W5 (2,000 × sleep 5 ms) and W3 (2,000 noop), served, with ARBOR_WORKERS = 1, 2, 4.
* ``memory``: ``--memory-tasks`` (100,000) noop tasks in trees of 10,000, run one tree after the
  other; the RSS of every worker process sampled every ``--sample-seconds``; start / peak / end
  and the slope per 10,000 tasks (least squares after the first 10 % of the run).

Writes bench/results/scale-<db>.json and prints a table. Reuses bench/served.py's ``Server``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
import served
from django.db import connection
from served import Api, Server, bench_token, root_id, run_shape
from shapes import creation_tasks

ROOT = served.ROOT
TARGET_P95_MS = 100.0
USERS = ("scale-a", "scale-b")  # 2/3 and 1/3 of the bulk trees; the first is measured

# --- the bulk load --------------------------------------------------------------------------------

# tree g (1..n) of one load: its status by g, its tasks' statuses by the tree's status and position
TREE_STATUS = """CASE WHEN mod(g, 20) = 0 THEN 'pending' WHEN mod(g, 20) = 1 THEN 'failed'
    WHEN mod(g, 50) = 2 THEN 'cancelled' ELSE 'completed' END"""
TASK_STATUS = """CASE ts WHEN 'pending' THEN 'pending' WHEN 'completed' THEN 'completed'
    WHEN 'failed' THEN (CASE WHEN mod(p, 25) = 7 THEN 'failed' WHEN mod(p, 25) IN (8, 9) THEN 'cancelled'
                        ELSE 'completed' END)
    ELSE (CASE WHEN p * 2 >= %(size)s THEN 'cancelled' ELSE 'completed' END) END"""


def _tid(g: str, p: str) -> str:
    return f"md5(%(seed)s || '-' || {g} || '-' || {p})::uuid"


SQL_TREES = f"""
INSERT INTO tasks_app_tree (id, name, status, last_seq, task_count, run_count, cancel_requested,
    archived, created_at, updated_at, started_at, finished_at, original_tree_id, owner_id,
    handled_failures)
SELECT {_tid("g", "0")}, 'scale ' || %(seed)s || ' ' || g, st, 0, %(size)s,
    CASE WHEN st = 'pending' THEN 0 ELSE 1 END, false, mod(g, 97) = 0, t, t + interval '2 minutes',
    CASE WHEN st = 'pending' THEN NULL ELSE t + interval '1 second' END,
    CASE WHEN st = 'pending' THEN NULL ELSE t + interval '1 minute' END,
    NULL, CASE WHEN mod(g, 3) = 0 THEN %(user_b)s ELSE %(user_a)s END, 0
FROM (SELECT g, {TREE_STATUS} AS st, %(t0)s + g * interval '7 seconds' AS t
      FROM generate_series(%(g0)s, %(g1)s - 1) g) s
"""

SQL_TASKS = f"""
INSERT INTO tasks_app_task (id, ref, name, position, executor, priority, inputs, params, schemas,
    resources, timeout, max_retries, retry_delay, tags, metadata, status, result, error, error_type,
    progress, progress_message, waiting_reason, scheduled, ready_at, next_attempt_at, attempt_count,
    cancel_requested, origin_type, created_at, updated_at, started_at, completed_at,
    current_attempt_id, original_task_id, owner_id, parent_id, tree_id)
SELECT {_tid("g", "p")}, 't' || p, 'task ' || p, p,
    CASE WHEN mod(p, 5) = 4 THEN 'sleep' ELSE 'noop' END, 2, '{{}}', '{{}}', '{{}}', '[]', NULL, NULL, NULL,
    CASE WHEN mod(p, 10) = 0 THEN '["batch"]'::jsonb ELSE '[]'::jsonb END, '{{}}', s,
    CASE WHEN s = 'completed' THEN '{{"ok": true}}'::jsonb END,
    CASE WHEN s = 'failed' THEN 'RuntimeError: boom' END, CASE WHEN s = 'failed' THEN 'RuntimeError' END,
    CASE WHEN s = 'completed' THEN 1.0 ELSE 0.0 END, '', '', false, NULL, NULL,
    CASE WHEN s IN ('completed', 'failed') THEN 1 ELSE 0 END, false, 'create', t,
    t + interval '2 minutes',
    CASE WHEN s IN ('completed', 'failed') THEN t + interval '1 second' + p * interval '50 ms' END,
    CASE WHEN s <> 'pending' THEN t + interval '1 second' + p * interval '50 ms' + interval '20 ms' END,
    NULL, NULL, owner, CASE WHEN p = 0 THEN NULL ELSE {_tid("g", "p / 10")} END, {_tid("g", "0")}
FROM (SELECT g, p, t, owner, {TASK_STATUS} AS s
      FROM (SELECT g, {TREE_STATUS} AS ts, %(t0)s + g * interval '7 seconds' AS t,
                   CASE WHEN mod(g, 3) = 0 THEN %(user_b)s ELSE %(user_a)s END AS owner
            FROM generate_series(%(g0)s, %(g1)s - 1) g) tr
      CROSS JOIN generate_series(0, %(size)s - 1) p) s
"""

# chains of dependencies inside each group of ten siblings-by-position (like bench/shapes.py)
SQL_EDGES = f"""
INSERT INTO tasks_app_dependency (required, position, downstream_id, upstream_id, tree_id)
SELECT true, 0, {_tid("g", "p")}, {_tid("g", "p - 1")}, {_tid("g", "0")}
FROM generate_series(%(g0)s, %(g1)s - 1) g CROSS JOIN generate_series(2, %(size)s - 1) p
WHERE mod(p, 10) <> 0
"""


def bulk_load(target: int, size: int, batch_trees: int = 1000) -> dict:
    """Fill the task table up to ``target`` rows; returns what was added and how long it took."""
    from django.contrib.auth import get_user_model

    from tasks_app.models import Task

    have = Task.objects.count()
    if have >= target:
        return {"tasks_before": have, "tasks_added": 0, "load_s": 0.0}
    users = [get_user_model().objects.get_or_create(username=u)[0].pk for u in USERS]
    n_trees = math.ceil((target - have) / size)
    seed = secrets.token_hex(4)
    t_start = time.perf_counter()
    with connection.cursor() as cur:
        # the rows are consistent by construction: skip the deferred foreign-key triggers (superuser)
        cur.execute("SET session_replication_role = replica")
        cur.execute("SELECT now() - %s * interval '7 seconds'", [n_trees + 60])
        t0 = cur.fetchone()[0]
        try:
            for g0 in range(1, n_trees + 1, batch_trees):
                params = {
                    "seed": seed,
                    "size": size,
                    "g0": g0,
                    "g1": min(g0 + batch_trees, n_trees + 1),
                    "t0": t0,
                    "user_a": users[0],
                    "user_b": users[1],
                }
                for sql in (SQL_TREES, SQL_TASKS, SQL_EDGES):
                    cur.execute(sql, params)
                done = (params["g1"] - 1) * size
                print(f"  loaded {done:,} / {n_trees * size:,} tasks", end="\r", flush=True)
        finally:
            cur.execute("SET session_replication_role = DEFAULT")
        print()
        loaded = time.perf_counter() - t_start
        # what autovacuum would do a minute later: statistics and the visibility map (index-only scans)
        for table in ("tasks_app_tree", "tasks_app_task", "tasks_app_dependency"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    return {
        "tasks_before": have,
        "tasks_added": n_trees * size,
        "trees_added": n_trees,
        "insert_s": loaded,
        "load_s": time.perf_counter() - t_start,
    }


# --- timing the endpoints -------------------------------------------------------------------------


def percentiles(times: list[float]) -> dict:
    times = sorted(times)
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[max(0, math.ceil(len(times) * 0.95) - 1)],
        "max_ms": times[-1],
        "n": len(times),
    }


def time_get(api: Api, path: str, n: int, warmup: int = 3) -> dict:
    times = []
    for i in range(n + warmup):
        t0 = time.perf_counter()
        status, body = api.get(path)
        wall = (time.perf_counter() - t0) * 1000
        if status != 200:
            return {"error": f"HTTP {status} for {path}: {body[:200]!r}"}
        if i >= warmup:
            times.append(wall)
    return percentiles(times)


def tasks1m(args) -> dict:
    from tasks_app.models import Task, Tree

    out: dict = {"load": bulk_load(args.tasks, args.tree_size)}
    print(f"bulk load: {json.dumps(out['load'])}", flush=True)
    tokens = {u: bench_token(u) for u in USERS}
    connection.close()
    server = Server()
    try:
        api = Api(server.port, tokens[USERS[0]])
        # one real tree of the measured user, run by the workers: runs, attempts and events
        tasks = creation_tasks(args.tree_size)
        tree_id = root_id(api.rpc("tasks.create", {"tasks": tasks}))
        result = api.rpc("tasks.execute", {"task_id": tree_id, "wait": True, "timeout": 300})
        if result.get("status") != "completed":
            raise RuntimeError(f"the measured tree ended {result.get('status')}")
        user_a = Tree.objects.get(id=tree_id).owner
        out["tasks_in_db"] = Task.objects.count()
        out["trees_in_db"] = Tree.objects.count()
        out["tasks_of_measured_user"] = Task.objects.filter(owner=user_a).count()
        out["trees_of_measured_user"] = Tree.objects.filter(owner=user_a).count()
        connection.close()
        n = args.requests
        checks = {
            "GET /trees/ (first page)": "/api/v1/trees/?limit=50",
            "GET /trees/ (offset 2,000)": "/api/v1/trees/?limit=50&offset=2000",
            "GET /trees/?status=failed": "/api/v1/trees/?status=failed&limit=50",
            "GET /tasks/ (first page)": "/api/v1/tasks/?limit=50",
            "GET /tasks/ (offset 10,000)": "/api/v1/tasks/?limit=50&offset=10000",
            "GET /tasks/?status=failed": "/api/v1/tasks/?status=failed&limit=50",
            "GET /tasks/?status=completed": "/api/v1/tasks/?status=completed&limit=50",
            "GET /tasks/?tag=batch": "/api/v1/tasks/?tag=batch&limit=50",
            "GET /tasks/?tree=<id>": f"/api/v1/tasks/?tree={tree_id}&limit=50",
            "GET /tasks/?search=": "/api/v1/tasks/?search=task%2042&limit=50",
            "GET /trees/?search=": "/api/v1/trees/?search=scale&limit=50",
            f"GET /trees/<id>/ ({args.tree_size} tasks)": f"/api/v1/trees/{tree_id}/",
            "GET /trees/<id>/events/": f"/api/v1/trees/{tree_id}/events/?after_seq=0&limit=100",
            "GET /trees/<id>/attempts/": f"/api/v1/trees/{tree_id}/attempts/?limit=50",
            "GET /trees/<id>/runs/": f"/api/v1/trees/{tree_id}/runs/",
        }
        rows = {}
        for label, path in checks.items():
            rows[label] = {"path": path, **time_get(api, path, n)}
            print(f"  {label:<34} {fmt_row(rows[label])}", flush=True)
        other = Api(server.port, tokens[USERS[1]])
        for label, path in (
            ("GET /trees/ (other user)", "/api/v1/trees/?limit=50"),
            ("GET /tasks/ (other user)", "/api/v1/tasks/?limit=50"),
        ):
            rows[label] = {"path": path, **time_get(other, path, n)}
            print(f"  {label:<34} {fmt_row(rows[label])}", flush=True)
        out["endpoints"] = rows
    finally:
        server.stop()
    return out


def fmt_rate(row: dict) -> str:
    return "failed" if row.get("tasks_per_s") is None else f"{row['tasks_per_s']:.0f}"


def fmt_row(row: dict) -> str:
    if "error" in row:
        return row["error"]
    flag = "ok" if row["p95_ms"] < TARGET_P95_MS else "MISSES 100 ms"
    return f"p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  {flag}"


# --- processes ------------------------------------------------------------------------------------


def process_tree(server: Server) -> list[psutil.Process]:
    procs = []
    for root in (server.web, server.worker):
        try:
            top = psutil.Process(root.pid)
            procs += [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


def role(proc: psutil.Process, server: Server) -> str:
    try:
        cmd = " ".join(proc.cmdline())
        if proc.pid == server.web.pid:
            return "daphne"
        if proc.pid == server.worker.pid:
            return "arbor_worker (reaper, scheduler)"
        parent = proc.parent()
        if "qcluster" in cmd and parent is not None and parent.pid == server.worker.pid:
            return "qcluster"
        return "cluster process"
    except psutil.Error:
        return "gone"


def postgres_processes() -> list[psutil.Process]:
    """The PostgreSQL server's processes (postmaster and backends), if this is a local server."""
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cur:
            cur.execute("SHOW data_directory")
            data = cur.fetchone()[0]
        pid = int(Path(data, "postmaster.pid").read_text().split()[0])
        top = psutil.Process(pid)
        return [top, *top.children()]
    except Exception:
        return []


def cpu_of(procs) -> dict:
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def top_statements(limit: int = 8) -> dict | None:
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT query, calls FROM pg_stat_statements")
            return dict(cur.fetchall())
    except Exception:
        return None


def idle(args) -> dict:
    os.environ["ARBOR_WORKERS"] = "2"
    connection.close()
    server = Server()
    try:
        api = Api(server.port, bench_token(USERS[0]))
        connection.close()
        # warm-up: one small tree through the whole path, then let everything settle
        tree = root_id(api.rpc("tasks.create", {"tasks": creation_tasks(20)}))
        api.rpc("tasks.execute", {"task_id": tree, "wait": True, "timeout": 120})
        api.conn.close()
        time.sleep(args.idle_warmup)
        procs = process_tree(server)
        pg = postgres_processes()
        stmts0 = top_statements()
        connection.close()
        cpu0, pg0 = cpu_of(procs), cpu_of(pg)
        t0 = time.monotonic()
        time.sleep(args.idle_seconds)
        cpu1, pg1 = cpu_of(procs), cpu_of(pg)
        wall = time.monotonic() - t0
        stmts1 = top_statements()
        connection.close()
        per = []
        for p in procs:
            if p.pid in cpu0 and p.pid in cpu1:
                per.append(
                    {
                        "pid": p.pid,
                        "role": role(p, server),
                        "cpu_pct": (cpu1[p.pid] - cpu0[p.pid]) / wall * 100,
                    }
                )
        total = sum(r["cpu_pct"] for r in per)
        pg_total = sum(pg1[pid] - pg0[pid] for pid in pg1 if pid in pg0) / wall * 100 if pg0 else None
        out = {
            "seconds": wall,
            "cpu_pct_of_one_core": total,
            "processes": sorted(per, key=lambda r: -r["cpu_pct"]),
            "postgres_cpu_pct": pg_total,
        }
        if stmts0 is not None and stmts1 is not None:
            delta = {q: c - stmts0.get(q, 0) for q, c in stmts1.items() if c - stmts0.get(q, 0) > 0}
            out["statements_per_s"] = sum(delta.values()) / wall
            out["top_statements"] = [
                {"per_s": c / wall, "query": " ".join(q.split())[:160]}
                for q, c in sorted(delta.items(), key=lambda kv: -kv[1])[:8]
            ]
        return out
    finally:
        server.stop()


# --- throughput curve -----------------------------------------------------------------------------


def curve(args) -> dict:
    out: dict = {}
    token = bench_token(USERS[0])
    connection.close()
    for workers in [int(w) for w in args.curve_workers.split(",")]:
        os.environ["ARBOR_WORKERS"] = str(workers)
        server = Server()
        try:
            api = Api(server.port, token)
            row: dict[str, dict[str, Any]] = {}
            for shape in ("W5", "W3"):
                try:
                    runs = run_shape(api, server, shape, args.curve_runs)
                except RuntimeError as exc:  # a tree that did not complete: say so, keep going
                    row[shape] = {"tasks_per_s": None, "error": str(exc)[:300]}
                    print(f"  {workers} worker(s): {shape} {exc}", flush=True)
                    continue
                row[shape] = {
                    "tasks_per_s": statistics.median(r["tasks_per_s"] for r in runs),
                    "runs": runs,
                }
            out[str(workers)] = row
            print(
                f"  {workers} worker(s): W5 {fmt_rate(row['W5'])} tasks/s, W3 {fmt_rate(row['W3'])} tasks/s",
                flush=True,
            )
        finally:
            server.stop()
            connection.close()
    os.environ["ARBOR_WORKERS"] = "2"
    return out


# --- memory over a long run -----------------------------------------------------------------------


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 3:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def memory(args) -> dict:
    from tasks_app.models import Attempt, Task

    os.environ["ARBOR_WORKERS"] = "2"
    per_tree = min(10_000, args.memory_tasks)
    n_trees = math.ceil(args.memory_tasks / per_tree)
    token = bench_token(USERS[0])
    connection.close()
    server = Server()
    samples: list[dict] = []
    tree_ids: list[str] = []
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                cluster = psutil.Process(server.worker.pid).children(recursive=True)
                rss = {}
                for p in cluster:
                    try:
                        rss[p.pid] = p.memory_info().rss
                    except psutil.Error:
                        pass
                done = Task.objects.filter(tree_id__in=list(tree_ids), status="completed").count()
                samples.append({"t": time.monotonic(), "done": done, "rss": rss})
            except Exception as exc:  # keep sampling through a transient error
                print(f"  sampler: {exc}", flush=True)
            stop.wait(args.sample_seconds)
        connection.close()

    try:
        api = Api(server.port, token)
        thread = threading.Thread(target=sampler, daemon=True)
        t0 = time.monotonic()
        for i in range(n_trees):
            n = min(per_tree, args.memory_tasks - i * per_tree)
            tasks = [{"id": "root", "name": "root", "executor": "noop"}] + [
                {"id": f"t{j}", "name": f"t{j}", "executor": "noop", "parent_id": "root"}
                for j in range(n - 1)
            ]
            tree = root_id(api.rpc("tasks.create", {"tasks": tasks}))
            tree_ids.append(tree)
            if i == 0:
                thread.start()
            result = api.rpc("tasks.execute", {"task_id": tree, "wait": True, "timeout": 900})
            if result.get("status") != "completed":
                raise RuntimeError(f"memory tree {i} ended {result.get('status')}")
            print(f"  memory: {(i * per_tree) + n:,} / {args.memory_tasks:,} tasks", end="\r", flush=True)
        wall = time.monotonic() - t0
        time.sleep(args.sample_seconds * 1.5)
        stop.set()
        thread.join()
        print()
        # the worker processes are those that ran attempts of these trees
        workers = {
            int(w.rsplit(":", 1)[1])
            for w in Attempt.objects.filter(tree_id__in=tree_ids).values_list("worker", flat=True).distinct()
            if w and w.rsplit(":", 1)[1].isdigit()
        }
        connection.close()
    finally:
        stop.set()
        server.stop()
    total = args.memory_tasks
    per_worker = {}
    for pid in sorted(workers):
        series = [(s["done"], s["rss"][pid] / 2**20) for s in samples if pid in s["rss"]]
        if not series:
            continue
        steady = [(d, r) for d, r in series if d >= total * 0.1] or series
        k = slope(steady)
        per_worker[str(pid)] = {
            "start_mb": steady[0][1],
            "first_sample_mb": series[0][1],
            "peak_mb": max(r for _, r in series),
            "end_mb": series[-1][1],
            "slope_mb_per_10k": k * 10_000 if k is not None else None,
            "samples": len(series),
        }
    return {
        "tasks": total,
        "trees": n_trees,
        "wall_s": wall,
        "tasks_per_s": total / wall,
        "workers": per_worker,
        "series": [
            {"done": s["done"], "rss_mb": {str(p): r / 2**20 for p, r in s["rss"].items()}} for s in samples
        ],
    }


# --- main -----------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgres" if os.environ.get("DATABASE_URL") else "sqlite")
    parser.add_argument("--only", default="tasks1m,idle,curve,memory")
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks in the database (tasks1m)")
    parser.add_argument("--tree-size", type=int, default=100, help="tasks per bulk tree and measured tree")
    parser.add_argument("--requests", type=int, default=50, help="requests per endpoint (p95)")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--idle-warmup", type=float, default=10.0)
    parser.add_argument("--curve-workers", default="1,2,4")
    parser.add_argument("--curve-runs", type=int, default=1)
    parser.add_argument("--memory-tasks", type=int, default=100_000)
    parser.add_argument("--sample-seconds", type=float, default=2.0)
    args = parser.parse_args()
    only = args.only.split(",")
    unknown = set(only) - {"tasks1m", "idle", "curve", "memory"}
    if unknown:
        parser.error(f"unknown --only part(s): {', '.join(sorted(unknown))}")
    if "tasks1m" in only and connection.vendor != "postgresql":
        parser.error("tasks1m bulk-loads with PostgreSQL SQL: set DATABASE_URL to a PostgreSQL server")
    (ROOT / ".tmp").mkdir(exist_ok=True)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    load = os.getloadavg()
    report: dict = {"db": args.db, "args": vars(args), "loadavg_at_start": load}
    t_all = time.monotonic()
    steps = {"tasks1m": tasks1m, "idle": idle, "curve": curve, "memory": memory}
    for name in ("tasks1m", "idle", "curve", "memory"):
        if name in only:
            print(f"=== scale: {name} ===", flush=True)
            t0 = time.monotonic()
            report[name] = steps[name](args)
            report[name]["step_s"] = time.monotonic() - t0
    report["total_s"] = time.monotonic() - t_all
    report["loadavg_at_end"] = os.getloadavg()
    out = ROOT / "bench" / "results" / f"scale-{args.db}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    print(f"JSON: {out}")


def print_table(report: dict) -> None:
    la = ", ".join(f"{x:.2f}" for x in report["loadavg_at_start"])
    print(f"\nArbor scale checks on {report['db']} (served, DEBUG=0; load average at start {la})")
    if "tasks1m" in report:
        r = report["tasks1m"]
        print(
            f"\nlist and tree endpoints, {r['tasks_in_db']:,} tasks in {r['trees_in_db']:,} trees "
            f"(measured user: {r['tasks_of_measured_user']:,} tasks, {r['trees_of_measured_user']:,} "
            f"trees; load {r['load']['load_s']:.0f} s); goal p95 < {TARGET_P95_MS:.0f} ms"
        )
        for label, row in r["endpoints"].items():
            print(f"  {label:<34} {fmt_row(row)}")
    if "idle" in report:
        r = report["idle"]
        flag = "ok" if r["cpu_pct_of_one_core"] < 1.0 else "ABOVE 1 %"
        print(
            f"\nidle (Daphne + arbor_worker, 2 workers), {r['seconds']:.0f} s: "
            f"{r['cpu_pct_of_one_core']:.2f} % of one core {flag}"
            + (f"; PostgreSQL {r['postgres_cpu_pct']:.2f} %" if r.get("postgres_cpu_pct") is not None else "")
            + (f"; {r['statements_per_s']:.1f} statements/s" if "statements_per_s" in r else "")
        )
        for p in r["processes"]:
            print(f"  {p['role']:<34} pid {p['pid']:<8} {p['cpu_pct']:6.2f} %")
        for s in r.get("top_statements", [])[:5]:
            print(f"  {s['per_s']:6.1f}/s  {s['query'][:100]}")
    if "curve" in report:
        print("\nthroughput by worker processes (served, PostgreSQL)")
        print(f"  {'workers':<10}{'W5 tasks/s':>12}{'W3 tasks/s':>12}")
        for w, row in report["curve"].items():
            if w == "step_s":
                continue
            print(f"  {w:<10}{fmt_rate(row['W5']):>12}{fmt_rate(row['W3']):>12}")
    if "memory" in report:
        r = report["memory"]
        print(
            f"\nmemory per worker process over {r['tasks']:,} noop tasks ({r['trees']} trees, "
            f"{r['tasks_per_s']:.0f} tasks/s)"
        )
        print(f"  {'pid':<10}{'start MB':>10}{'peak MB':>10}{'end MB':>10}{'MB per 10k':>12}")
        for pid, w in r["workers"].items():
            k = w["slope_mb_per_10k"]
            print(
                f"  {pid:<10}{w['start_mb']:>10.1f}{w['peak_mb']:>10.1f}{w['end_mb']:>10.1f}"
                f"{(f'{k:+.2f}' if k is not None else '—'):>12}"
            )
    print(f"\ntotal {report['total_s']:.0f} s")


if __name__ == "__main__":
    main()
