"""Item 4: staff access to other users' rows follows the Django model permissions, on every
interface (docs/security.md).

A staff user without permissions sees only their own rows: another user's tree is "not found"
(404, JSON-RPC -32001, websocket 4404, absent from lists, snapshots and stats). ``view_*`` (or
``change_*``) shows it (audited as STAFF_ACCESS), changing it needs ``change_*`` and deleting it
``delete_*`` (403 naming the permission, audited as PERMISSION_DENIED). Every test here fails
without the fix (``is_staff`` alone saw and changed everything)."""

import pytest
from django.contrib.auth.models import Group, Permission

from tasks_app import selectors
from tasks_app.live import reads
from tasks_app.models import AuditEvent, AuditKind, Task, Tree

from .conftest import client_for, t

pytestmark = pytest.mark.django_db

VIEW = ("view_tree", "view_task")
CHANGE = ("change_tree", "change_task")
DELETE = ("delete_tree", "delete_task")


def rpc(client, method, params=None):
    return client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, format="json"
    )


def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="tasks_app", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh object: has_perm caches


@pytest.fixture
def staff(django_user_model):
    """Staff without any permission (the attacker of the report)."""
    return django_user_model.objects.create_user("sam", password="pw-sam-12345", is_staff=True)


@pytest.fixture
def staff_client(staff):
    return client_for(staff)


@pytest.fixture
def theirs(make_tree):
    """alice's pending tree: (detail, {name: task})."""
    return make_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])])


def staff_access(staff):
    return AuditEvent.objects.filter(kind=AuditKind.STAFF_ACCESS, actor=staff)


def assert_forbidden(resp, permission):
    assert resp.status_code == 403, resp.content
    error = resp.json()["error"]
    assert error["code"] == "permission_denied"
    assert permission in error["message"]
    assert error["details"]["permission"] == permission


# --- without permissions: another user's rows do not exist --------------------------------------


def test_staff_without_permissions_cannot_see_patch_execute_or_delete(staff_client, theirs):
    tree, tasks = theirs
    tid, aid = tree["id"], tasks["a"]["id"]
    assert staff_client.get(f"/api/v1/trees/{tid}/").status_code == 404
    assert staff_client.get(f"/api/v1/tasks/{aid}/").status_code == 404
    assert staff_client.get("/api/v1/trees/").json()["count"] == 0
    assert staff_client.get("/api/v1/tasks/").json()["count"] == 0
    assert staff_client.patch(f"/api/v1/tasks/{aid}/", {"inputs": {"x": 1}}, format="json").status_code == 404
    assert staff_client.post(f"/api/v1/trees/{tid}/execute/").status_code == 404
    assert staff_client.post(f"/api/v1/tasks/{aid}/cancel/").status_code == 404
    assert staff_client.delete(f"/api/v1/trees/{tid}/").status_code == 404
    assert staff_client.delete(f"/api/v1/tasks/{aid}/").status_code == 404
    assert staff_client.get(f"/api/v1/trees/{tid}/events/").status_code == 404
    assert staff_client.get(f"/api/v1/stats/?tree={tid}").status_code == 404
    assert staff_client.get("/api/v1/stats/").json()["total"] == 0
    stored = Tree.objects.get(id=tid)
    assert stored.status == "pending" and stored.run_count == 0
    assert Task.objects.get(id=aid).inputs == {}


def test_staff_without_permissions_over_rpc(staff_client, theirs, user):
    tree, tasks = theirs
    for method, params in [
        ("tasks.get", {"task_id": tasks["a"]["id"]}),
        ("tasks.update", {"task_id": tasks["a"]["id"], "inputs": {"x": 1}}),
        ("tasks.execute", {"task_id": tree["id"]}),
        ("tasks.delete", {"task_id": tree["id"]}),
        ("tasks.copy", {"task_id": tree["id"]}),
        ("tasks.cancel", {"task_ids": [tree["id"]]}),
    ]:
        resp = rpc(staff_client, method, params)
        assert resp.json()["error"]["code"] == -32001, (method, resp.json())
    assert rpc(staff_client, "tasks.list", {"user_id": user.username}).json()["result"] == []
    assert rpc(staff_client, "tasks.count", {"user_id": user.pk}).json()["result"]["total"] == 0
    assert Tree.objects.get(id=tree["id"]).run_count == 0


def test_staff_keep_their_own_rows(staff_client, make_tree):
    mine, tasks = make_tree([t("root"), t("a", parent_id="root")], client=staff_client)
    assert staff_client.get(f"/api/v1/trees/{mine['id']}/").status_code == 200
    assert (
        staff_client.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"priority": 1}, format="json").status_code
        == 200
    )
    assert staff_client.post(f"/api/v1/trees/{mine['id']}/execute/").status_code == 200
    assert staff_client.get("/api/v1/trees/").json()["count"] == 1


def test_staff_without_permissions_get_only_their_trees_on_the_dashboard_snapshot(staff, theirs):
    tree, _ = theirs
    assert reads.dashboard_snapshot(staff)["trees"] == []
    assert reads.dashboard_snapshot(staff)["staff"] is False
    assert reads.readable_tree(staff, tree["id"]) is None
    assert not reads.sees_all_trees(staff)
    staff = grant(staff, "view_tree")
    assert [x["id"] for x in reads.dashboard_snapshot(staff)["trees"]] == [tree["id"]]
    assert reads.readable_tree(staff, tree["id"]) is not None


# --- view: see, but not change --------------------------------------------------------------------


def test_view_permission_shows_and_audits_but_does_not_change(staff, theirs):
    tree, tasks = theirs
    staff = grant(staff, *VIEW)
    client = client_for(staff)
    assert client.get(f"/api/v1/trees/{tree['id']}/").status_code == 200
    assert client.get(f"/api/v1/tasks/{tasks['a']['id']}/").status_code == 200
    assert client.get("/api/v1/trees/").json()["count"] == 1
    assert staff_access(staff).count() == 2  # one per detail request
    event = staff_access(staff).order_by("id").first()
    assert event.target == f"tree:{tree['id']}" and event.source == "api"
    client.get("/api/v1/trees/")
    assert staff_access(staff).count() == 2  # not for list pages
    assert_forbidden(
        client.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"inputs": {"x": 1}}, format="json"),
        "tasks_app.change_task",
    )
    assert_forbidden(client.post(f"/api/v1/trees/{tree['id']}/execute/"), "tasks_app.change_tree")
    assert_forbidden(client.post(f"/api/v1/tasks/{tasks['a']['id']}/execute/"), "tasks_app.change_task")
    assert_forbidden(client.delete(f"/api/v1/trees/{tree['id']}/"), "tasks_app.delete_tree")
    assert Tree.objects.get(id=tree["id"]).run_count == 0
    denied = AuditEvent.objects.filter(kind=AuditKind.PERMISSION_DENIED, actor=staff)
    assert denied.count() == 4
    assert denied.filter(data__permission="tasks_app.delete_tree").exists()


def test_view_permission_over_rpc(staff, theirs, user):
    tree, tasks = theirs
    staff = grant(staff, *VIEW)
    client = client_for(staff)
    assert rpc(client, "tasks.get", {"task_id": tasks["a"]["id"]}).json()["result"]["id"] == tasks["a"]["id"]
    assert len(rpc(client, "tasks.list", {"user_id": user.username}).json()["result"]) == 1
    resp = rpc(client, "tasks.update", {"task_id": tasks["a"]["id"], "inputs": {"x": 1}})
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == -32005 and "tasks_app.change_task" in error["message"]
    assert rpc(client, "tasks.execute", {"task_id": tree["id"]}).json()["error"]["code"] == -32005
    assert rpc(client, "tasks.delete", {"task_id": tree["id"]}).json()["error"]["code"] == -32005
    assert staff_access(staff).filter(source="rpc").exists()


# --- change and delete -----------------------------------------------------------------------------


def test_change_permissions_allow_patch_and_execute(staff, theirs):
    tree, tasks = theirs
    staff = grant(staff, *CHANGE)  # change implies view, as in the admin
    client = client_for(staff)
    assert (
        client.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"inputs": {"x": 1}}, format="json").status_code
        == 200
    )
    assert client.post(f"/api/v1/trees/{tree['id']}/execute/").status_code == 200
    assert staff_access(staff).count() == 2
    assert_forbidden(client.delete(f"/api/v1/trees/{tree['id']}/"), "tasks_app.delete_tree")


def test_delete_permission_allows_delete(staff, theirs, drain):
    tree, _ = theirs
    staff = grant(staff, *VIEW, *DELETE)
    resp = client_for(staff).delete(f"/api/v1/trees/{tree['id']}/")
    assert resp.status_code == 200, resp.json()
    assert not Tree.objects.filter(id=tree["id"]).exists()


def test_group_permissions_count(staff, theirs):
    tree, _ = theirs
    group = Group.objects.create(name="support")
    group.permissions.add(*Permission.objects.filter(codename__in=VIEW))
    staff.groups.add(group)
    assert client_for(staff).get(f"/api/v1/trees/{tree['id']}/").status_code == 200


def test_permissions_without_is_staff_give_nothing(user, other_user, theirs):
    """As in the admin, model permissions widen only a staff user's scope."""
    tree, _ = theirs
    other = grant(other_user, *VIEW, *CHANGE, *DELETE)
    assert client_for(other).get(f"/api/v1/trees/{tree['id']}/").status_code == 404


def test_superusers_see_and_change_everything(staff_api, theirs):
    tree, _ = theirs
    assert staff_api.get(f"/api/v1/trees/{tree['id']}/").status_code == 200
    assert staff_api.post(f"/api/v1/trees/{tree['id']}/execute/").status_code == 200


def test_selectors_scope_by_action(staff, theirs):
    tree, _ = theirs
    assert not selectors.tree_queryset(staff).exists()
    staff = grant(staff, "view_tree")
    assert selectors.tree_queryset(staff).count() == 1
    assert not selectors.tree_queryset(staff, "change").exists()
    assert not selectors.tree_queryset(staff, "delete").exists()


# --- the UI pages and the admin actions -------------------------------------------------------------


def test_ui_run_page_of_another_users_tree(client, staff, theirs):
    tree, _ = theirs
    client.force_login(staff)
    assert client.get(f"/trees/{tree['id']}/").status_code == 404
    staff = grant(staff, "view_tree")
    assert client.get(f"/trees/{tree['id']}/").status_code == 200
    assert staff_access(staff).filter(source="web").count() == 1


def test_admin_tree_action_needs_change_permission(client, staff, theirs):
    tree, _ = theirs
    staff = grant(staff, *VIEW)
    client.force_login(staff)
    data = {"action": "execute_trees", "_selected_action": [tree["id"]], "post": "yes"}
    client.post("/admin/tasks_app/tree/", data)
    assert Tree.objects.get(id=tree["id"]).run_count == 0


def test_copy_of_another_users_tree_needs_change_to_save(staff, theirs, user):
    """A saved copy belongs to the original's owner: it changes their rows. A preview does not."""
    tree, _ = theirs
    staff = grant(staff, *VIEW)
    client = client_for(staff)
    preview = client.post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full", "save": False}, format="json")
    assert preview.status_code == 200, preview.json()
    assert_forbidden(
        client.post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full"}, format="json"),
        "tasks_app.change_tree",
    )
    assert_forbidden(
        client.post(f"/api/v1/tasks/{tree['id']}/copy/", {"mode": "full"}, format="json"),
        "tasks_app.change_task",
    )
    assert rpc(client, "tasks.copy", {"task_id": tree["id"]}).json()["error"]["code"] == -32005
    assert Tree.objects.filter(owner=user).count() == 1
    staff = grant(staff, *CHANGE)
    assert (
        client_for(staff)
        .post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full"}, format="json")
        .status_code
        == 201
    )


# --- websockets (through Channels' communicator, the real hub) --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_websockets_for_staff_without_permissions(user, staff, tm):
    from tasks_app.services import control
    from tasks_app.taskmanager import TaskManager
    from tasks_app.worker.loop import run_until_idle
    from tests.live.utils import adb, collect_until, communicator, expect_close, make_token, receive, run

    theirs = tm.create_tree([{"id": "z", "name": "z", "executor": "noop"}])
    mine = TaskManager(staff).create_tree([{"id": "m", "name": "m", "executor": "noop"}])
    token = make_token(staff)

    async def body():
        comm = communicator(f"/ws/trees/{theirs.id}/", token=token)
        await comm.connect()
        assert await expect_close(comm) == 4404
        dash = communicator("/ws/dashboard/", token=token)
        await dash.connect()
        snap = await receive(dash)
        assert snap["type"] == "snapshot" and snap["staff"] is False
        assert [x["id"] for x in snap["trees"]] == [str(mine.id)]
        # their run first, then mine: by the time mine completes, theirs would have been delivered
        await adb(control.tree_execute)(tree=theirs, actor=user)
        await adb(run_until_idle)(timeout=30)
        await adb(control.tree_execute)(tree=mine, actor=staff)
        await adb(run_until_idle)(timeout=30)
        frames = await collect_until(
            dash,
            lambda f: (
                f.get("tree") == str(mine.id)
                and f.get("kind") == "tree.status"
                and f["data"]["status"] == "completed"
            ),
        )
        assert str(theirs.id) not in {f.get("tree") for f in frames}
        await dash.disconnect()

    run(body)


@pytest.mark.django_db(transaction=True)
def test_websockets_for_staff_with_view_permission(staff, tm):
    from tests.live.utils import communicator, make_token, receive, run

    theirs = tm.create_tree([{"id": "z", "name": "z", "executor": "noop"}])
    staff = grant(staff, "view_tree")
    token = make_token(staff)

    async def body():
        comm = communicator(f"/ws/trees/{theirs.id}/", token=token)
        connected, _ = await comm.connect()
        assert connected
        assert (await receive(comm))["type"] == "snapshot"
        await comm.disconnect()
        dash = communicator("/ws/dashboard/", token=token)
        await dash.connect()
        snap = await receive(dash)
        assert [x["id"] for x in snap["trees"]] == [str(theirs.id)] and snap["staff"] is True
        await dash.disconnect()

    run(body)
    assert (
        AuditEvent.objects.filter(
            kind=AuditKind.STAFF_ACCESS, actor=staff, source="ws", target=f"tree:{theirs.id}"
        ).count()
        == 1
    )


def test_admin_tree_action_with_change_permission_runs_and_is_audited(client, staff, theirs):
    tree, _ = theirs
    staff = grant(staff, *VIEW, *CHANGE)
    client.force_login(staff)
    data = {"action": "execute_trees", "_selected_action": [tree["id"]]}
    assert client.post("/admin/tasks_app/tree/", data).status_code == 200  # the confirmation page
    client.post("/admin/tasks_app/tree/", {**data, "post": "yes"})
    assert Tree.objects.get(id=tree["id"]).run_count == 1
    assert staff_access(staff).filter(source="admin", target=f"tree:{tree['id']}").count() == 1


def test_admin_action_still_needs_the_executor_grant(client, staff, user):
    from tasks_app.services import trees

    tree = trees.tree_create(owner=user, tasks=[t("root", "shell_command", inputs={"command": "echo"})])
    staff = grant(staff, *VIEW, *CHANGE)
    client.force_login(staff)
    data = {"action": "execute_trees", "_selected_action": [str(tree.id)], "post": "yes"}
    client.post("/admin/tasks_app/tree/", data)
    assert Tree.objects.get(id=tree.id).run_count == 0
    assert AuditEvent.objects.filter(
        kind=AuditKind.PERMISSION_DENIED, actor=staff, source="admin", target="executor:shell_command"
    ).exists()
