"""Delivery paths: the mode chosen from settings, NOTIFY only on commit, nothing for a rollback,
and the tail's behaviour when its wake-up source is lost."""

import asyncio

import pytest
from django.db import connection, transaction

from tasks_app.live import delivery, reads
from tasks_app.live import hub as live_hub
from tasks_app.live.hub import get_hub
from tasks_app.models import Event, Tree
from tasks_app.services import control

from .utils import adb, add_events, communicator, make_token, receive, run

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    "delivery.wake_mode() != 'postgres'", reason="PostgreSQL without Redis (the LISTEN/NOTIFY path)"
)


def test_mode_is_chosen_from_settings(settings):
    settings.ARBOR_LIVE_WAKEUP = "auto"
    settings.REDIS_URL = ""
    assert delivery.wake_mode() == ("postgres" if connection.vendor == "postgresql" else "poll")
    settings.REDIS_URL = "redis://127.0.0.1:6379"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    assert delivery.wake_mode() == "redis"
    settings.ARBOR_LIVE_WAKEUP = "poll"
    assert delivery.wake_mode() == "poll"


class Boom(Exception):
    pass


def test_a_rolled_back_transition_writes_no_event_and_delivers_nothing(
    small_tree, user, django_capture_on_commit_callbacks
):
    token = make_token(user)
    before = Tree.objects.get(id=small_tree.id).last_seq

    def rolled_back():
        with django_capture_on_commit_callbacks() as callbacks:
            try:
                with transaction.atomic():
                    control.tree_execute(tree=small_tree, actor=user)
                    assert Event.objects.filter(tree_id=small_tree.id).count() > before  # written...
                    raise Boom
            except Boom:
                pass
        return callbacks

    async def body():
        comm = communicator(f"/ws/trees/{small_tree.id}/", token=token)
        await comm.connect()
        snap = await receive(comm)
        callbacks = await adb(rolled_back)()
        assert callbacks == []  # ...and nothing to publish after commit
        assert await comm.receive_nothing(0.4)
        # a committed change still arrives: the client was listening all along
        await adb(control.tree_execute)(tree=small_tree, actor=user)
        frame = await receive(comm)
        assert frame["seq"] == snap["seq"] + 1 and frame["kind"] == "tree.status"
        await comm.disconnect()

    run(body)
    assert Tree.objects.get(id=small_tree.id).status == "in_progress"


@postgres_only
def test_notify_is_sent_only_when_the_transaction_commits(small_tree, user):
    import psycopg

    listener = psycopg.connect(**delivery.pg_conninfo(), autocommit=True)
    try:
        listener.execute(f"LISTEN {delivery.PG_CHANNEL}")
        try:
            with transaction.atomic():
                control.tree_execute(tree=small_tree, actor=user)
                raise Boom
        except Boom:
            pass
        assert list(listener.notifies(timeout=0.3)) == []
        control.tree_execute(tree=small_tree, actor=user)
        notes = list(listener.notifies(timeout=1.0, stop_after=1))
        seq = Tree.objects.get(id=small_tree.id).last_seq
        # a flush that changes the tree's status says so (wait: true listens for it)
        assert [n.payload for n in notes] == [f"{small_tree.id}:{seq}:status"]
    finally:
        listener.close()


@postgres_only
def test_notify_wakes_the_tail_at_once_and_polling_takes_over_when_listen_drops(
    small_tree, user, settings, monkeypatch
):
    settings.ARBOR_LIVE_POLL_MIN = 0.05
    settings.ARBOR_LIVE_POLL_MAX = 0.2
    settings.ARBOR_LIVE_BACKSTOP = 30.0  # without a NOTIFY, an event would wait up to 30 s
    monkeypatch.setattr(live_hub, "deliver_local", lambda payloads: None)  # as if written by another process
    token = make_token(user)

    async def body():
        comm = communicator(f"/ws/trees/{small_tree.id}/", token=token)
        await comm.connect()
        snap = await receive(comm)
        hub = get_hub()
        for _ in range(100):
            if hub.listener.healthy:
                break
            await asyncio.sleep(0.02)
        assert hub.listener.mode == "postgres" and hub.listener.healthy
        await asyncio.sleep(1.0)  # the tail settles into its long backstop wait
        loop = asyncio.get_running_loop()
        started = loop.time()
        await adb(add_events)(small_tree.id, [("test.tick", None, {})])
        frame = await receive(comm)
        assert frame["seq"] == snap["seq"] + 1
        assert loop.time() - started < 5.0  # woken by the NOTIFY, not the 30 s backstop

        # kill the LISTEN connection: the tail falls back to polling, then listens again
        connects = hub.listener.connects
        await adb(
            lambda: connection.cursor().execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid() AND datname = current_database()"
            )
        )()
        await adb(add_events)(small_tree.id, [("test.tick", None, {})])
        frame = await receive(comm)
        assert frame["seq"] == snap["seq"] + 2
        for _ in range(200):
            if hub.listener.connects > connects and hub.listener.healthy:
                break
            await asyncio.sleep(0.05)
        assert hub.listener.connects > connects
        await comm.disconnect()

    run(body)


def test_the_tail_rereads_ids_that_commit_out_of_order(tm, settings):
    """PostgreSQL hands out ids before commit, so a later id can be visible first: the tail keeps
    the skipped ids and reads them again until they appear (or ``ARBOR_LIVE_GAP_SECONDS`` pass)."""
    settings.ARBOR_LIVE_GAP_SECONDS = 0.2
    tree = tm.create_tree([{"id": "x", "name": "x", "executor": "noop"}])
    first, second, third = (
        e.id for e in add_events(tree.id, [("test.tick", None, {"i": i}) for i in range(3)])
    )

    async def body():
        hub = get_hub()
        hub.track_gaps = True
        hub.last_id = first - 1
        payload = {"tree": str(tree.id), "at": None}
        hub._advance([(third, None, payload)])  # as if the first two had not committed yet
        assert set(hub.gaps) == {first, second} and hub.last_id == third
        rows = await adb(reads.tail_events)(hub.last_id, tuple(hub.gaps))
        assert [r[0] for r in rows] == [first, second]
        hub._advance(rows)
        assert hub.gaps == {} and hub.last_id == third
        hub._advance([(third + 5, None, payload)])  # ids that never commit (rolled back)...
        assert len(hub.gaps) == 4
        await asyncio.sleep(0.25)
        hub._expire_gaps()  # ...are given up after a while
        assert hub.gaps == {}

    run(body)


@pytest.mark.skipif("not __import__('os').environ.get('REDIS_URL')", reason="REDIS_URL not set")
def test_a_redis_wake_up_reaches_the_tail_of_another_process(small_tree, user, settings, monkeypatch):
    settings.ARBOR_LIVE_BACKSTOP = 30.0
    monkeypatch.setattr(live_hub, "deliver_local", lambda payloads: None)  # as if written by another process
    token = make_token(user)

    async def body():
        comm = communicator(f"/ws/trees/{small_tree.id}/", token=token)
        await comm.connect()
        snap = await receive(comm)
        hub = get_hub()
        for _ in range(100):
            if hub.listener.healthy:
                break
            await asyncio.sleep(0.02)
        assert hub.listener.mode == "redis" and hub.listener.healthy
        await asyncio.sleep(1.5)  # the tail settles into its long backstop wait
        loop = asyncio.get_running_loop()
        started = loop.time()
        await adb(add_events)(small_tree.id, [("test.tick", None, {})])
        frame = await receive(comm)
        assert frame["seq"] == snap["seq"] + 1
        assert loop.time() - started < 5.0  # woken through Redis, not by the 30 s backstop
        await comm.disconnect()

    run(body)
