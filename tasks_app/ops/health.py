"""Liveness, readiness and process heartbeats.

* :func:`beat` — the worker role's supervisor (``manage.py arbor_worker``) calls it after every
  successful reaper pass; it upserts one :class:`~tasks_app.models.ProcessHeartbeat` row per
  process (throttled), recording whether the process's django-q2 cluster child is alive.
* :func:`readiness` — runs the checks behind ``/readyz``. ``scope="web"`` runs only what this web
  process needs to serve requests (database, broker table, Redis); ``scope="all"`` adds the
  fleet-wide checks (workers alive, reaper alive, queue not stalled) that monitoring wants but a
  load balancer must not act on — a dead worker fleet should page someone, not take the web
  tier out of rotation.

Every check returns ``{"ok": bool, "ms": float, ...details}`` and never raises.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from tasks_app import conf

logger = logging.getLogger(__name__)

WORKER_ROLE = "worker"
PRUNE_AFTER = dt.timedelta(days=1)
WEB_CHECKS = ("database", "broker", "redis")
ALL_CHECKS = (*WEB_CHECKS, "workers", "reaper", "queue")

_last_beat = {"at": 0.0}


# --- heartbeats -------------------------------------------------------------------------------


def stale_after() -> float:
    """Seconds without a heartbeat after which a process counts as gone."""
    return float(conf.get("ARBOR_HEALTH_STALE_SECONDS"))


def beat_interval() -> float:
    return max(
        float(settings.ARBOR_REAPER_INTERVAL), min(float(settings.ARBOR_HEARTBEAT_SECONDS), stale_after() / 3)
    )


def beat(role: str = WORKER_ROLE, *, cluster=None, force: bool = False, now=None) -> bool:
    """Record that this process is alive (at most once per :func:`beat_interval`).

    ``cluster`` is the supervisor's ``subprocess.Popen`` of ``qcluster`` (or None when the
    process runs only the reaper). Never raises: a heartbeat must not break the loop calling it.
    Returns whether a row was written.
    """
    from tasks_app.models import ProcessHeartbeat

    mono = time.monotonic()
    if not force and mono - _last_beat["at"] < beat_interval():
        return False
    now = now or timezone.now()
    info = {
        "cluster_pid": getattr(cluster, "pid", None),
        "cluster_alive": cluster is not None and cluster.poll() is None,
        "workers": settings.ARBOR_WORKERS,
    }
    key = {"role": role, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        updated = ProcessHeartbeat.objects.filter(**key).update(seen_at=now, info=info)
        if not updated:
            ProcessHeartbeat.objects.create(
                **key,
                label=conf.get("ARBOR_WORKER_LABEL"),
                started_at=now,
                seen_at=now,
                info=info,
            )
            ProcessHeartbeat.objects.filter(seen_at__lt=now - PRUNE_AFTER).delete()
    except DatabaseError as exc:
        logger.warning("could not record the process heartbeat: %s", exc)
        return False
    _last_beat["at"] = mono
    return True


def forget(role: str = WORKER_ROLE) -> None:
    """Delete this process's heartbeat row (clean shutdown). Never raises."""
    from tasks_app.models import ProcessHeartbeat

    try:
        ProcessHeartbeat.objects.filter(role=role, host=socket.gethostname(), pid=os.getpid()).delete()
    except DatabaseError as exc:
        logger.warning("could not delete the process heartbeat: %s", exc)


def live_processes(role: str = WORKER_ROLE, now=None):
    from tasks_app.models import ProcessHeartbeat

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_after())
    return ProcessHeartbeat.objects.filter(role=role, seen_at__gte=cutoff)


# --- checks -----------------------------------------------------------------------------------


def _timed(fn):
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # a check reports, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if isinstance(exc, DatabaseError):
            _drop_broken_connection()
    result["ms"] = round((time.perf_counter() - start) * 1000, 2)
    return result


def _drop_broken_connection() -> None:
    try:
        conn = connections["default"]
        if not conn.in_atomic_block:
            conn.close()
    except Exception:
        pass


def check_database() -> dict:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connections["default"].vendor}


def check_broker() -> dict:
    """django-q2's ORM broker table is reachable; how many wake-up jobs are queued or taken."""
    from django_q.models import OrmQ

    alias = settings.Q_CLUSTER.get("orm", "default")
    qs = OrmQ.objects.using(alias).filter(key=settings.Q_CLUSTER["name"])
    now = timezone.now()
    return {"ok": True, "queued": qs.filter(lock__lte=now).count(), "taken": qs.filter(lock__gt=now).count()}


def check_redis() -> dict:
    url = settings.REDIS_URL
    if not url:
        return {"ok": True, "skipped": "REDIS_URL is not set"}
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def check_workers() -> dict:
    """At least one worker supervisor with a live django-q2 cluster has beaten recently, or an
    attempt was claimed recently (a cluster run without the supervisor still counts)."""
    from tasks_app.models import Attempt

    now = timezone.now()
    rows = list(live_processes(now=now).values_list("host", "pid", "info"))
    clusters = [f"{host}:{pid}" for host, pid, info in rows if (info or {}).get("cluster_alive")]
    if clusters:
        return {"ok": True, "clusters": len(clusters), "processes": clusters[:50]}
    cutoff = now - dt.timedelta(seconds=stale_after())
    if Attempt.objects.filter(started_at__gte=cutoff).exists():
        return {"ok": True, "clusters": 0, "detail": "no heartbeat, but attempts were claimed recently"}
    return {
        "ok": False,
        "clusters": 0,
        "error": f"no worker cluster heartbeat in the last {stale_after():g}s",
    }


def check_reaper() -> dict:
    from tasks_app.models import ProcessHeartbeat

    now = timezone.now()
    live = live_processes(now=now).count()
    if live:
        return {"ok": True, "reapers": live}
    last = (
        ProcessHeartbeat.objects.filter(role=WORKER_ROLE)
        .order_by("-seen_at")
        .values_list("seen_at", flat=True)
        .first()
    )
    age = round((now - last).total_seconds(), 1) if last else None
    return {
        "ok": False,
        "reapers": 0,
        "last_seen_seconds_ago": age,
        "error": f"no reaper heartbeat in the last {stale_after():g}s",
    }


def check_queue() -> dict:
    """Claimable work is not stalled: the oldest ready task waited less than the watchdog's stall
    limit, or some attempt started within that limit (a wedged cluster shows up here)."""
    from tasks_app.models import Attempt

    from .metrics import oldest_ready_age

    now = timezone.now()
    age = oldest_ready_age(now)
    stall = float(settings.ARBOR_WATCHDOG_STALL_SECONDS)
    if age is None or age < stall:
        return {"ok": True, "oldest_ready_seconds": age}
    if Attempt.objects.filter(started_at__gte=now - dt.timedelta(seconds=stall)).exists():
        return {"ok": True, "oldest_ready_seconds": age, "detail": "busy: attempts are being claimed"}
    return {
        "ok": False,
        "oldest_ready_seconds": age,
        "error": f"claimable work waited {age:.0f}s with no claim in the last {stall:g}s",
    }


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "redis": check_redis,
    "workers": check_workers,
    "reaper": check_reaper,
    "queue": check_queue,
}


def readiness(scope: str = "all") -> tuple[bool, dict]:
    """Run the checks of ``scope`` ("web" or "all"). Returns (all ok, {name: result})."""
    names = WEB_CHECKS if scope == "web" else ALL_CHECKS
    results: dict[str, dict] = {}
    for name in names:
        if name != "database" and name != "redis" and not results.get("database", {"ok": True})["ok"]:
            results[name] = {"ok": False, "ms": 0.0, "error": "skipped: the database is unreachable"}
            continue
        results[name] = _timed(CHECKS[name])
    return all(r["ok"] for r in results.values()), results
