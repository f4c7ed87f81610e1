"""Dask distributed and Celery + Redis on the same shapes, in their own virtualenvs (.tmp/peer-*).

    .venv/bin/python bench/peers.py --runs 3          # installs the virtualenvs on first use

Each peer gets 2 worker processes, as Arbor does; W5/W6 bodies sleep 5 ms like Arbor's ``sleep``.
redis-server runs on a private port for the duration (``apt-get install redis-server`` first if
it is missing). Writes bench/results/peers.json and prints it; ``bench/compare.py`` prints the
ratios against bench/results/served-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP = ROOT / ".tmp"
PEERS = {
    "dask": ("dask[distributed]", "dask_shapes.py"),
    "celery": ("celery[redis]", "celery_shapes.py"),
}


def venv(name: str, requirement: str) -> Path:
    path = TMP / f"peer-{name}"
    python = path / "bin" / "python"
    stamp = path / ".installed"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
        stamp.touch()
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    exe = shutil.which("redis-server")
    if exe is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "redis-server"], check=True, stdout=subprocess.DEVNULL
        )
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def run_peer(name: str, runs: int, only: str, env_extra=None) -> dict:
    requirement, script = PEERS[name]
    python = venv(name, requirement)
    proc = subprocess.run(
        [str(python), str(ROOT / "bench" / "peers" / script), "--runs", str(runs), "--only", only],
        env={**os.environ, **(env_extra or {})},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    sys.stderr.write(proc.stderr[-2000:] if proc.returncode else "")
    if proc.returncode:
        return {"error": f"exit {proc.returncode}"}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)
    return {"error": "no result"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    parser.add_argument("--only", default="W1,W2,W3,W4,W5,W6")
    args = parser.parse_args()
    report = {"runs": args.runs, "dask": run_peer("dask", args.runs, args.only)}
    redis, url = start_redis()
    try:
        report["celery"] = run_peer("celery", args.runs, args.only, {"PEER_REDIS_URL": url})
    finally:
        os.killpg(redis.pid, signal.SIGTERM)
        redis.wait(timeout=10)
    out = ROOT / "bench" / "results" / "peers.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"peers JSON: {out}")


if __name__ == "__main__":
    main()
