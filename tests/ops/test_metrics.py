"""/metrics: token protection, well-formed exposition, and the right values for a small fixture."""

import datetime as dt
import math
import os

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from tasks_app.models import Attempt, Event, Task
from tasks_app.ops import health, metrics

from .conftest import metric, parse_metrics

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"
TREE = [
    {"id": "r", "name": "r", "executor": "echo", "inputs": {"result": 0}},
    {"id": "a", "name": "a", "parent_id": "r", "executor": "echo", "inputs": {"result": 1}},
    {
        "id": "b",
        "name": "b",
        "parent_id": "r",
        "executor": "echo",
        "inputs": {"result": 2},
        "dependencies": ["a"],
    },
    {"id": "c", "name": "c", "parent_id": "r", "executor": "fail", "inputs": {"message": "boom"}},
    {"id": "d", "name": "d", "parent_id": "r", "executor": "echo", "dependencies": ["c"]},
]


@pytest.fixture(autouse=True)
def _no_cache(settings):
    settings.ARBOR_METRICS_CACHE_SECONDS = 0
    settings.ARBOR_METRICS_WINDOW = 300
    metrics.clear_cache()
    health._last_beat["at"] = 0.0
    yield
    metrics.clear_cache()


@pytest.fixture
def fixture_run(run_tree, tm):
    """One finished run with known timings, one created tree, one ready-but-unclaimed task."""
    tree, tasks = run_tree(TREE)
    assert {n: t.status for n, t in tasks.items()} == {
        "r": "completed",
        "a": "completed",
        "b": "completed",
        "c": "failed",
        "d": "cancelled",
    }
    now = timezone.now()
    base = now - dt.timedelta(seconds=60)

    def s(x):
        return base + dt.timedelta(seconds=x)

    def shape(name, ready, started, finished):
        Task.objects.filter(id=tasks[name].id).update(ready_at=s(ready))
        Attempt.objects.filter(task=tasks[name]).update(started_at=s(started), finished_at=s(finished))

    shape("r", 0, 1, 1.5)
    shape("a", 2, 4, 5)
    shape("c", 5, 9, 9.25)
    shape("b", 5, 20, 22)
    # b's first attempt was lost with its worker; the completed one is its retry
    Attempt.objects.filter(task=tasks["b"]).update(number=2)
    Attempt.objects.create(
        task=tasks["b"],
        tree=tree,
        number=1,
        executor="echo",
        outcome="worker_lost",
        worker="lost-host:999",
        started_at=s(8),
        finished_at=s(18),
    )
    tm.create_tree(
        [
            {"id": "p", "name": "p", "executor": "echo"},
            {"id": "q", "name": "q", "parent_id": "p", "executor": "echo"},
        ]
    )
    waiting = tm.create_tree([{"id": "w", "name": "w", "executor": "echo"}])
    tm.execute(waiting.id)  # ready, never claimed (tests drive workers explicitly)
    Task.objects.filter(tree=waiting).update(ready_at=now - dt.timedelta(seconds=7))
    return now


def scrape(now=None):
    return parse_metrics(metrics.render(metrics.collect(now)))


def test_metrics_needs_the_token_when_one_is_set(client, settings):
    settings.ARBOR_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401  # scheme required
    response = client.get("/metrics")
    assert response["WWW-Authenticate"].startswith("Bearer")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == metrics.CONTENT_TYPE


def test_metrics_is_open_without_a_token(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = parse_metrics(response.content.decode())
    assert metric(samples, "arbor_tasks", status="pending") == 0


def test_every_metric_has_help_and_type_and_parses(client):
    text = client.get("/metrics").content.decode()
    parse_metrics(text)
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert {
        "arbor_tasks",
        "arbor_trees",
        "arbor_ready_queue_depth",
        "arbor_ready_queue_oldest_age_seconds",
        "arbor_claim_latency_seconds",
        "arbor_attempt_duration_seconds",
        "arbor_attempts_recent",
        "arbor_lost_workers_recent",
        "arbor_event_newest_age_seconds",
        "arbor_worker_clusters_alive",
        "arbor_reapers_alive",
        "arbor_broker_jobs",
        "arbor_attempts_running",
        "arbor_attempts_lease_expired",
    } <= names


def test_task_and_queue_metrics(fixture_run):
    m = scrape(fixture_run)
    assert metric(m, "arbor_tasks", status="completed") == 3
    assert metric(m, "arbor_tasks", status="failed") == 1
    assert metric(m, "arbor_tasks", status="cancelled") == 1
    assert metric(m, "arbor_tasks", status="pending") == 3
    assert metric(m, "arbor_tasks", status="in_progress") == 0
    assert metric(m, "arbor_trees", status="failed") == 1
    assert metric(m, "arbor_trees", status="pending") == 1
    assert metric(m, "arbor_trees", status="in_progress") == 1
    assert metric(m, "arbor_ready_queue_depth") == 1
    assert metric(m, "arbor_ready_queue_oldest_age_seconds") == pytest.approx(7, abs=0.01)
    assert metric(m, "arbor_attempts_running") == 0


def test_attempt_window_metrics(fixture_run):
    m = scrape(fixture_run)
    assert metric(m, "arbor_attempts_recent", outcome="completed") == 3
    assert metric(m, "arbor_attempts_recent", outcome="failed") == 1
    assert metric(m, "arbor_attempts_recent", outcome="worker_lost") == 1
    assert metric(m, "arbor_attempts_recent", outcome="timed_out") == 0
    assert metric(m, "arbor_lost_workers_recent") == 1
    # durations: completed [0.5, 1, 2], failed [0.25], worker_lost [10]
    assert metric(m, "arbor_attempt_duration_seconds", outcome="completed", quantile=0.5) == 1
    assert metric(m, "arbor_attempt_duration_seconds", outcome="completed", quantile=0.95) == 2
    assert metric(m, "arbor_attempt_duration_samples", outcome="completed") == 3
    assert metric(m, "arbor_attempt_duration_seconds", outcome="failed", quantile=0.99) == 0.25
    assert metric(m, "arbor_attempt_duration_seconds", outcome="worker_lost", quantile=0.5) == 10
    # claim latency of first attempts: r 1 s, a 2 s, b 3 s (its lost first attempt), c 4 s
    assert metric(m, "arbor_claim_latency_samples") == 4
    assert metric(m, "arbor_claim_latency_seconds", quantile=0.5) == 2
    assert metric(m, "arbor_claim_latency_seconds", quantile=0.95) == 4


def test_attempts_before_the_window_are_left_out(fixture_run, settings):
    settings.ARBOR_METRICS_WINDOW = 45  # only b's retry (started 40 s ago) is inside
    m = scrape(fixture_run)
    assert metric(m, "arbor_attempts_recent", outcome="completed") == 1
    assert metric(m, "arbor_attempts_recent", outcome="worker_lost") == 0
    # the retry waited out a backoff, so it is no claim-latency sample
    assert metric(m, "arbor_claim_latency_samples") == 0
    assert math.isnan(metric(m, "arbor_claim_latency_seconds", quantile=0.5))


def test_broker_events_and_process_metrics(fixture_run, settings, monkeypatch):
    now = fixture_run
    cluster = settings.Q_CLUSTER["name"]
    OrmQ.objects.create(key=cluster, payload="x", lock=now - dt.timedelta(seconds=1))
    OrmQ.objects.create(key=cluster, payload="y", lock=now + dt.timedelta(seconds=60))

    class Cluster:
        pid = 1

        def poll(self):
            return None

    health.beat(cluster=Cluster(), force=True)
    from tasks_app.live import hub

    monkeypatch.setattr(hub, "delivery_stats", lambda: {"lag_seconds": 0.5, "enabled": True}, raising=False)
    m = scrape(now)
    assert metric(m, "arbor_broker_jobs", state="queued") == 1
    assert metric(m, "arbor_broker_jobs", state="taken") == 1
    newest = Event.objects.order_by("-created_at").first().created_at
    assert metric(m, "arbor_event_newest_age_seconds") == pytest.approx(
        max(0.0, (now - newest).total_seconds()), abs=0.01
    )
    assert metric(m, "arbor_worker_clusters_alive") == 1
    assert metric(m, "arbor_reapers_alive") == 1
    ages = [v for (name, _), v in m.items() if name == "arbor_process_heartbeat_age_seconds"]
    assert len(ages) == 1 and 0 <= ages[0] < 5
    import socket

    assert metric(m, "arbor_live_lag_seconds", host=socket.gethostname(), pid=os.getpid()) == 0.5
    assert not any(name == "arbor_live_enabled" for name, _ in m)  # booleans are not numbers here


def test_exposition_is_cached_per_process(settings):
    settings.ARBOR_METRICS_CACHE_SECONDS = 60
    first = metrics.exposition()
    Task.objects.all().delete()
    assert metrics.exposition() is first


def test_render_escapes_labels_and_special_values():
    text = metrics.render(
        [metrics.Metric("x", "gauge", "h").add(float("nan"), a='q"\\\n').add(1.5, a="b").add(None)]
    )
    assert text == '# HELP x h\n# TYPE x gauge\nx{a="q\\"\\\\\\n"} NaN\nx{a="b"} 1.5\nx NaN\n'


def test_quantile_is_nearest_rank():
    assert metrics.quantile([], 0.5) is None
    assert metrics.quantile([1.0], 0.99) == 1.0
    assert metrics.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert metrics.quantile(list(map(float, range(1, 101))), 0.95) == 95.0


def test_served_by_a_prometheus_client_collector_that_reads_the_database_at_scrape_time(client, fixture_run):
    """One custom Collector on a registry of its own: no process-local Counter/Gauge and none of
    prometheus_client's process/platform collectors (they would describe one web process only)."""
    collectors = list(metrics.REGISTRY._collector_to_names) or list(
        metrics.REGISTRY._names_to_collectors.values()
    )
    assert {type(c) for c in collectors} == {metrics.ArborCollector}
    before = metric(parse_metrics(client.get("/metrics").content.decode()), "arbor_tasks", status="failed")
    Task.objects.filter(status="completed").update(status="failed")  # another process's write, in effect
    after = metric(parse_metrics(client.get("/metrics").content.decode()), "arbor_tasks", status="failed")
    assert (before, after) == (1, 4)
    text = client.get("/metrics").content.decode()
    assert "process_cpu_seconds_total" not in text and "python_info" not in text
