"""The websocket consumers through Channels' communicator (auth, access, snapshot, deltas, resume,
limits, throttling, re-checks) with the real hub tailing the test database."""

import uuid

import pytest
from django.test import override_settings

from tasks_app.live import consumers as live_consumers
from tasks_app.models import ApiToken, Event, Task, Tree
from tasks_app.services import control
from tasks_app.worker.loop import run_until_idle

from .utils import (
    adb,
    add_events,
    collect_until,
    communicator,
    expect_close,
    make_token,
    receive,
    run,
    seqs_covered,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


def tree_path(tree_id) -> str:
    return f"/ws/trees/{tree_id}/"


# --- authentication and access ------------------------------------------------------------------


def test_anonymous_connection_is_closed_with_4401(small_tree):
    async def body():
        comm = communicator(tree_path(small_tree.id))
        connected, _ = await comm.connect()
        assert connected
        assert await expect_close(comm) == 4401
        await comm.disconnect()

    run(body)


def test_invalid_token_is_anonymous_even_with_a_session(small_tree, user):
    cookie = session_cookie(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token="arb_not-a-token", cookie=cookie)
        await comm.connect()
        assert await expect_close(comm) == 4401

    run(body)


def test_foreign_and_missing_trees_close_identically_with_4404(small_tree, other_user):
    token = make_token(other_user)

    async def body():
        codes = []
        for path in (tree_path(small_tree.id), tree_path(uuid.uuid4())):
            comm = communicator(path, token=token)
            await comm.connect()
            codes.append(await expect_close(comm))
        assert codes == [4404, 4404]

    run(body)


def test_dashboard_requires_authentication():
    async def body():
        comm = communicator("/ws/dashboard/")
        await comm.connect()
        assert await expect_close(comm) == 4401

    run(body)


def test_session_cookie_header_token_and_subprotocol_token_all_authenticate(small_tree, user):
    token = make_token(user)
    cookie = session_cookie(user)

    async def body():
        for kwargs in (
            {"cookie": cookie},
            {"token": token},
            {"subprotocols": ["arbor.v1", f"arbor.bearer.{token}"]},
        ):
            comm = communicator(tree_path(small_tree.id), **kwargs)
            connected, subprotocol = await comm.connect()
            assert connected
            assert subprotocol == ("arbor.v1" if "subprotocols" in kwargs else None)
            snap = await receive(comm)
            assert snap["type"] == "snapshot", kwargs
            await comm.disconnect()

    run(body)


def test_origin_is_checked_for_cookie_sessions(small_tree, user):
    """The rule in full: tests/security/test_ws_origin.py (scheme, host and port; tokens exempt)."""
    from tasks_app.live.origin import SameOriginValidator

    from .utils import application

    cookie = session_cookie(user)

    async def body():
        with override_settings(ALLOWED_HOSTS=["arbor.example"]):
            app = SameOriginValidator(application())
            for origin, ok in (
                ("http://evil.example", False),
                (None, False),
                ("https://arbor.example", False),
                ("http://arbor.example", True),
            ):
                comm = communicator(tree_path(small_tree.id), cookie=cookie, app=app, origin=origin)
                comm.scope["headers"].append((b"host", b"arbor.example"))
                connected, _ = await comm.connect()
                assert connected is ok, origin
                await comm.disconnect()

    run(body)


# --- snapshot, deltas, resume -------------------------------------------------------------------


def test_snapshot_then_deltas_in_order(small_tree, user):
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        assert snap["type"] == "snapshot"
        assert snap["seq"] == (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        assert snap["tree"]["id"] == str(small_tree.id) and snap["tree"]["owner"] == "alice"
        tasks = {t["name"]: t for t in snap["tasks"]}
        assert set(tasks) == {"root", "a", "b", "c"}
        assert tasks["b"]["dependencies"] == [{"id": tasks["a"]["id"], "name": "a", "required": True}]
        assert tasks["a"]["parent"] == tasks["root"]["id"] and tasks["root"]["is_root"] is True
        for key in (
            "status",
            "progress",
            "progress_message",
            "error",
            "error_type",
            "waiting_reason",
            "attempt_count",
        ):
            assert key in tasks["a"]

        await adb(control.tree_execute)(tree=small_tree, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        frames = await collect_until(comm, lambda f: f.get("seq") == last)
        events = [f for f in frames if f["type"] == "event"]
        assert [e["seq"] for e in events] == list(range(snap["seq"] + 1, last + 1))
        assert events[-1]["kind"] == "tree.status" and events[-1]["data"]["status"] == "completed"
        db = await adb(
            lambda: list(
                Event.objects.filter(tree_id=small_tree.id, seq__gt=snap["seq"])
                .order_by("seq")
                .values_list("seq", "kind")
            )
        )()
        assert [(e["seq"], e["kind"]) for e in events] == db
        assert await comm.receive_nothing(0.2)
        await comm.disconnect()

    run(body)


def test_resume_replays_exactly_the_missed_events(small_tree, user):
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        seen = snap["seq"]
        await comm.disconnect()
        # the tree runs while the client is away
        await adb(control.tree_execute)(tree=small_tree, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        assert last > seen

        for how in ("message", "query"):
            if how == "message":
                comm = communicator(tree_path(small_tree.id), token=token)
                await comm.connect()
                assert (await receive(comm))["type"] == "snapshot"
                await comm.send_json_to({"type": "resume", "after_seq": seen})
            else:
                comm = communicator(f"{tree_path(small_tree.id)}?after_seq={seen}", token=token)
                await comm.connect()
            resumed = await receive(comm)
            assert resumed == {"type": "resumed", "after_seq": seen, "seq": last}
            frames = await collect_until(comm, lambda f: f.get("seq") == last)
            assert [f["seq"] for f in frames] == list(range(seen + 1, last + 1))
            assert await comm.receive_nothing(0.2)
            await comm.disconnect()

    run(body)


def test_resume_too_far_back_sends_a_fresh_snapshot(small_tree, user):
    token = make_token(user)
    add_events(small_tree.id, [("test.tick", None, {"i": i}) for i in range(1005)])
    last = Tree.objects.get(id=small_tree.id).last_seq

    async def body():
        comm = communicator(f"{tree_path(small_tree.id)}?after_seq=1", token=token)
        await comm.connect()
        snap = await receive(comm)
        assert snap["type"] == "snapshot" and snap["seq"] == last
        # a resume from the future (another database?) also gets a snapshot
        await comm.send_json_to({"type": "resume", "after_seq": last + 50})
        assert (await receive(comm))["type"] == "snapshot"
        await comm.disconnect()

    run(body)


def test_check_answers_the_counts_as_of_last_seq(small_tree, user):
    """The client's self-check: ``{"type": "check"}`` gets the tree's counts exactly as of its
    last_seq (one consistent read), so a client standing at that seq can compare its own."""
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        await comm.send_json_to({"type": "check"})
        check = await receive(comm)
        assert check == {
            "type": "check",
            "tree": str(small_tree.id),
            "seq": snap["seq"],
            "status": "pending",
            "task_count": 4,
            "counts": snap["tree"]["counts"],
        }
        await adb(control.tree_execute)(tree=small_tree, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        await collect_until(comm, lambda f: f.get("seq") == last)
        await comm.send_json_to({"type": "check"})
        check = await receive(comm)
        assert check["seq"] == last and check["status"] == "completed"
        assert check["counts"]["completed"] == 4 and check["task_count"] == 4
        await comm.disconnect()

    run(body)


def test_a_deleted_tree_is_announced_and_closed(user, tm):
    tree = tm.create_tree([{"id": "x", "name": "x", "executor": "noop"}])
    token = make_token(user)

    async def body():
        from tasks_app.services.tasks import tree_delete

        comm = communicator(tree_path(tree.id), token=token)
        await comm.connect()
        await receive(comm)
        await adb(tree_delete)(tree=tree, actor=user)
        frame = await receive(comm)
        assert frame["kind"] == "tree.deleted" and frame["tree"] == str(tree.id)
        # the same keys as every event; it has no sequence number: "seq" is null (docs/live.md)
        assert set(frame) == {"type", "tree", "seq", "kind", "task", "data", "actor", "source", "at"}
        assert frame["seq"] is None and frame["actor"] == "alice"
        assert await expect_close(comm) == 4404

    run(body)


def test_socket_events_equal_the_rest_event_log(small_tree, user):
    """One event form: what the socket sends is exactly what ``GET .../events/`` returns (same keys,
    same values: actor is the username, the time is "at"), so a client can catch up over REST and
    continue on the socket."""
    import json

    from django.test import Client

    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        await adb(control.tree_execute)(tree=small_tree, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        frames = await collect_until(comm, lambda f: f.get("seq") == last)
        await comm.disconnect()
        return snap["seq"], [f for f in frames if f["type"] == "event"]

    first, socket_events = run(body)
    client = Client()
    client.force_login(user)
    rest = client.get(f"/api/v1/trees/{small_tree.id}/events/?after_seq={first}")
    assert rest.status_code == 200
    rest_events = json.loads(rest.content)["results"]
    assert len(socket_events) > 5 and rest_events == socket_events
    assert {e["actor"] for e in rest_events} >= {"alice"}


# --- limits ---------------------------------------------------------------------------------------


def test_inbound_frame_over_64_kib_closes_the_socket(small_tree, user):
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        await receive(comm)
        await comm.send_to(text_data='{"type":"ping","pad":"' + "x" * (64 * 1024) + '"}')
        assert await expect_close(comm) == live_consumers.CLOSE_TOO_BIG

    run(body)


def test_more_than_ten_messages_a_second_closes_the_socket(small_tree, user):
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        await receive(comm)
        for _ in range(10):
            await comm.send_json_to({"type": "ping"})
        pongs = [await receive(comm) for _ in range(10)]
        assert pongs == [{"type": "pong"}] * 10
        await comm.send_json_to({"type": "ping"})
        assert await expect_close(comm) == live_consumers.CLOSE_RATE_LIMITED

    run(body)


def test_bad_messages_get_an_error_not_a_close(small_tree, user):
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        await receive(comm)
        await comm.send_to(text_data="not json")
        assert (await receive(comm))["code"] == "bad_message"
        await comm.send_json_to({"type": "resume", "after_seq": "x"})
        assert (await receive(comm))["code"] == "bad_message"
        await comm.send_json_to({"type": "nope"})
        assert (await receive(comm))["code"] == "unknown_type"
        await comm.disconnect()

    run(body)


def test_chatty_logs_are_capped_and_the_drop_is_announced(small_tree, user, settings):
    settings.ARBOR_LIVE_LOG_PER_SECOND = 10.0
    settings.ARBOR_LIVE_LOG_BURST = 20.0
    token = make_token(user)
    task_id = Task.objects.get(tree=small_tree, name="a").id

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        await adb(add_events)(
            small_tree.id, [("task.log", task_id, {"level": "info", "line": f"l{i}"}) for i in range(300)]
        )
        last = snap["seq"] + 300
        frames = await collect_until(
            comm, lambda f: f.get("seq") == last or (f["type"] == "dropped" and f["seqs"][-1][1] == last)
        )
        logs = [f for f in frames if f["type"] == "event"]
        assert 20 <= len(logs) <= 25
        assert [f["data"]["line"] for f in logs[:20]] == [f"l{i}" for i in range(20)]
        assert sorted(seqs_covered(frames)) == list(range(snap["seq"] + 1, last + 1))
        dropped = [f for f in frames if f["type"] == "dropped"]
        assert sum(f["counts"]["task.log"] for f in dropped) == 300 - len(logs)
        await comm.disconnect()

    run(body)


def test_progress_is_coalesced_per_task(small_tree, user):
    token = make_token(user)
    a = str(Task.objects.get(tree=small_tree, name="a").id)
    c = str(Task.objects.get(tree=small_tree, name="c").id)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        items = []
        for i in range(1, 51):
            items.append(("task.progress", a, {"progress": i / 50, "message": f"a{i}"}))
            items.append(("task.progress", c, {"progress": i / 100, "message": f"c{i}"}))
        await adb(add_events)(small_tree.id, items)
        last = snap["seq"] + 100
        frames = await collect_until(comm, lambda f: f.get("seq") == last)
        sent = [f for f in frames if f["type"] == "event"]
        # only the newest value of each task goes out: everything older was superseded
        assert [(f["task"], f["data"]["message"]) for f in sent] == [(a, "a50"), (c, "c50")]
        assert sorted(seqs_covered(frames)) == list(range(snap["seq"] + 1, last + 1))
        # a value within 100 ms of the last one waits for its slot, then goes out
        await adb(add_events)(small_tree.id, [("task.progress", a, {"progress": 1.0, "message": "done"})])
        frame = await collect_until(comm, lambda f: f.get("type") == "event")
        assert frame[-1]["data"]["message"] == "done"
        await comm.disconnect()

    run(body)


def test_a_client_far_behind_gets_a_fresh_snapshot_instead_of_a_backlog(small_tree, user, settings):
    settings.ARBOR_LIVE_MAX_BACKLOG = 20
    token = make_token(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        await receive(comm)
        await adb(add_events)(small_tree.id, [("test.tick", None, {"i": i}) for i in range(50)])
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        frame = await receive(comm)
        assert frame["type"] == "snapshot" and frame["seq"] == last
        assert await comm.receive_nothing(0.2)
        await comm.disconnect()

    run(body)


# --- re-checks of long-lived connections --------------------------------------------------------


@pytest.mark.parametrize("change", ["deactivate", "revoke", "give_away"])
def test_connections_are_rechecked_periodically(change, small_tree, user, other_user, settings):
    settings.ARBOR_LIVE_RECHECK_SECONDS = 0.1
    token = make_token(user)

    def apply():
        if change == "deactivate":
            type(user).objects.filter(pk=user.pk).update(is_active=False)
        elif change == "revoke":
            ApiToken.objects.filter(user=user).update(revoked=True)
        else:
            Tree.objects.filter(id=small_tree.id).update(owner=other_user)

    async def body():
        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        await receive(comm)
        assert await comm.receive_nothing(0.3)  # still allowed: stays open
        await adb(apply)()
        assert await expect_close(comm) == (4404 if change == "give_away" else 4401)

    run(body)


def test_logout_ends_a_session_connection(small_tree, user, settings):
    from django.contrib.sessions.models import Session

    settings.ARBOR_LIVE_RECHECK_SECONDS = 0.1
    cookie = session_cookie(user)

    async def body():
        comm = communicator(tree_path(small_tree.id), cookie=cookie)
        await comm.connect()
        await receive(comm)
        assert await comm.receive_nothing(0.3)
        await adb(lambda: Session.objects.filter(session_key=cookie).delete())()
        assert await expect_close(comm) == 4401

    run(body)


def test_recheck_catches_up_if_a_wake_up_was_lost(small_tree, user, settings):
    settings.ARBOR_LIVE_RECHECK_SECONDS = 0.2
    token = make_token(user)

    async def body():
        from tasks_app.live.hub import get_hub

        comm = communicator(tree_path(small_tree.id), token=token)
        await comm.connect()
        snap = await receive(comm)
        hub = get_hub()
        await hub.stop()  # the tail is gone: only the re-check can notice the new events
        await adb(add_events)(small_tree.id, [("test.tick", None, {"i": i}) for i in range(3)])
        frames = await collect_until(comm, lambda f: f.get("seq") == snap["seq"] + 3)
        assert [f["seq"] for f in frames] == [snap["seq"] + 1, snap["seq"] + 2, snap["seq"] + 3]
        await comm.disconnect()

    run(body)


# --- dashboard ------------------------------------------------------------------------------------


def test_dashboard_gets_own_trees_only_with_counts(user, other_user, tm, staff_user):
    from tasks_app.taskmanager import TaskManager

    mine = tm.create_tree(
        [
            {"id": "r", "name": "r", "executor": "noop"},
            {"id": "k", "name": "k", "executor": "noop", "parent_id": "r"},
        ]
    )
    theirs = TaskManager(other_user).create_tree([{"id": "z", "name": "z", "executor": "noop"}])
    token = make_token(user)
    staff_token = make_token(staff_user)

    async def body():
        comm = communicator("/ws/dashboard/", token=token)
        await comm.connect()
        snap = await receive(comm)
        assert snap["type"] == "snapshot"
        assert [t["id"] for t in snap["trees"]] == [str(mine.id)]
        assert snap["trees"][0]["counts"]["pending"] == 2
        staff = communicator("/ws/dashboard/", token=staff_token)
        await staff.connect()
        staff_snap = await receive(staff)
        assert {t["id"] for t in staff_snap["trees"]} == {str(mine.id), str(theirs.id)}

        await adb(control.tree_execute)(tree=theirs, actor=other_user)
        await adb(control.tree_execute)(tree=mine, actor=user)
        await adb(run_until_idle)(timeout=30)
        seen = {"counts": False, "status": False}

        def done(f):
            seen["counts"] |= f.get("type") == "tree" and f["counts"]["completed"] == 2
            seen["status"] |= f.get("kind") == "tree.status" and f["data"]["status"] == "completed"
            return all(seen.values())

        frames = await collect_until(comm, done)
        trees = {f["tree"] for f in frames}
        assert trees == {str(mine.id)}  # nothing about the other user's tree
        statuses = [f["data"]["status"] for f in frames if f.get("kind") == "tree.status"]
        assert statuses[0] == "in_progress" and "completed" in statuses
        staff_frames = await collect_until(
            staff,
            lambda f: (
                f.get("kind") == "tree.status"
                and f["data"]["status"] == "completed"
                and f["tree"] == str(mine.id)
            ),
        )
        assert str(theirs.id) in {f["tree"] for f in staff_frames} | {f.get("tree") for f in staff_frames}
        await comm.disconnect()
        await staff.disconnect()

    run(body)


# --- one socket for many trees (ws/live/) -------------------------------------------------------


def test_shared_socket_subscribes_resumes_and_unsubscribes_per_tree(small_tree, user, other_user, tm):
    """Replies name their request; a foreign or missing tree is an error reply, not a close; each
    tree is resumed by its own seq; a deleted tree's subscription ends, the socket stays."""
    token = make_token(user)
    second = tm.create_tree([{"id": "x", "name": "x", "executor": "noop"}])
    foreign = type(tm)(other_user).create_tree([{"id": "y", "name": "y", "executor": "noop"}])
    add_events(second.id, [("test.tick", None, {"i": i}) for i in range(5)])
    second_last = Tree.objects.get(id=second.id).last_seq

    async def body():
        comm = communicator("/ws/live/", token=token)
        connected, _ = await comm.connect()
        assert connected
        await comm.send_json_to({"type": "subscribe", "id": "r1", "tree": str(small_tree.id)})
        reply = await receive(comm)
        snap = await receive(comm)
        assert reply == {
            "type": "subscribed",
            "id": "r1",
            "tree": str(small_tree.id),
            "seq": snap["seq"],
            "snapshot": True,
        }
        assert snap["type"] == "snapshot" and snap["tree"]["id"] == str(small_tree.id)
        await comm.send_json_to(
            {"type": "subscribe", "id": "r2", "tree": str(second.id), "after_seq": second_last - 2}
        )
        assert await receive(comm) == {
            "type": "subscribed",
            "id": "r2",
            "tree": str(second.id),
            "after_seq": second_last - 2,
            "seq": second_last,
            "snapshot": False,
        }
        replay = [await receive(comm), await receive(comm)]
        assert [(f["tree"], f["seq"]) for f in replay] == [
            (str(second.id), second_last - 1),
            (str(second.id), second_last),
        ]
        for tree_id in (foreign.id, uuid.uuid4()):
            await comm.send_json_to({"type": "subscribe", "id": "r3", "tree": str(tree_id)})
            assert await receive(comm) == {
                "type": "error",
                "id": "r3",
                "code": "not_found",
                "tree": str(tree_id),
                "message": "no such tree",
            }
        await comm.send_json_to({"type": "subscribe", "id": "r4", "tree": "nope"})
        assert (await receive(comm))["code"] == "bad_message"
        await comm.send_json_to({"type": "check", "id": "r5", "tree": str(second.id)})
        check = await receive(comm)
        assert check["id"] == "r5" and check["tree"] == str(second.id) and check["seq"] == second_last
        await comm.send_json_to({"type": "ping", "id": "r6"})
        assert await receive(comm) == {"type": "pong", "id": "r6"}

        # both trees live on the one socket
        await adb(control.tree_execute)(tree=small_tree, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=small_tree.id)).last_seq
        frames = await collect_until(comm, lambda f: f.get("seq") == last)
        assert [f["seq"] for f in frames if f["type"] == "event"] == list(range(snap["seq"] + 1, last + 1))
        assert {f["tree"] for f in frames} == {str(small_tree.id)}

        await comm.send_json_to({"type": "unsubscribe", "id": "r7", "tree": str(small_tree.id)})
        assert await receive(comm) == {"type": "unsubscribed", "id": "r7", "tree": str(small_tree.id)}
        await comm.send_json_to({"type": "unsubscribe", "id": "r8", "tree": str(small_tree.id)})
        assert (await receive(comm))["code"] == "not_subscribed"

        from tasks_app.services.tasks import tree_delete

        await adb(tree_delete)(tree=second, actor=user)
        deleted = await receive(comm)
        assert (
            deleted["kind"] == "tree.deleted" and deleted["tree"] == str(second.id) and deleted["seq"] is None
        )
        assert await receive(comm) == {"type": "unsubscribed", "tree": str(second.id), "reason": "deleted"}
        await comm.send_json_to({"type": "ping"})
        assert await receive(comm) == {"type": "pong"}  # the socket stays open
        await comm.disconnect()

    run(body)


def test_shared_socket_requires_authentication():
    async def body():
        comm = communicator("/ws/live/")
        await comm.connect()
        assert await expect_close(comm) == 4401

    run(body)


def test_shared_socket_carries_the_dashboard_and_a_tree_together(user, other_user, tm):
    """The dashboard feed on ws/live/ (frames marked "dashboard": true) next to a tree's feed."""
    from tasks_app.taskmanager import TaskManager

    mine = tm.create_tree(
        [
            {"id": "r", "name": "r", "executor": "noop"},
            {"id": "k", "name": "k", "executor": "noop", "parent_id": "r"},
        ]
    )
    theirs = TaskManager(other_user).create_tree([{"id": "z", "name": "z", "executor": "noop"}])
    token = make_token(user)

    async def body():
        comm = communicator("/ws/live/", token=token)
        await comm.connect()
        await comm.send_json_to({"type": "subscribe", "id": "d", "dashboard": True})
        assert await receive(comm) == {"type": "subscribed", "id": "d", "dashboard": True}
        snap = await receive(comm)
        assert snap["type"] == "snapshot" and snap["dashboard"] is True
        assert [t["id"] for t in snap["trees"]] == [str(mine.id)]
        await comm.send_json_to({"type": "subscribe", "id": "t", "tree": str(mine.id)})
        assert (await receive(comm))["type"] == "subscribed"
        tree_snap = await receive(comm)
        assert tree_snap["type"] == "snapshot" and "dashboard" not in tree_snap

        await adb(control.tree_execute)(tree=theirs, actor=other_user)
        await adb(control.tree_execute)(tree=mine, actor=user)
        await adb(run_until_idle)(timeout=30)
        last = (await adb(Tree.objects.get)(id=mine.id)).last_seq
        seen = {"counts": False, "tree": False}

        def done(f):
            seen["counts"] |= (
                f.get("type") == "tree" and f.get("dashboard") is True and f["counts"]["completed"] == 2
            )
            seen["tree"] |= f.get("seq") == last and "dashboard" not in f
            return all(seen.values())

        frames = await collect_until(comm, done)
        assert {f["tree"] for f in frames} == {str(mine.id)}  # nothing about the other user's tree
        tree_events = [f for f in frames if f["type"] == "event" and "dashboard" not in f]
        assert [f["seq"] for f in tree_events] == list(range(tree_snap["seq"] + 1, last + 1))
        await comm.send_json_to({"type": "unsubscribe", "id": "u", "dashboard": True})
        reply = await receive(comm)
        while reply.get("dashboard") is True and reply["type"] != "unsubscribed":  # counts still in flight
            reply = await receive(comm)
        assert reply == {"type": "unsubscribed", "id": "u", "dashboard": True}
        await comm.disconnect()

    run(body)
