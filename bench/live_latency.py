"""Commit-to-client latency of live updates, per delivery path.

For each path a fresh database, a real Daphne (port 58300-58399) and a websocket client in this
process; another process commits ``--events`` events (``--interval`` apart) through the services'
event outbox and notes when each commit returned. Latency = the client's receive time minus that
commit time (same machine, same clock). Paths:

* ``sqlite``   - the embedded default: each web process polls the event table;
* ``postgres`` - the tail is woken by LISTEN/NOTIFY;
* ``redis``    - PostgreSQL (SQLite if no PostgreSQL) with wake-ups through the channels_redis layer
  (``REDIS_URL``, or a private redis-server if one is installed).

    .venv/bin/python bench/live_latency.py [--paths sqlite,postgres,redis] [--events 300]

Prints a table and writes bench/results/live_latency.json. Targets: p99 <= 50 ms on PostgreSQL,
<= 250 ms on the embedded default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".tmp" / "bench-live"
RESULTS = ROOT / "bench" / "results" / "live_latency.json"
PORTS = range(58300, 58398)
REDIS_PORT = 58398
PG_DB = "arbor_live_bench"
TARGETS_MS = {"sqlite": 250.0, "postgres": 50.0, "redis": 50.0}
WARMUP = 10


# --- child roles (run with the path's DATABASE_URL) ---------------------------------------------


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    import django

    django.setup()


def role_setup() -> None:
    _django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from tasks_app.models import ApiToken
    from tasks_app.services import trees

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-live")
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, name="bench", key_prefix=raw[:12], digest=ApiToken.hash(raw))
    tree = trees.tree_create(owner=user, tasks=[{"id": "t", "name": "t", "executor": "noop"}], actor=user)
    print(json.dumps({"tree": str(tree.id), "token": raw}))


def role_write(tree_id: str, events: int, interval: float) -> None:
    _django()
    from django.db import transaction

    from tasks_app.services.event_log import EventBuffer

    out = []
    for i in range(events):
        with transaction.atomic():
            buf = EventBuffer(source="bench")
            buf.add(tree_id, "bench.tick", i=i, flush_at=time.time())
            seq = buf.flush()[0].seq
        out.append((seq, time.time()))  # the commit has returned
        time.sleep(interval)
    time.sleep(0.5)  # let wake-up threads finish before the interpreter exits
    print(json.dumps(out))


# --- orchestration -------------------------------------------------------------------------------


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 58300-58397")


def child(args, env, **kw):
    return subprocess.run(
        [sys.executable, __file__, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True, **kw
    )


def base_env(database_url: str, redis_url: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            "ARBOR_DISPATCH": "none",
            "ARBOR_VAR_DIR": str(WORK),
            "ARBOR_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


# a private server of its own (not the test suite's), destroyed at the end
PG_ENV = {"ARBOR_PG_PORT": "55450", "ARBOR_PG_DIR": str(ROOT / ".tmp" / "live-bench-pg")}


def postgres_url() -> str | None:
    try:
        url = subprocess.run(
            ["bash", "scripts/pg.sh", "start"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, **PG_ENV},
        ).stdout.strip()
    except Exception as exc:  # no PostgreSQL here
        print(f"(PostgreSQL unavailable: {exc})")
        return None
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    return url.rsplit("/", 1)[0] + "/" + PG_DB


def sqlite_url() -> str:
    path = WORK / "live.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return f"sqlite:///{path}"


class Redis:
    def __init__(self):
        self.proc = None
        self.url = os.environ.get("REDIS_URL", "")

    def start(self) -> str | None:
        if self.url:
            return self.url
        binary = shutil.which("redis-server")
        if not binary:
            return None
        self.proc = subprocess.Popen(
            [binary, "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=0.1):
                    return f"redis://127.0.0.1:{REDIS_PORT}/0"
            except OSError:
                time.sleep(0.05)
        return None

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def start_daphne(env) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "orchestrator_site.asgi:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(WORK / "daphne.log", "a"),  # noqa: SIM115
    )
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError("daphne exited; see " + str(WORK / "daphne.log"))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("daphne did not start")


def stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


async def measure(port: int, env: dict, tree: str, token: str, events: int, interval: float) -> list[float]:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    received: dict[int, float] = {}
    async with connect(
        f"ws://127.0.0.1:{port}/ws/trees/{tree}/",
        origin=Origin(f"http://127.0.0.1:{port}"),
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        max_size=None,
        max_queue=None,
    ) as ws:
        snap = json.loads(await ws.recv())
        assert snap["type"] == "snapshot", snap
        await asyncio.sleep(1.0)  # the tail settles (and, with a wake-up source, stops polling fast)
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            "write",
            "--tree",
            tree,
            "--events",
            str(events),
            "--interval",
            str(interval),
            env=env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        last = snap["seq"] + events
        while not received or max(received) < last:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame.get("type") == "event" and frame.get("kind") == "bench.tick":
                received[frame["seq"]] = time.time()
        out, err = await writer.communicate()
        if writer.returncode:
            raise RuntimeError(err.decode())
    commits = dict(json.loads(out))
    seqs = sorted(commits)[WARMUP:]
    return [(received[s] - commits[s]) * 1000.0 for s in seqs]


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run_path(name: str, database_url: str, redis_url: str, events: int, interval: float) -> dict:
    env = base_env(database_url, redis_url)
    setup = json.loads(child(["--role", "setup"], env, timeout=300).stdout.strip().splitlines()[-1])
    daphne, port = start_daphne(env)
    try:
        lat = asyncio.run(measure(port, env, setup["tree"], setup["token"], events + WARMUP, interval))
    finally:
        stop(daphne)
    return {
        "path": name,
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "wake_up": {"sqlite": "poll", "postgres": "LISTEN/NOTIFY", "redis": "channels_redis group_send"}[
            name
        ],
        "events": len(lat),
        "interval_ms": interval * 1000,
        "p50_ms": round(statistics.median(lat), 2),
        "p90_ms": round(quantile(lat, 0.90), 2),
        "p99_ms": round(quantile(lat, 0.99), 2),
        "max_ms": round(max(lat), 2),
        "target_p99_ms": TARGETS_MS[name],
        "met": quantile(lat, 0.99) <= TARGETS_MS[name],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["setup", "write"])
    parser.add_argument("--tree")
    parser.add_argument("--paths", default="sqlite,postgres,redis")
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    if args.role == "setup":
        return role_setup()
    if args.role == "write":
        return role_write(args.tree, args.events, args.interval)

    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    redis = Redis()
    try:
        for name in args.paths.split(","):
            if name == "sqlite":
                results.append(run_path(name, sqlite_url(), "", args.events, args.interval))
            elif name == "postgres":
                pg = postgres_url()
                if pg:
                    results.append(run_path(name, pg, "", args.events, args.interval))
            elif name == "redis":
                url = redis.start()
                if not url:
                    print("(Redis unavailable: set REDIS_URL or install redis-server; skipped)")
                    continue
                db = postgres_url() or sqlite_url()  # a fresh database for this path too
                results.append(run_path(name, db, url, args.events, args.interval))
            print(f"  {name}: done", flush=True)
    finally:
        redis.stop()
        subprocess.run(
            ["bash", "scripts/pg.sh", "destroy"],
            cwd=ROOT,
            capture_output=True,
            env={**os.environ, **PG_ENV},
            check=False,
        )
    print()
    print(
        f"{'path':<10} {'database':<11} {'wake-up':<27} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'target':>7}  met"
    )
    for r in results:
        print(
            f"{r['path']:<10} {r['database']:<11} {r['wake_up']:<27} {r['events']:>4} {r['p50_ms']:>8.2f} "
            f"{r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['target_p99_ms']:>7.0f}  "
            f"{'yes' if r['met'] else 'NO'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "live commit-to-client latency",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                },
                "events_per_path": args.events,
                "interval_ms": args.interval * 1000,
                "warmup_events": WARMUP,
                "results": results,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
