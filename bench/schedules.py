"""Schedule fire latency: 1,000 schedules due in the same minute, real ``arbor_worker`` processes.

    url=$(ARBOR_PG_PORT=15509 bash scripts/pg.sh start)
    DATABASE_URL=$url .venv/bin/python bench/schedules.py                 # spread over one minute
    DATABASE_URL=$url .venv/bin/python bench/schedules.py --spread 0      # all due at the same second

Creates N one-task trees and N ``once`` schedules (paused while they are created, then given due
times spread evenly over ``--spread`` seconds and enabled in one statement), starts ``--processes``
arbor_worker supervisors (each runs the scheduler tick every ARBOR_SCHEDULER_INTERVAL and a
django-q2 cluster of ARBOR_WORKERS), and waits until every schedule fired. Lateness =
``fired_at - scheduled_for`` (when the tick claimed it) and ``started_at - scheduled_for`` (set
just before the fire's transaction commits: when the run becomes visible). Also checks that each
schedule fired exactly once.
Prints p50/p90/p99/max and writes bench/results/schedules-<db>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
os.environ.setdefault("ARBOR_DISPATCH", "q2")
os.environ.setdefault("ARBOR_WORKERS", "1")
os.environ.setdefault("ARBOR_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from tasks_app.models import Schedule, ScheduleFire, Tree  # noqa: E402
from tasks_app.services import schedules, trees  # noqa: E402


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def start_worker(index: int, var: Path):
    env = {**os.environ, "ARBOR_VAR_DIR": str(var / f"w{index}")}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "arbor_worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_worker(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument(
        "--spread", type=float, default=60.0, help="seconds over which the due times are spread"
    )
    parser.add_argument("--processes", type=int, default=2, help="arbor_worker supervisors")
    parser.add_argument(
        "--lead", type=float, default=10.0, help="seconds between setup and the first due time"
    )
    args = parser.parse_args()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-schedules")
    Tree.objects.filter(owner=user).delete()  # schedules and fires cascade
    print(f"{connection.vendor}: creating {args.schedules} trees…", flush=True)
    made = [
        trees.tree_create(owner=user, tasks=[{"id": "r", "name": f"sched-{i}", "executor": "noop"}])
        for i in range(args.schedules)
    ]
    var = ROOT / ".tmp" / f"bench-schedules-{os.getpid()}"
    var.mkdir(parents=True, exist_ok=True)
    procs = [start_worker(i, var) for i in range(args.processes)]
    try:
        time.sleep(3.0)  # clusters up
        # Create every schedule paused first (creating 1,000 takes longer than the lead on a busy
        # machine: they would become due while being created, and the figures would measure the
        # setup), then give them their due times and enable them all in one statement.
        parked = (timezone.now() + dt.timedelta(days=1)).isoformat()
        for tree in made:
            schedules.schedule_create(owner=user, tree=tree, kind="once", expression=parked, enabled=False)
        first = timezone.now().replace(microsecond=0) + dt.timedelta(seconds=args.lead)
        step = args.spread / args.schedules if args.spread else 0.0
        rows = list(Schedule.objects.filter(owner=user).order_by("created_at"))
        for i, row in enumerate(rows):
            row.next_run_at = first + dt.timedelta(seconds=step * i)
            row.expression = row.next_run_at.isoformat()
        Schedule.objects.bulk_update(rows, ["next_run_at", "expression"], batch_size=200)
        Schedule.objects.filter(owner=user).update(enabled=True)
        if timezone.now() >= first:
            print(
                f"WARNING: setup ended {(timezone.now() - first).total_seconds():.1f}s after the "
                "first due time"
            )
        ids = list(Schedule.objects.filter(owner=user).values_list("id", flat=True))
        print(
            f"due from {first:%H:%M:%S} over {args.spread:g}s; {args.processes} arbor_worker(s) × "
            f"{settings.ARBOR_WORKERS} worker(s); tick {settings.ARBOR_SCHEDULER_INTERVAL}s",
            flush=True,
        )
        deadline = time.monotonic() + args.lead + args.spread + 300
        while time.monotonic() < deadline:
            if ScheduleFire.objects.filter(schedule_id__in=ids).count() >= len(ids):
                break
            time.sleep(0.5)
        time.sleep(2 * settings.ARBOR_SCHEDULER_INTERVAL + 1)  # any duplicate would show up by now
    finally:
        for proc in procs:
            stop_worker(proc)
    fires = list(
        ScheduleFire.objects.filter(schedule_id__in=ids).values(
            "scheduled_for", "fired_at", "started_at", "status", "worker"
        )
    )
    per_schedule = (
        ScheduleFire.objects.filter(schedule_id__in=ids).values("schedule_id").annotate(n=Count("id"))
    )
    duplicates = sum(1 for row in per_schedule if row["n"] > 1)
    runs = sum(Tree.objects.filter(owner=user).values_list("run_count", flat=True))
    late = [(f["fired_at"] - f["scheduled_for"]).total_seconds() for f in fires]
    start_late = [(f["started_at"] - f["scheduled_for"]).total_seconds() for f in fires if f["started_at"]]
    report = {
        "db": connection.vendor,
        "schedules": len(ids),
        "fired": len(fires),
        "spread_s": args.spread,
        "processes": args.processes,
        "workers_per_process": settings.ARBOR_WORKERS,
        "tick_s": settings.ARBOR_SCHEDULER_INTERVAL,
        "schedules_with_two_fires": duplicates,
        "tree_runs": runs,
        "fired_by": sorted(
            {f["worker"].rsplit(":", 1)[0] + ":" + f["worker"].rsplit(":", 1)[1] for f in fires}
        ),
        "lateness_s": {
            q: percentile(late, n) for q, n in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        },
        "run_start_lateness_s": {
            q: percentile(start_late, n) for q, n in (("p50", 50), ("p99", 99), ("max", 100))
        },
    }
    out = ROOT / "bench" / "results" / f"schedules-{connection.vendor}-spread{int(args.spread)}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    lat = report["lateness_s"]
    print(f"fired {len(fires)}/{len(ids)}; schedules fired twice: {duplicates}; tree runs: {runs}")
    print(
        f"fire lateness: p50 {lat['p50']:.3f}s  p90 {lat['p90']:.3f}s  p99 {lat['p99']:.3f}s  max "
        f"{lat['max']:.3f}s"
    )
    st = report["run_start_lateness_s"]
    print(
        f"run start lateness (fire committed): p50 {st['p50']:.3f}s  p99 {st['p99']:.3f}s  max "
        f"{st['max']:.3f}s"
    )
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
