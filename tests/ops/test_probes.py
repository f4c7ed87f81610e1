"""/healthz, /readyz and the process heartbeat behind "workers alive" / "reaper alive"."""

import datetime as dt
import json
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from tasks_app.models import Attempt, ProcessHeartbeat, Task
from tasks_app.ops import health

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


class FakeCluster:
    pid = 4242

    def __init__(self, alive=True):
        self.alive = alive

    def poll(self):
        return None if self.alive else 1


@pytest.fixture(autouse=True)
def _reset_beat_throttle():
    health._last_beat["at"] = 0.0
    yield
    health._last_beat["at"] = 0.0


@pytest.fixture
def worker_alive():
    assert health.beat(cluster=FakeCluster(), force=True)


def get_json(client, url, **headers):
    response = client.get(url, **headers)
    return response.status_code, json.loads(response.content)


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        status, body = get_json(client, "/healthz")
    assert (status, body) == (200, {"status": "ok"})


def test_healthz_is_public_when_a_metrics_token_is_set(client, settings):
    settings.ARBOR_METRICS_TOKEN = TOKEN
    assert client.get("/healthz").status_code == 200


def test_probes_bypass_host_validation_and_ssl_redirect(client, settings):
    """A load balancer probes the backend by IP over plain HTTP."""
    settings.ALLOWED_HOSTS = ["arbor.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz?scope=web", HTTP_HOST="10.1.2.3:8000").status_code == 200
    # everything else still goes through the normal checks
    assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


# --- /readyz ----------------------------------------------------------------------------------


def test_readyz_ok_with_database_broker_and_a_live_worker(client, worker_alive):
    status, body = get_json(client, "/readyz")
    assert status == 200, body
    assert body["status"] == "ok" and body["scope"] == "all"
    assert set(body["checks"]) == {"database", "broker", "redis", "workers", "reaper", "queue"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["workers"]["clusters"] == 1
    assert body["checks"]["reaper"]["reapers"] == 1
    assert body["checks"]["broker"] == {"ok": True, "queued": 0, "taken": 0, "ms": mock.ANY}


def test_readyz_is_503_without_workers_but_the_web_scope_stays_200(client):
    status, body = get_json(client, "/readyz")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["workers"]["ok"] is False
    assert "no worker cluster heartbeat" in body["checks"]["workers"]["error"]
    assert body["checks"]["reaper"]["ok"] is False
    status, body = get_json(client, "/readyz?scope=web")
    assert status == 200
    assert set(body["checks"]) == {"database", "broker", "redis"}


def test_readyz_is_503_when_the_database_is_down(client, worker_alive):
    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    with mock.patch.object(BaseDatabaseWrapper, "cursor", broken):
        status, body = get_json(client, "/readyz?scope=web")
        assert status == 503
        assert body["checks"]["database"]["ok"] is False
        assert "connection refused" in body["checks"]["database"]["error"]
        assert body["checks"]["broker"] == {
            "ok": False,
            "ms": 0.0,
            "error": "skipped: the database is unreachable",
        }
        assert client.get("/healthz").status_code == 200  # liveness never depends on the database


def test_readyz_reports_an_unreachable_redis(client, settings, worker_alive):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    status, body = get_json(client, "/readyz?scope=web")
    assert status == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_readyz_hides_details_without_the_token(client, settings, worker_alive):
    settings.ARBOR_METRICS_TOKEN = TOKEN
    status, body = get_json(client, "/readyz")
    assert (status, body) == (200, {"status": "ok", "scope": "all"})
    status, body = get_json(client, "/readyz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert status == 200 and "checks" in body


def test_readyz_status_code_needs_no_token(client, settings):
    settings.ARBOR_METRICS_TOKEN = TOKEN
    assert get_json(client, "/readyz") == (503, {"status": "unavailable", "scope": "all"})


# --- heartbeats -------------------------------------------------------------------------------


def test_beat_upserts_one_row_per_process_and_is_throttled():
    assert health.beat(cluster=FakeCluster()) is True
    assert health.beat(cluster=FakeCluster()) is False  # within the beat interval
    assert health.beat(cluster=FakeCluster(alive=False), force=True) is True
    row = ProcessHeartbeat.objects.get()
    assert row.role == "worker"
    assert row.info == {"cluster_pid": 4242, "cluster_alive": False, "workers": mock.ANY}
    health.forget()
    assert not ProcessHeartbeat.objects.exists()


def test_beat_prunes_rows_of_processes_dead_for_a_day():
    old = timezone.now() - dt.timedelta(days=2)
    ProcessHeartbeat.objects.create(role="worker", host="gone", pid=1, started_at=old, seen_at=old)
    health.beat(force=True)
    assert not ProcessHeartbeat.objects.filter(host="gone").exists()


def test_a_supervisor_without_a_cluster_is_a_reaper_but_not_a_worker():
    health.beat(cluster=None, force=True)
    assert health.check_reaper()["ok"] is True
    assert health.check_workers()["ok"] is False


def test_a_stale_heartbeat_counts_as_dead(settings):
    health.beat(cluster=FakeCluster(), force=True)
    ProcessHeartbeat.objects.update(
        seen_at=timezone.now() - dt.timedelta(seconds=settings.ARBOR_HEALTH_STALE_SECONDS + 1)
    )
    assert health.check_workers()["ok"] is False
    reaper = health.check_reaper()
    assert reaper["ok"] is False and reaper["last_seen_seconds_ago"] > settings.ARBOR_HEALTH_STALE_SECONDS


def test_recent_claims_count_as_live_workers_without_a_heartbeat(run_tree):
    run_tree([{"id": "a", "name": "a", "executor": "echo", "inputs": {"result": 1}}])
    assert health.check_workers() == {"ok": True, "clusters": 0, "detail": mock.ANY}


def test_queue_check_flags_claimable_work_nobody_claims(tm, settings):
    tree = tm.create_tree([{"id": "a", "name": "a", "executor": "echo"}])
    tm.execute(tree.id)
    assert health.check_queue()["ok"] is True  # just became ready
    stall = settings.ARBOR_WATCHDOG_STALL_SECONDS
    Task.objects.filter(tree=tree).update(ready_at=timezone.now() - dt.timedelta(seconds=stall + 5))
    result = health.check_queue()
    assert result["ok"] is False and result["oldest_ready_seconds"] >= stall
    assert not Attempt.objects.exists()
