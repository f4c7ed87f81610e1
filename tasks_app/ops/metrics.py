"""Prometheus metrics, derived from the database at scrape time (text exposition format 0.0.4).

Served by prometheus_client: a custom ``Collector`` (``ArborCollector``) on a registry of its own
runs the queries below at every scrape, and ``generate_latest`` writes the text. Nothing is counted
in process memory (no ``Counter``/``Gauge`` objects, no default process/platform collectors, which
would describe whichever web process the scrape happened to reach), so any web process answers for
the whole fleet and a restart loses nothing; the only per-process figures (``arbor_live_*``) carry
``host`` and ``pid`` labels. Counts over the whole tables (tasks and trees by status) use the status
indexes; everything about attempts looks at a recent window (``ARBOR_METRICS_WINDOW`` seconds,
at most ``SAMPLE_CAP`` newest attempts) through the ``attempt_started`` index, so a scrape stays
cheap on a large history. Windowed figures are gauges, not counters: use them as they are,
never with ``rate()``.

The rendered text is cached per process for ``ARBOR_METRICS_CACHE_SECONDS`` so that several
scrapers (or an impatient human) do not multiply the queries.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q
from django.utils import timezone
from prometheus_client import exposition as prom_text
from prometheus_client import metrics_core as prom
from prometheus_client.registry import Collector, CollectorRegistry

from tasks_app import conf
from tasks_app.engine.states import Outcome, Status

SAMPLE_CAP = 20_000
QUANTILES = (0.5, 0.95, 0.99)
CONTENT_TYPE = prom_text.CONTENT_TYPE_PLAIN_0_0_4

_cache: dict = {"at": 0.0, "text": ""}
_cache_lock = threading.Lock()


@dataclass
class Metric:
    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[dict, float]] = field(default_factory=list)

    def add(self, value, **labels) -> Metric:
        self.samples.append((labels, value))
        return self


# --- exposition -------------------------------------------------------------------------------


def to_prometheus(metric: Metric) -> prom.Metric:
    """One of ours as a prometheus_client metric family (label values as text, None as NaN)."""
    family = prom.Metric(metric.name, metric.help, metric.kind)
    for labels, value in metric.samples:
        family.add_sample(
            metric.name, {k: str(v) for k, v in labels.items()}, math.nan if value is None else float(value)
        )
    return family


class ArborCollector(Collector):
    """Queries the database when Prometheus scrapes (``collect``), never between scrapes."""

    def __init__(self, source=None):
        self.source = source  # a fixed list of Metric (render()), else collect() at every scrape

    def collect(self):
        for metric in collect() if self.source is None else self.source:
            yield to_prometheus(metric)


def registry(source=None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ArborCollector(source))
    return reg


def render(metrics: list[Metric]) -> str:
    return prom_text.generate_latest(registry(metrics)).decode()


# --- helpers ----------------------------------------------------------------------------------


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def window() -> float:
    return float(conf.get("ARBOR_METRICS_WINDOW"))


def oldest_ready_age(now=None) -> float | None:
    """Seconds the longest-waiting claimable task has been claimable (None when none is)."""
    from tasks_app.services.runs import ready_queue

    now = now or timezone.now()
    qs = ready_queue(now).order_by()
    agg = qs.aggregate(
        fresh=Min("ready_at", filter=Q(next_attempt_at__isnull=True)),
        retry=Min("next_attempt_at", filter=Q(next_attempt_at__isnull=False)),
    )
    since = [t for t in (agg["fresh"], agg["retry"]) if t is not None]
    if not since:
        return None
    return max(0.0, (now - min(since)).total_seconds())


# --- collection -------------------------------------------------------------------------------


def collect(now=None) -> list[Metric]:
    from django_q.models import OrmQ

    from tasks_app.models import Attempt, Event, ProcessHeartbeat, Task, Tree
    from tasks_app.services.runs import ready_queue

    from .health import live_processes, stale_after

    started = time.perf_counter()
    now = now or timezone.now()
    out: list[Metric] = []

    info = Metric("arbor_info", "gauge", "Constant 1; labels describe this deployment.")
    out.append(info.add(1, database=connections["default"].vendor, cluster=settings.Q_CLUSTER["name"]))

    # tasks and trees by status
    by_status = dict(Task.objects.order_by().values_list("status").annotate(n=Count("id")))
    m = Metric("arbor_tasks", "gauge", "Tasks by status.")
    for status in Status:
        m.add(by_status.get(status.value, 0), status=status.value)
    out.append(m)
    by_status = dict(Tree.objects.order_by().values_list("status").annotate(n=Count("id")))
    m = Metric("arbor_trees", "gauge", "Trees by status.")
    for status in Status:
        m.add(by_status.get(status.value, 0), status=status.value)
    out.append(m)

    # the ready queue
    out.append(
        Metric(
            "arbor_ready_queue_depth", "gauge", "Claimable tasks (ready, not waiting for a retry delay)."
        ).add(ready_queue(now).order_by().count())
    )
    out.append(
        Metric(
            "arbor_ready_queue_oldest_age_seconds",
            "gauge",
            "How long the longest-waiting claimable task has been claimable (0 when none is).",
        ).add(oldest_ready_age(now) or 0.0)
    )
    out.append(
        Metric("arbor_tasks_waiting_retry", "gauge", "Pending tasks waiting for their retry delay.").add(
            Task.objects.filter(
                status=Status.PENDING.value, ready_at__isnull=False, next_attempt_at__gt=now
            ).count()
        )
    )

    # live attempts
    running = Attempt.objects.filter(outcome=Outcome.RUNNING.value)
    out.append(Metric("arbor_attempts_running", "gauge", "Attempts currently running.").add(running.count()))
    out.append(
        Metric(
            "arbor_attempts_lease_expired",
            "gauge",
            "Running attempts whose lease expired and the reaper has not ended yet.",
        ).add(running.filter(lease_expires_at__lt=now).count())
    )

    out.extend(_attempt_window_metrics(Attempt, now))

    # broker (django-q2 wake-up jobs)
    jobs = OrmQ.objects.using(settings.Q_CLUSTER.get("orm", "default")).filter(key=settings.Q_CLUSTER["name"])
    m = Metric("arbor_broker_jobs", "gauge", "django-q2 wake-up jobs in the ORM broker table.")
    m.add(jobs.filter(lock__lte=now).count(), state="queued")
    m.add(jobs.filter(lock__gt=now).count(), state="taken")
    out.append(m)

    # events
    newest = Event.objects.order_by().aggregate(t=Max("created_at"))["t"]
    out.append(
        Metric(
            "arbor_event_newest_age_seconds",
            "gauge",
            "Seconds since the newest event was written (NaN when there is none).",
        ).add(max(0.0, (now - newest).total_seconds()) if newest else None)
    )
    out.extend(_live_metrics())

    # processes
    live = list(live_processes(now=now).values_list("host", "pid", "info"))
    out.append(
        Metric(
            "arbor_worker_clusters_alive",
            "gauge",
            f"Worker supervisors whose django-q2 cluster is alive (heartbeat within {stale_after():g}s).",
        ).add(sum(1 for _, _, i in live if (i or {}).get("cluster_alive")))
    )
    out.append(
        Metric(
            "arbor_reapers_alive",
            "gauge",
            f"Worker supervisors (each runs a reaper) with a heartbeat within {stale_after():g}s.",
        ).add(len(live))
    )
    m = Metric(
        "arbor_process_heartbeat_age_seconds",
        "gauge",
        "Seconds since each worker supervisor's last heartbeat (processes seen in the last hour).",
    )
    recent = ProcessHeartbeat.objects.filter(seen_at__gte=now - dt.timedelta(hours=1)).order_by("host", "pid")
    for row in recent.values("role", "host", "pid", "label", "seen_at")[:200]:
        m.add(
            max(0.0, (now - row["seen_at"]).total_seconds()),
            role=row["role"],
            host=row["host"],
            pid=row["pid"],
            label=row["label"],
        )
    out.append(m)

    out.append(
        Metric(
            "arbor_metrics_scrape_duration_seconds",
            "gauge",
            "Time this process took to compute these metrics.",
        ).add(time.perf_counter() - started)
    )
    return out


def _attempt_window_metrics(Attempt, now) -> list[Metric]:
    seconds = window()
    cutoff = now - dt.timedelta(seconds=seconds)
    recent = Attempt.objects.filter(started_at__gte=cutoff).order_by("-started_at")
    rows = list(recent.values_list("outcome", "started_at", "finished_at", "worker")[:SAMPLE_CAP])

    counts: dict[str, int] = {}
    durations: dict[str, list[float]] = {}
    lost_workers: set[str] = set()
    for outcome, started_at, finished_at, worker in rows:
        counts[outcome] = counts.get(outcome, 0) + 1
        if finished_at is not None:
            durations.setdefault(outcome, []).append(max(0.0, (finished_at - started_at).total_seconds()))
        if outcome == Outcome.WORKER_LOST.value:
            lost_workers.add(worker)

    out = []
    m = Metric(
        "arbor_attempts_recent", "gauge", f"Attempts started in the last {seconds:g}s, by outcome so far."
    )
    for outcome in Outcome:
        m.add(counts.get(outcome.value, 0), outcome=outcome.value)
    out.append(m)
    out.append(
        Metric(
            "arbor_lost_workers_recent",
            "gauge",
            f"Distinct worker processes with a worker_lost attempt started in the last {seconds:g}s.",
        ).add(len(lost_workers))
    )

    m = Metric(
        "arbor_attempt_duration_seconds",
        "gauge",
        f"Duration quantiles of finished attempts started in the last {seconds:g}s, by outcome.",
    )
    n = Metric(
        "arbor_attempt_duration_samples",
        "gauge",
        f"Finished attempts started in the last {seconds:g}s behind arbor_attempt_duration_seconds.",
    )
    for outcome in sorted(durations):
        values = sorted(durations[outcome])
        for q in QUANTILES:
            m.add(quantile(values, q), outcome=outcome, quantile=q)
        n.add(len(values), outcome=outcome)
    out += [m, n]

    # claim latency: ready_at -> started_at of the first attempt after the task became ready
    # (a retry's attempt also waited out its backoff, so it is left out)
    earlier = Attempt.objects.filter(
        task_id=OuterRef("task_id"),
        started_at__gte=OuterRef("task__ready_at"),
        started_at__lt=OuterRef("started_at"),
    )
    firsts = (
        Attempt.objects.filter(started_at__gte=cutoff, task__ready_at__isnull=False)
        .filter(started_at__gte=F("task__ready_at"))
        .filter(~Exists(earlier))
        .order_by("-started_at")
        .values_list("started_at", "task__ready_at")[:SAMPLE_CAP]
    )
    latencies = sorted(max(0.0, (s - r).total_seconds()) for s, r in firsts)
    m = Metric(
        "arbor_claim_latency_seconds",
        "gauge",
        f"Quantiles of ready -> claimed for first attempts started in the last {seconds:g}s.",
    )
    for q in QUANTILES:
        m.add(quantile(latencies, q), quantile=q)
    out.append(m)
    out.append(
        Metric("arbor_claim_latency_samples", "gauge", "Attempts behind arbor_claim_latency_seconds.").add(
            len(latencies)
        )
    )
    return out


def _live_metrics() -> list[Metric]:
    """Per-process delivery figures, if the live-updates package exposes
    ``tasks_app.live.hub.delivery_stats() -> {name: number}`` (e.g. ``lag_seconds``)."""
    try:
        from tasks_app.live import hub
    except ImportError:
        return []
    stats_fn = getattr(hub, "delivery_stats", None)
    if stats_fn is None:
        return []
    try:
        stats = stats_fn() or {}
    except Exception:
        return []
    out = []
    labels = {"host": socket.gethostname(), "pid": os.getpid()}
    for key, value in sorted(stats.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        name = "arbor_live_" + "".join(c if c.isalnum() else "_" for c in key)
        out.append(Metric(name, "gauge", f"Live delivery in this web process: {key}.").add(value, **labels))
    return out


def exposition(now=None) -> str:
    """The metrics text, cached per process for ``ARBOR_METRICS_CACHE_SECONDS``."""
    ttl = float(conf.get("ARBOR_METRICS_CACHE_SECONDS"))
    with _cache_lock:
        if ttl > 0 and _cache["text"] and time.monotonic() - _cache["at"] < ttl:
            return _cache["text"]
        text = prom_text.generate_latest(REGISTRY if now is None else registry(collect(now))).decode()
        _cache.update(at=time.monotonic(), text=text)
        return text


def clear_cache() -> None:
    with _cache_lock:
        _cache.update(at=0.0, text="")


REGISTRY = registry()  # /metrics: one collector, run at scrape time
