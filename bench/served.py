"""The served benchmark: Arbor as a user meets it, through Daphne and HTTP with production settings.

    DATABASE_URL=... .venv/bin/python bench/served.py --db postgres --runs 3

Starts Daphne (``orchestrator_site.asgi``, ``DEBUG=0``) on a free loopback port and ``manage.py
arbor_worker`` (``ARBOR_WORKERS`` = 2 worker processes), then for each shape: JSON-RPC
``tasks.create`` (untimed), then ``tasks.execute`` with ``wait: true`` timed from the request to
its answer (the tree is terminal when it answers). Also times creating a 10,000-task tree through
JSON-RPC ``tasks.create`` and through ``POST /api/v1/trees/``. Statements per task come from
``pg_stat_statements`` (the whole server: web, workers, django-q2), CPU per task is the sum over
Daphne and the worker processes. Writes bench/results/served-<db>.json and prints a table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# production settings for every process started from here (and for this one, which only migrates,
# creates the user and its token, and reads pg_stat_statements)
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ["SECURE_SSL_REDIRECT"] = "0"
os.environ["SECURE_HSTS_SECONDS"] = "0"
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("ARBOR_THROTTLE_USER", "10000000/min")
os.environ.setdefault("ARBOR_WORKERS", "2")
os.environ.setdefault("ARBOR_DISPATCH", "q2")
os.environ.setdefault("ARBOR_LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from shapes import PER_HOP, SHAPES, creation_tasks, median, pg_statements  # noqa: E402

from tasks_app.models import Tree  # noqa: E402

TERMINAL = {"completed", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Daphne + arbor_worker, both in their own session (stopped as a group)."""

    def __init__(self):
        self.port = free_port()
        env = {**os.environ}
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "orchestrator_site.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(ROOT / ".tmp" / "bench-served-daphne.log", "w"),  # noqa: SIM115
        )
        self.worker = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "arbor_worker"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(ROOT / ".tmp" / "bench-served-worker.log", "w"),  # noqa: SIM115
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            kids = psutil.Process(self.worker.pid).children(recursive=True)
            if len(kids) >= int(os.environ["ARBOR_WORKERS"]) + 3 and self._web_up():
                time.sleep(1.0)
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("daphne or the worker cluster did not start (see .tmp/bench-served-*.log)")

    def _web_up(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return True
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        total = 0.0
        for root in (self.web, self.worker):
            try:
                procs = [psutil.Process(root.pid), *psutil.Process(root.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in procs:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        return total

    def stop(self):
        for proc in (self.web, self.worker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.web, self.worker):
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


class Api:
    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.rpc_id = 0

    def post(self, path: str, body) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.conn.request("POST", path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def rpc(self, method: str, params) -> Any:
        self.rpc_id += 1
        status, body = self.post(
            "/tasks", {"jsonrpc": "2.0", "id": self.rpc_id, "method": method, "params": params}
        )
        if status != 200 or "error" in body:
            raise RuntimeError(f"{method}: HTTP {status} {str(body)[:300]}")
        return body["result"]


def bench_token(username: str) -> str:
    """A one-day bearer token for ``username`` (created if missing); returns the clear token."""
    from tasks_app.services import tokens

    user, _ = get_user_model().objects.get_or_create(username=username)
    _, raw = tokens.token_issue(user=user, name="bench", expires_in_days=1, source="bench")
    return raw


def root_id(created) -> str:
    rows = created if isinstance(created, list) else [created]
    return next(r["id"] for r in rows if not r.get("parent_id"))


def ended_at(root: str):
    """When the transaction that ended the tree committed: on PostgreSQL with
    ``track_commit_timestamp`` (scripts/bench.sh turns it on), the commit time of the tree row's
    last write; otherwise its ``finished_at`` — the start of that transaction, so the time from it
    to the answer includes the transaction itself (an upper bound)."""
    tree = Tree.objects.filter(tasks__id=root).values("id", "finished_at").first()
    if tree is None:
        return None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            try:  # (autocommit: a failed statement leaves nothing to roll back)
                cursor.execute(
                    "SELECT pg_xact_commit_timestamp(xmin) FROM tasks_app_tree WHERE id = %s", [tree["id"]]
                )
                (committed,) = cursor.fetchone()
            except Exception:  # track_commit_timestamp is off
                committed = None
        if committed is not None:
            return committed
    return tree["finished_at"]


def run_shape(api: Api, server: Server, name: str, runs: int) -> list[dict]:
    out = []
    for _ in range(runs):
        tasks = SHAPES[name]()
        root = root_id(api.rpc("tasks.create", {"tasks": tasks}))
        n = len(tasks)
        cpu0, s0 = server.cpu_seconds(), pg_statements()
        t0 = time.perf_counter()
        result = api.rpc("tasks.execute", {"task_id": root, "wait": True, "timeout": 900})
        wall = time.perf_counter() - t0
        answered = time.time()
        cpu1, s1 = server.cpu_seconds(), pg_statements()
        if result.get("status") != "completed":
            raise RuntimeError(f"{name}: tree ended {result.get('status')}: {str(result)[:300]}")
        finished = ended_at(root)
        out.append(
            {
                "wall_s": wall,
                "tasks_per_s": n / wall,
                "per_hop_ms": wall / n * 1000 if name in PER_HOP else None,
                "pg_statements_per_task": (s1 - s0) / n if s0 is not None and s1 is not None else None,
                "cpu_s_per_task": (cpu1 - cpu0) / n,
                "wait_answer_ms": (answered - finished.timestamp()) * 1000 if finished else None,
                "tasks": n,
            }
        )
    return out


def run_create(api: Api, runs: int) -> dict:
    tasks = creation_tasks()
    body_rest = json.dumps(tasks).encode()
    body_rpc = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tasks.create", "params": {"tasks": tasks}}
    ).encode()
    rows: dict[str, list[float]] = {"rpc": [], "rest": []}
    for _ in range(runs):
        for kind, path, body in (("rpc", "/tasks", body_rpc), ("rest", "/api/v1/trees/", body_rest)):
            t0 = time.perf_counter()
            status, answer = api.post(path, body)
            wall = time.perf_counter() - t0
            ok = status == 200 and "error" not in answer if kind == "rpc" else status == 201
            if not ok:
                raise RuntimeError(f"create via {kind}: HTTP {status} {str(answer)[:300]}")
            rows[kind].append(wall)
    return {kind: {"runs": walls, "wall_s": statistics.median(walls)} for kind, walls in rows.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgres" if os.environ.get("DATABASE_URL") else "sqlite")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    parser.add_argument("--only", default="W1,W2,W3,W4,W5,W6,create")
    args = parser.parse_args()
    only = set(args.only.split(","))
    (ROOT / ".tmp").mkdir(exist_ok=True)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    raw = bench_token("bench-served")
    connection.close()
    report = {"db": args.db, "workers": int(os.environ["ARBOR_WORKERS"]), "runs": args.runs, "shapes": {}}
    server = Server()
    try:
        api = Api(server.port, raw)
        for name in SHAPES:
            if name not in only:
                continue
            rows = run_shape(api, server, name, args.runs)
            report["shapes"][name] = {
                "runs": rows,
                **{
                    k: median(rows, k)
                    for k in (
                        "wall_s",
                        "tasks_per_s",
                        "per_hop_ms",
                        "pg_statements_per_task",
                        "cpu_s_per_task",
                        "wait_answer_ms",
                    )
                },
            }
            print(f"served {args.db} {name}: median {report['shapes'][name]['wall_s']:.3f}s", flush=True)
        if "create" in only:
            report["create_10000"] = run_create(api, args.runs)
    finally:
        server.stop()
    out = ROOT / "bench" / "results" / f"served-{args.db}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"JSON: {out}")


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def print_table(report):
    print(
        f"\nArbor served (Daphne, DEBUG=0, JSON-RPC execute wait) on {report['db']}, "
        f"{report['workers']} workers, median of {report['runs']}"
    )
    print(
        f"{'shape':<8}{'wall s':>9}{'tasks/s':>10}{'ms/hop':>9}{'stmts/task':>12}{'cpu ms/task':>13}"
        f"{'wait ms':>9}"
    )
    for name, row in report["shapes"].items():
        cpu = row["cpu_s_per_task"] * 1000 if row["cpu_s_per_task"] is not None else None
        print(
            f"{name:<8}{fmt(row['wall_s'], '.3f'):>9}{fmt(row['tasks_per_s'], '.0f'):>10}"
            f"{fmt(row['per_hop_ms'], '.2f'):>9}{fmt(row['pg_statements_per_task'], '.1f'):>12}"
            f"{fmt(cpu, '.2f'):>13}{fmt(row.get('wait_answer_ms'), '.1f'):>9}"
        )
    if "create_10000" in report:
        c = report["create_10000"]
        print(f"create 10,000 tasks: JSON-RPC {c['rpc']['wall_s']:.3f} s, REST {c['rest']['wall_s']:.3f} s")


if __name__ == "__main__":
    main()
