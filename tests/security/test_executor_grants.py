"""Item 2: dangerous executors need a per-user or per-group grant (docs/security.md).

``shell_command``, ``http_request`` and ``python_function`` need ``tasks_app.use_<id>``, checked
against the acting user at create, edit, copy and execute/retry/rerun, on REST (403,
``permission_denied``), JSON-RPC (-32005) and the TaskManager; the editor's catalogue lists only
what the user may use. Every test here fails without the fix (the executor was open to all)."""

import pytest
from django.contrib.auth.models import Group, Permission

from tasks_app.executors import registry
from tasks_app.models import AuditEvent, AuditKind, Task

from .conftest import t

pytestmark = pytest.mark.django_db

SHELL_PERM = "tasks_app.use_shell_command"
DANGEROUS = {
    "shell_command": "use_shell_command",
    "http_request": "use_http_request",
    "python_function": "use_python_function",
}


def shell(name, **kw):
    return t(name, "shell_command", inputs={"command": "echo", "args": ["hi"]}, **kw)


def rpc(client, method, params=None):
    return client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, format="json"
    )


def grant(user, *codenames):
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="tasks_app", codename__in=codenames)
    )


def revoke(user, *codenames):
    user.user_permissions.remove(
        *Permission.objects.filter(content_type__app_label="tasks_app", codename__in=codenames)
    )


def assert_denied(resp, permission=SHELL_PERM, executor="shell_command"):
    assert resp.status_code == 403, resp.content
    error = resp.json()["error"]
    assert error["code"] == "permission_denied"
    assert permission in error["message"] and executor in error["message"]
    assert error["details"]["permission"] == permission


def assert_rpc_denied(resp, permission=SHELL_PERM):
    assert resp.status_code == 403, resp.content
    error = resp.json()["error"]
    assert error["code"] == -32005
    assert permission in error["message"]
    assert error["data"]["type"] == "permission_denied"
    assert error["data"]["details"]["permission"] == permission


def denials(user):
    return AuditEvent.objects.filter(kind=AuditKind.PERMISSION_DENIED, actor=user)


@pytest.fixture
def shell_tree(user):
    """A tree of ``user`` with a shell_command task, made while the grant was held."""
    from tasks_app.services import trees

    grant(user, "use_shell_command")
    tree = trees.tree_create(owner=user, tasks=[t("root"), shell("sh", parent_id="root")], actor=user)
    revoke(user, "use_shell_command")
    return tree


# --- the rule lives in one place ------------------------------------------------------------------


def test_the_dangerous_executors_declare_their_permissions():
    assert {eid: registry.required_permission(eid) for eid in DANGEROUS} == DANGEROUS
    assert registry.required_permission("command_executor") == "use_shell_command"  # apflow alias
    assert registry.required_permission("noop") is None
    codenames = set(
        Permission.objects.filter(
            content_type__app_label="tasks_app", content_type__model="task"
        ).values_list("codename", flat=True)
    )
    assert set(DANGEROUS.values()) <= codenames


@pytest.mark.parametrize("executor", sorted(DANGEROUS))
def test_create_without_the_grant_is_403_naming_the_permission(api, user, executor):
    resp = api.post("/api/v1/trees/", [t("root"), t("x", executor, parent_id="root")], format="json")
    assert_denied(resp, f"tasks_app.{DANGEROUS[executor]}", executor)
    assert not Task.objects.filter(owner=user).exists()


def test_create_through_an_alias_is_refused_too(api):
    assert_denied(api.post("/api/v1/trees/", [t("root", "command_executor")], format="json"))


def test_create_with_a_user_grant(api, user):
    grant(user, "use_shell_command")
    resp = api.post("/api/v1/trees/", [t("root"), shell("sh", parent_id="root")], format="json")
    assert resp.status_code == 201, resp.json()


def test_create_with_a_group_grant(api, user):
    group = Group.objects.create(name="operators")
    group.permissions.add(Permission.objects.get(codename="use_shell_command"))
    user.groups.add(group)
    resp = api.post("/api/v1/trees/", [t("root"), shell("sh", parent_id="root")], format="json")
    assert resp.status_code == 201, resp.json()


def test_a_grant_covers_only_its_executor(api, user):
    grant(user, "use_shell_command")
    resp = api.post(
        "/api/v1/trees/", [shell("root"), t("h", "http_request", parent_id="root")], format="json"
    )
    assert_denied(resp, "tasks_app.use_http_request", "http_request")


def test_superusers_have_every_grant(staff_api):
    assert staff_api.post("/api/v1/trees/", [shell("root")], format="json").status_code == 201


def test_refusal_is_audited(api, user):
    api.post("/api/v1/trees/", [shell("root")], format="json")
    event = denials(user).get()
    assert event.target == "executor:shell_command"
    assert event.data["permission"] == SHELL_PERM
    assert event.source == "api"


def test_rpc_create_and_execute_with_tasks_are_refused(api, user):
    assert_rpc_denied(rpc(api, "tasks.create", [shell("root")]))
    assert_rpc_denied(rpc(api, "tasks.execute", {"tasks": [shell("root")]}))
    assert not Task.objects.filter(owner=user).exists()
    grant(user, "use_shell_command")
    assert rpc(api, "tasks.create", [shell("root")]).json()["result"]


def test_taskmanager_create_is_refused(tm):
    from tasks_app.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match=SHELL_PERM):
        tm.create_tree([shell("root")])


def test_cli_create_is_refused(user, tmp_path):
    import json

    from django.core.management import CommandError, call_command

    path = tmp_path / "tree.json"
    path.write_text(json.dumps([shell("root")]))
    with pytest.raises(CommandError, match=SHELL_PERM):
        call_command("arbor", "--user", user.username, "create", str(path))


# --- PATCH ------------------------------------------------------------------------------------------


def test_patch_to_a_dangerous_executor_is_refused(api, user, make_tree):
    _, tasks = make_tree([t("root"), t("a", parent_id="root")])
    resp = api.patch(f"/api/v1/tasks/{tasks['a']['id']}/", {"executor": "shell_command"}, format="json")
    assert_denied(resp)
    assert Task.objects.get(id=tasks["a"]["id"]).executor == "noop"
    assert_rpc_denied(rpc(api, "tasks.update", {"task_id": tasks["a"]["id"], "executor": "command_executor"}))
    grant(user, "use_shell_command")
    assert (
        api.patch(
            f"/api/v1/tasks/{tasks['a']['id']}/", {"executor": "shell_command"}, format="json"
        ).status_code
        == 200
    )


def test_patch_of_a_dangerous_task_needs_the_grant(api, shell_tree):
    """Its inputs are the command: editing them is choosing what runs."""
    sh = Task.objects.get(tree=shell_tree, name="sh")
    resp = api.patch(
        f"/api/v1/tasks/{sh.id}/", {"inputs": {"command": "rm", "args": ["-rf", "/"]}}, format="json"
    )
    assert_denied(resp)


# --- copy -----------------------------------------------------------------------------------------


def test_copy_of_a_tree_with_a_dangerous_task_is_refused(api, user, shell_tree):
    assert_denied(api.post(f"/api/v1/trees/{shell_tree.id}/copy/", {"mode": "full"}, format="json"))
    assert_denied(
        api.post(f"/api/v1/tasks/{shell_tree.id}/copy/", {"mode": "full", "save": False}, format="json")
    )
    assert_rpc_denied(rpc(api, "tasks.copy", {"task_id": str(shell_tree.id), "copy_mode": "full"}))
    assert_rpc_denied(rpc(api, "tasks.clone", {"task_id": str(shell_tree.id)}))
    assert_rpc_denied(rpc(api, "tasks.execute", {"task_id": str(shell_tree.id), "copy_execution": True}))
    assert Task.objects.filter(owner=user).count() == 2  # nothing copied


def test_custom_copy_needs_the_grant_for_every_copied_task(api, user):
    from tasks_app.services import trees

    grant(user, "use_shell_command")
    tree = trees.tree_create(
        owner=user,
        tasks=[t("root"), shell("sh", parent_id="root"), t("after", parent_id="root", dependencies=["sh"])],
        actor=user,
    )
    revoke(user, "use_shell_command")
    after = Task.objects.get(tree=tree, name="after")
    # the custom set is 'after' plus its upstream 'sh'
    resp = api.post(
        f"/api/v1/tasks/{after.id}/copy/",
        {"mode": "custom", "custom_task_ids": [str(after.id)]},
        format="json",
    )
    assert_denied(resp)


def test_copy_with_the_grant(api, user, shell_tree):
    grant(user, "use_shell_command")
    assert (
        api.post(f"/api/v1/trees/{shell_tree.id}/copy/", {"mode": "full"}, format="json").status_code == 201
    )


# --- execute, retry, rerun ----------------------------------------------------------------------------


def test_execute_after_the_grant_was_revoked_is_refused(api, user, shell_tree):
    assert_denied(api.post(f"/api/v1/trees/{shell_tree.id}/execute/"))
    assert_denied(api.post(f"/api/v1/tasks/{shell_tree.id}/execute/"))
    assert_rpc_denied(rpc(api, "tasks.execute", {"task_id": str(shell_tree.id)}))
    shell_tree.refresh_from_db()
    assert shell_tree.status == "pending" and shell_tree.run_count == 0
    assert denials(user).count() == 3


def test_execute_of_a_part_without_dangerous_tasks_is_allowed(api, user):
    from tasks_app.services import trees

    grant(user, "use_shell_command")
    tree = trees.tree_create(
        owner=user, tasks=[t("root"), shell("sh", parent_id="root"), t("safe", parent_id="root")], actor=user
    )
    revoke(user, "use_shell_command")
    safe = Task.objects.get(tree=tree, name="safe")
    assert api.post(f"/api/v1/tasks/{safe.id}/execute/").status_code == 200


def test_retry_and_rerun_need_the_grant(api, user, drain, monkeypatch):
    from tasks_app.services import control, trees

    grant(user, "use_shell_command")
    tree = trees.tree_create(
        owner=user,
        tasks=[t("root"), t("sh", "shell_command", parent_id="root", inputs={"command": "false"})],
        actor=user,
    )
    control.tree_execute(tree=tree, actor=user)
    drain()
    sh = Task.objects.get(tree=tree, name="sh")
    assert sh.status in {"failed", "completed"}
    revoke(user, "use_shell_command")
    if sh.status == "failed":
        assert_denied(api.post(f"/api/v1/tasks/{sh.id}/retry/"))
        assert_denied(api.post(f"/api/v1/trees/{tree.id}/retry/"))
    assert_denied(api.post(f"/api/v1/tasks/{sh.id}/rerun/"))


# --- the editor's catalogue ---------------------------------------------------------------------------


def test_catalogue_lists_only_usable_executors(api, user):
    ids = {e["id"] for e in api.get("/api/v1/executors/").json()}
    assert "noop" in ids and not ids & set(DANGEROUS)
    everything = {e["id"]: e for e in api.get("/api/v1/executors/?all=true").json()}
    assert everything["shell_command"]["allowed"] is False
    assert everything["shell_command"]["permission"] == SHELL_PERM
    assert everything["noop"]["allowed"] is True and everything["noop"]["permission"] is None
    grant(user, "use_shell_command")
    assert "shell_command" in {e["id"] for e in api.get("/api/v1/executors/").json()}


def test_catalogue_service(user, staff_user):
    from tasks_app.services import grants

    assert not {e["id"] for e in grants.executor_catalogue(user)} & set(DANGEROUS)
    assert set(DANGEROUS) <= {e["id"] for e in grants.executor_catalogue(staff_user)}
    assert grants.missing_executors(user) == set(DANGEROUS) | {"system_info"}  # staff-only
    assert grants.missing_executors(staff_user) == set()


def test_editing_a_never_run_tree_in_place_needs_the_grant_too(api, user):
    """POST /api/v1/trees/{id}/edit/ replaces the task array: it is a create of the new tasks."""
    tree = api.post(
        "/api/v1/trees/", [{"id": "root", "name": "root", "executor": "noop"}], format="json"
    ).json()
    body = [
        {"id": tree["id"], "name": "root", "executor": "noop"},
        {
            "id": "x",
            "name": "x",
            "executor": "shell_command",
            "parent_id": tree["id"],
            "inputs": {"command": "echo hello"},
        },
    ]
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", body, format="json")
    assert resp.status_code == 403, resp.json()
    assert "tasks_app.use_shell_command" in resp.json()["error"]["message"]
    assert Task.objects.filter(tree_id=tree["id"]).count() == 1
    grant(user, "use_shell_command")
    assert api.post(f"/api/v1/trees/{tree['id']}/edit/", body, format="json").status_code == 200
