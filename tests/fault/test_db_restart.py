"""RT-20: PostgreSQL stops (immediate shutdown) while tasks run and comes back; the workers and
the web process recover by themselves and the API answers 503 — never a 500 — meanwhile.

This stops the server that holds the test database, so it runs only on the private fault server
(``ARBOR_PG_PORT=15433 bash scripts/pg.sh start``; scripts/test.sh runs the fault suite there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tasks_app.models import ApiToken, Attempt, Task
from tests.fault.invariants import assert_invariants
from tests.helpers import wait_for

from .conftest import FAULT_PG_PORT, ROOT, report
from .test_faults import build, probe, running, settle

WEB_PORT = 18501  # below the ephemeral port range (32768+)
OUTAGE = 5.0  # seconds: 2.5 leases


def pg(command: str) -> None:
    env = {**os.environ, "ARBOR_PG_PORT": FAULT_PG_PORT}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "pg.sh"), command],
        env=env,
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )


def http_status(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, repr(exc).encode()


@pytest.fixture
def fault_server():
    if str(settings.DATABASES["default"].get("PORT")) != FAULT_PG_PORT:
        pytest.skip(
            f"stops PostgreSQL: run the fault suite against the private server on port {FAULT_PG_PORT}"
        )
    yield
    pg("start")  # whatever happened, leave the server running for the rest of the suite
    connection.close()


def test_rt20_postgres_restart(tm, user, fault, fault_server, client):
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, name="fault", key_prefix=raw[:8], digest=ApiToken.hash(raw))
    cluster = fault.cluster(workers=2)
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(WEB_PORT),
            "orchestrator_site.asgi:application",
        ],
        env={**fault.env, "ALLOWED_HOSTS": "127.0.0.1"},
        cwd=ROOT,
        start_new_session=True,
        stdout=open(fault.log + ".web", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{WEB_PORT}/api/v1/trees/"
    try:
        wait_for(lambda: http_status(url, raw)[0] == 200, 30, 0.2, "the web process serving", reconnect=True)
        tree = build(
            tm,
            *(
                probe(f"t{i}", fault.log, max_retries=3, retry_delay=0, inputs={"seconds": 0.5})
                for i in range(10)
            ),
        )
        tm.execute(tree.id)
        wait_for(lambda: running(tree, min_age=0.1), 20, message="tasks running", reconnect=True)
        arbor_worker, qcluster = cluster.proc.pid, cluster.qcluster_pid()

        pg("restart-immediate")  # pg_ctl stop -m immediate
        down = time.monotonic()
        seen, waits = [], []
        while time.monotonic() - down < OUTAGE:
            asked = time.monotonic()
            seen.append(http_status(url, raw))
            waits.append(time.monotonic() - asked)
            time.sleep(0.25)
        in_process = client.get("/api/v1/trees/", HTTP_AUTHORIZATION=f"Bearer {raw}")
        pg("start")
        connection.close()
        up, up_at = time.monotonic(), timezone.now()

        codes = {code for code, _ in seen}
        assert codes == {503}, seen[:3]  # never a 500, never a hang
        assert all(b"Traceback" not in body and b"database_unavailable" in body for _, body in seen)
        assert in_process.status_code == 503

        wait_for(lambda: http_status(url, raw)[0] == 200, 30, 0.1, "the web process back", reconnect=True)
        web_back = time.monotonic() - up
        resumed = wait_for(
            lambda: Attempt.objects.filter(tree=tree, started_at__gt=up_at).order_by("started_at").first(),
            30,
            message="a claim after the restart",
            reconnect=True,
        )
        settle(tree, 60)
        assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
        assert cluster.proc.poll() is None and cluster.proc.pid == arbor_worker  # no manual action
        assert web.poll() is None
        log = fault.executions()
        assert_invariants([tree.id], settled=True, log_entries=log)
        extra = len({e["attempt_id"] for e in log if e["event"] == "start"}) - 10
        qcluster_note = "same qcluster" if cluster.qcluster_pid() == qcluster else "qcluster restarted"
        report(
            "RT-20",
            f"PostgreSQL stopped (immediate) for {OUTAGE:.0f}s while tasks run; API 503 meanwhile",
            (resumed.started_at - up_at).total_seconds(),
            extra,
            f"(web 200 again after {web_back:.2f}s; 503s took up to {max(waits):.1f}s; {qcluster_note})",
        )
    finally:
        web.terminate()
        try:
            web.wait(timeout=10)
        except subprocess.TimeoutExpired:
            web.kill()


def test_rt21_cluster_started_while_postgres_is_down(tm, fault, fault_server):
    """RT-21: ``arbor_worker`` starts while PostgreSQL is down, keeps running through the outage,
    and runs the queued work once the database is back — no manual restart."""
    tree = build(tm, *(probe(f"t{i}", fault.log, inputs={"seconds": 0.1}) for i in range(6)))
    tm.execute(tree.id)  # wake-up jobs are queued; no worker is running yet
    connection.close()
    # a clean stop: the private server runs with synchronous_commit=off, so an immediate stop
    # right after the execute could lose that very commit (RT-20 covers the crash case)
    pg("stop")
    cluster = fault.cluster(workers=2, ready=False)
    time.sleep(OUTAGE)
    assert cluster.proc.poll() is None, cluster.text()[-3000:]  # survived the outage
    pg("start")
    connection.close()
    up = time.monotonic()
    settle(tree, 60)
    took = time.monotonic() - up
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"completed"}
    assert cluster.proc.poll() is None
    log = fault.executions()
    assert_invariants([tree.id], settled=True, log_entries=log)
    extra = len({e["attempt_id"] for e in log if e["event"] == "start"}) - 6
    assert extra == 0
    report(
        "RT-21",
        f"arbor_worker started while PostgreSQL is down ({OUTAGE:.0f}s), then the database returns",
        took,
        extra,
        "(recovery = database back -> tree completed; same arbor_worker)",
    )
