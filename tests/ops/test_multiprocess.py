"""Scale-out: two worker clusters and two Daphne processes on one PostgreSQL run a 1,000-task tree.

Every task runs exactly once (no fault injected), both clusters take work, readiness and metrics
agree from either web process, and a websocket client on either Daphne sees every event.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client

from tasks_app.models import Attempt, Event, ProcessHeartbeat, Task, Tree
from tasks_app.taskmanager import TaskManager
from tests.helpers import wait_for

from .conftest import ROOT, database_url, http_get, is_postgres, metric, parse_metrics

pytestmark = [
    pytest.mark.workers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not is_postgres(), reason="several processes share one database only on PostgreSQL"),
    pytest.mark.timeout(180),
]

STAGES = 9
LEAVES_PER_STAGE = 110  # 1 root + 9 stages + 990 leaves = 1,000 tasks
WORKERS_PER_CLUSTER = 2


def thousand_task_tree() -> list[dict]:
    """A root, a chain of stages, and a fan-out of leaves under each stage: half instant (claimed
    in batches), half supervised sleeps (claimed one by one, which spreads the work)."""
    tasks = [{"id": "root", "name": "root", "executor": "noop"}]
    for s in range(STAGES):
        tasks.append(
            {
                "id": f"s{s}",
                "name": f"stage {s}",
                "parent_id": "root",
                "executor": "echo",
                "inputs": {"result": s},
                "dependencies": ["root" if s == 0 else f"s{s - 1}"],
            }
        )
        for i in range(LEAVES_PER_STAGE):
            sleeper = i % 2 == 0
            tasks.append(
                {
                    "id": f"s{s}l{i}",
                    "name": f"leaf {s}.{i}",
                    "parent_id": f"s{s}",
                    "executor": "sleep" if sleeper else "echo",
                    "inputs": {"seconds": 0.002} if sleeper else {"result": i},
                    "dependencies": [f"s{s}"],
                }
            )
    assert len(tasks) == 1000
    return tasks


def free_ports(count: int, start: int = 58710, end: int = 58799) -> list[int]:
    ports = []
    for port in range(start, end):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free ports in 58710-58799")


class Watcher(threading.Thread):
    """A websocket client of ws/trees/<id>/: records the snapshot's seq and every event's seq."""

    def __init__(self, url: str, cookie: str, origin: str):
        super().__init__(daemon=True)
        self.url, self.cookie, self.origin = url, cookie, origin
        self.connected = threading.Event()
        self.done = threading.Event()
        self.snapshot_seq: int | None = None
        self.seqs: list[int] = []
        self.resnapshots: list[int] = []
        self.error: str | None = None

    def run(self):
        from websockets.sync.client import connect

        try:
            with connect(
                self.url,
                additional_headers={"Cookie": self.cookie},
                origin=self.origin,
                open_timeout=10,
                max_size=2**24,
            ) as ws:
                while not self.done.is_set():
                    try:
                        raw = ws.recv(timeout=0.2)
                    except TimeoutError:
                        continue
                    self.handle(json.loads(raw))
        except Exception as exc:  # reported by the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()

    def handle(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "snapshot":
            if self.snapshot_seq is None:
                self.snapshot_seq = msg["seq"]
                self.connected.set()
            else:
                self.resnapshots.append(msg["seq"])
        elif kind == "event":
            self.seqs.append(msg["seq"])
        elif kind == "events":  # a batch, if the server groups them
            self.seqs.extend(e["seq"] for e in msg.get("events", []))

    @property
    def last_seq(self) -> int:
        return max(self.seqs, default=self.snapshot_seq or 0)


def pg_connections() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() GROUP BY 1"
        )
        return dict(cursor.fetchall())


def table_sizes() -> dict[str, int]:
    """Bytes on disk (with indexes and TOAST) of Arbor's growing tables: sizing figures."""
    tables = ["tasks_app_task", "tasks_app_attempt", "tasks_app_event", "tasks_app_dependency"]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        return {t: _size(cursor, t) for t in tables}


def _size(cursor, table: str) -> int:
    cursor.execute("SELECT pg_total_relation_size(%s)", [table])
    return cursor.fetchone()[0]


def diagnose(tree, processes) -> str:
    from django_q.models import OrmQ

    lines = [
        f"tasks: {dict(Task.objects.filter(tree=tree).values_list('status').annotate(n=Count('id')))}",
        f"attempts: {dict(Attempt.objects.filter(tree=tree).values_list('outcome').annotate(n=Count('id')))}",
        f"wake-up jobs: {list(OrmQ.objects.values_list('key', 'lock'))}",
        f"heartbeats: {list(ProcessHeartbeat.objects.values_list('label', 'pid', 'seen_at', 'info'))}",
    ]
    for name in ("worker-cluster-a", "worker-cluster-b"):
        lines.append(f"--- {name}.log\n" + processes.log(name)[-3000:])
    return "\n".join(lines)


def test_two_clusters_and_two_daphnes_run_a_thousand_task_tree(
    processes, django_user_model, tmp_path, settings
):
    user = django_user_model.objects.create_user("scale", password="pw-scale-123")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    tm = TaskManager(user)
    tree = tm.create_tree(thousand_task_tree())

    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.ops.settings_processes",
        "ARBOR_DISPATCH": "q2",
        "ARBOR_WORKERS": str(WORKERS_PER_CLUSTER),
        "ARBOR_METRICS_CACHE_SECONDS": "0",
        "ARBOR_VAR_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    web_ports = free_ports(2)
    started = time.monotonic()
    workers = {
        label: processes.manage(f"worker-{label}", ["arbor_worker"], {**env, "ARBOR_WORKER_LABEL": label})
        for label in ("cluster-a", "cluster-b")
    }
    webs = {port: processes.daphne(f"web-{port}", port, env) for port in web_ports}
    base = {port: f"http://127.0.0.1:{port}" for port in web_ports}
    try:
        for port in web_ports:
            wait_for(
                lambda p=port: http_get(base[p] + "/healthz")[0] == 200, 60, message=f"daphne :{port} up"
            )
        wait_for(
            lambda: ProcessHeartbeat.objects.filter(role="worker", info__cluster_alive=True).count() == 2,
            60,
            message="both worker clusters beating",
        )
        for port in web_ports:
            status, body = http_get(base[port] + "/readyz")
            assert status == 200, body
        startup = time.monotonic() - started

        watchers = [
            Watcher(f"ws://127.0.0.1:{port}/ws/trees/{tree.id}/", cookie, base[port]) for port in web_ports
        ]
        for w in watchers:
            w.start()
        for w in watchers:
            w.connected.wait(15)
        ws_ready = all(w.snapshot_seq is not None for w in watchers)

        settings.ARBOR_DISPATCH = "q2"  # this process enqueues the first wake-ups itself
        run_started = time.monotonic()
        tm.execute(tree.id)
        peak: dict[str, int] = {}

        def finished():
            for app, n in pg_connections().items():
                peak[app] = max(peak.get(app, 0), n)
            return Tree.objects.filter(id=tree.id, status__in=["completed", "failed", "cancelled"]).exists()

        try:
            wait_for(finished, 120, interval=0.25, message="the tree finished")
        except AssertionError:
            pytest.fail(diagnose(tree, processes))
        run_seconds = time.monotonic() - run_started

        tree.refresh_from_db()
        # metrics and readiness agree from either web process
        for port in web_ports:
            status, text = http_get(base[port] + "/metrics")
            assert status == 200
            samples = parse_metrics(text)
            assert metric(samples, "arbor_tasks", status="completed") == 1000
            assert metric(samples, "arbor_worker_clusters_alive") == 2
            assert metric(samples, "arbor_attempts_recent", outcome="worker_lost") == 0
            assert metric(samples, "arbor_claim_latency_samples") == 1000

        if ws_ready:
            wait_for(
                lambda: all(w.last_seq >= tree.last_seq for w in watchers),
                30,
                message="websocket clients caught up",
            )
        for w in watchers:
            w.done.set()
    finally:
        codes = {name: processes.stop(proc, timeout=40) for name, proc in [*workers.items(), *webs.items()]}

    # every task ran exactly once
    assert tree.status == "completed", Tree.objects.get(id=tree.id).status
    statuses = dict(Task.objects.filter(tree=tree).values_list("status").annotate(n=Count("id")))
    assert statuses == {"completed": 1000}
    attempts = list(Attempt.objects.filter(tree=tree).values_list("task_id", "outcome", "number", "worker"))
    assert len(attempts) == 1000
    assert len({a[0] for a in attempts}) == 1000
    assert {a[1] for a in attempts} == {"completed"} and {a[2] for a in attempts} == {1}

    # work was shared between both clusters
    by_cluster: dict[str, int] = {}
    for *_, worker in attempts:
        label = worker.split(":", 1)[0]
        by_cluster[label] = by_cluster.get(label, 0) + 1
    assert set(by_cluster) == {"cluster-a", "cluster-b"}, by_cluster
    assert min(by_cluster.values()) >= 50, by_cluster

    # clean stop: SIGTERM drains, each supervisor deletes its heartbeat
    assert all(code == 0 for name, code in codes.items() if str(name).startswith("cluster")), codes
    assert not ProcessHeartbeat.objects.exists()

    report = {
        "startup_seconds": round(startup, 2),
        "run_seconds": round(run_seconds, 2),
        "tasks_per_second": round(1000 / run_seconds, 1),
        "attempts_by_cluster": by_cluster,
        "peak_connections_by_application": peak,
        "events": Event.objects.filter(tree=tree).count(),
        "table_bytes": table_sizes(),
    }
    artifacts = Path(ROOT / "tests" / "artifacts")
    if artifacts.is_dir():
        (artifacts / "ops_multiprocess.json").write_text(json.dumps(report, indent=2))
    print("multiprocess run:", json.dumps(report))

    # a websocket client on either Daphne sees every event, in order, with no gap
    if not ws_ready:
        errors = "; ".join(w.error or "no snapshot" for w in watchers)
        pytest.xfail(f"ws/trees/<id>/ is not served yet (live updates, issue 5): {errors}")
    for w in watchers:
        assert w.resnapshots == [], f"{w.url}: re-snapshotted at {w.resnapshots}"
        assert w.seqs == list(range(w.snapshot_seq + 1, tree.last_seq + 1)), w.url
