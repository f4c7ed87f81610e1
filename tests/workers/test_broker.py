"""tasks_app.worker.broker.ListeningORM: on PostgreSQL an idle pusher waits on LISTEN instead of
polling every 50 ms, and an enqueued job's NOTIFY wakes it at once; elsewhere django-q2's ORM
broker."""

import threading
import time

import pytest
from django.db import connection
from django_q.brokers import get_broker

from tasks_app.worker.broker import WAIT_SLICE, ListeningORM, wake_all

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_cluster_uses_the_listening_broker():
    assert isinstance(get_broker(), ListeningORM)


def test_an_idle_dequeue_waits_for_the_idle_poll_and_a_job_wakes_it(settings):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY: PostgreSQL only (SQLite keeps django-q2's 50 ms poll)")
    settings.ARBOR_Q_IDLE_POLL = 3
    pusher, producer = ListeningORM(list_key="arbor-test"), ListeningORM(list_key="arbor-test")
    try:
        t0 = time.monotonic()
        assert not pusher.dequeue()  # listens, finds nothing, waits the whole idle poll
        idle = time.monotonic() - t0
        assert 2.5 < idle < 6

        def enqueue_later():
            time.sleep(0.5)
            producer.enqueue("payload")
            connection.close()

        thread = threading.Thread(target=enqueue_later)
        t0 = time.monotonic()
        thread.start()
        assert not pusher.dequeue()  # woken by the NOTIFY well before the 3 s poll
        woken = time.monotonic() - t0
        thread.join()
        assert 0.4 < woken < 2.0
        jobs = pusher.dequeue()  # the job is there: taken without waiting
        assert [payload for _, payload in jobs] == ["payload"]
    finally:
        pusher._drop_listener()


def test_the_stop_file_ends_the_wait(settings, monkeypatch, tmp_path):
    """arbor_worker touches the stop file before it stops the cluster, whose sentinel waits for
    the pusher: a waiting pusher must notice within a slice, not after the idle poll."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY: PostgreSQL only")
    settings.ARBOR_Q_IDLE_POLL = 30
    stop_file = tmp_path / "cluster.stop"
    monkeypatch.setenv("ARBOR_STOP_FILE", str(stop_file))
    pusher = ListeningORM(list_key="arbor-test")
    try:
        threading.Timer(0.5, stop_file.touch).start()  # the slice notices it
        t0 = time.monotonic()
        assert not pusher.dequeue()
        assert time.monotonic() - t0 < 0.5 + WAIT_SLICE + 1.0
        stop_file.unlink()

        def stop():
            stop_file.touch()
            wake_all()  # as arbor_worker does: at once
            connection.close()

        threading.Timer(0.5, stop).start()
        t0 = time.monotonic()
        assert not pusher.dequeue()
        assert time.monotonic() - t0 < 0.5 + WAIT_SLICE * 0.8
        t0 = time.monotonic()
        assert not pusher.dequeue()  # stopping: django-q2's short poll, no wait
        assert time.monotonic() - t0 < 0.5
    finally:
        pusher._drop_listener()
