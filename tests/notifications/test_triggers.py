"""Inbound triggers: POST /api/v1/triggers/{id}/fire/ starts a run with the body as the root's inputs."""

import json
import time

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tasks_app.models import AuditEvent, Event, Task, Tree, Trigger
from tasks_app.services.signing import sign

from .conftest import t

pytestmark = pytest.mark.django_db


def _tree(make_tree):
    data, _ = make_tree([t("root"), t("a", parent_id="root")])
    return data["id"]


def _create(api, tree_id, mode="hmac"):
    resp = api.post(f"/api/v1/trees/{tree_id}/triggers/", {"mode": mode}, format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def _fire(trigger, body: bytes, *, secret=None, timestamp=None, signature=None, headers=None):
    client = APIClient()
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    extra = {"HTTP_X_ARBOR_TIMESTAMP": ts}
    if signature is None and secret is not None:
        signature = sign(secret, ts, body)
    if signature is not None:
        extra["HTTP_X_ARBOR_SIGNATURE"] = signature
    extra.update(headers or {})
    return client.post(
        f"/api/v1/triggers/{trigger['id']}/fire/", data=body, content_type="application/json", **extra
    )


def test_signed_trigger_starts_a_run_with_the_inputs(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    assert trigger["secret"].startswith("whs_") and trigger["url"].endswith(
        f"/api/v1/triggers/{trigger['id']}/fire/"
    )
    body = json.dumps({"order": 42, "items": ["x"]}).encode()
    resp = _fire(trigger, body, secret=trigger["secret"])
    assert resp.status_code == 202, resp.json()
    assert resp.json() == {"tree": tree_id, "status": "in_progress", "run": 1}
    assert Task.objects.get(id=tree_id).inputs == {"order": 42, "items": ["x"]}
    started = Event.objects.filter(tree_id=tree_id, kind="tree.status", data__status="in_progress").get()
    assert started.source == "trigger" and started.actor.username == "alice"
    row = Trigger.objects.get(id=trigger["id"])
    assert row.fire_count == 1 and row.last_fired_at is not None
    # the secret is never shown again
    listed = api.get(f"/api/v1/trees/{tree_id}/triggers/").json()
    assert "secret" not in listed[0] and "secret" not in api.get(f"/api/v1/triggers/{trigger['id']}/").json()


def test_bad_signature_is_refused_with_nothing_started(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    seq = Tree.objects.get(id=tree_id).last_seq
    body = b'{"x": 1}'
    for resp in (
        _fire(trigger, body, secret="whs_wrong"),
        _fire(trigger, body, signature="sha256=" + "0" * 64),
        _fire(trigger, body),  # no signature
        _fire(
            trigger, b'{"x": 2}', signature=sign(trigger["secret"], str(int(time.time())), body)
        ),  # other body
    ):
        assert resp.status_code == 401, resp.content
        assert resp.json()["error"]["code"] == "unauthorized"
    tree = Tree.objects.get(id=tree_id)
    assert tree.status == "pending" and tree.run_count == 0 and tree.last_seq == seq
    assert not Event.objects.filter(tree_id=tree_id, seq__gt=seq).exists()
    assert Task.objects.get(id=tree_id).inputs == {}
    assert AuditEvent.objects.filter(kind="trigger_rejected", target=f"trigger:{trigger['id']}").count() == 4


def test_old_or_future_timestamp_is_refused(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    body = b"{}"
    for ts in (int(time.time()) - 301, int(time.time()) + 301, "soon"):
        resp = _fire(trigger, body, secret=trigger["secret"], timestamp=ts)
        assert resp.status_code == 401 and "X-Arbor-Timestamp" in resp.json()["error"]["message"]
    assert Tree.objects.get(id=tree_id).run_count == 0


def test_bearer_mode(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id, mode="bearer")
    row = Trigger.objects.get(id=trigger["id"])
    assert row.secret == "" and row.secret_digest == Trigger.digest(
        trigger["secret"]
    )  # only the digest is kept
    assert _fire(trigger, b"{}", headers={"HTTP_AUTHORIZATION": "Bearer nope"}).status_code == 401
    assert _fire(trigger, b"{}", secret=trigger["secret"]).status_code == 401  # a signature is not the secret
    resp = _fire(trigger, b'{"a": 1}', headers={"HTTP_AUTHORIZATION": f"Bearer {trigger['secret']}"})
    assert resp.status_code == 202, resp.json()
    assert Task.objects.get(id=tree_id).inputs == {"a": 1}


@override_settings(ARBOR_TRIGGER_MAX_BYTES=100)
def test_oversized_body_413_and_bad_json_400_name_the_body(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    big = json.dumps({"x": "y" * 200}).encode()
    resp = _fire(trigger, big, secret=trigger["secret"])
    assert resp.status_code == 413
    assert resp.json()["error"]["details"]["field"] == "body" and "body" in resp.json()["error"]["message"]
    for body in (b"{not json", b"[1, 2]"):
        resp = _fire(trigger, body, secret=trigger["secret"])
        assert resp.status_code == 400, resp.json()
        assert resp.json()["error"]["message"].startswith("body:")
    assert Tree.objects.get(id=tree_id).run_count == 0


def test_running_tree_409_finished_tree_runs_again(api, make_tree, drain):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    assert _fire(trigger, b'{"n": 1}', secret=trigger["secret"]).status_code == 202
    resp = _fire(trigger, b'{"n": 2}', secret=trigger["secret"])
    assert resp.status_code == 409
    assert Task.objects.get(id=tree_id).inputs == {"n": 1}  # the refused firing changed nothing
    drain()
    assert Tree.objects.get(id=tree_id).status == "completed"
    resp = _fire(trigger, b'{"n": 3}', secret=trigger["secret"])
    assert resp.status_code == 202 and resp.json()["run"] == 2
    assert set(Task.objects.filter(tree_id=tree_id).values_list("status", flat=True)) <= {
        "pending",
        "in_progress",
    }
    drain()
    assert Tree.objects.get(id=tree_id).status == "completed"


@override_settings(ARBOR_TRIGGER_RATE="2/min")
def test_rate_limit_per_trigger(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    other = _create(api, tree_id)
    codes = [_fire(trigger, b"{}", signature="sha256=00").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    resp = _fire(trigger, b"{}", secret=trigger["secret"])
    assert resp.status_code == 429 and int(resp["Retry-After"]) > 0
    assert _fire(other, b"{}", secret=other["secret"]).status_code == 202  # its own budget


def test_disabled_trigger_and_rotation(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    assert (
        api.patch(f"/api/v1/triggers/{trigger['id']}/", {"enabled": False}, format="json").status_code == 200
    )
    assert _fire(trigger, b"{}", secret=trigger["secret"]).status_code == 409
    api.patch(f"/api/v1/triggers/{trigger['id']}/", {"enabled": True}, format="json")
    rotated = api.post(f"/api/v1/triggers/{trigger['id']}/rotate/").json()
    assert rotated["secret"] != trigger["secret"]
    assert _fire(trigger, b"{}", secret=trigger["secret"]).status_code == 401
    assert _fire(trigger, b"{}", secret=rotated["secret"]).status_code == 202


def test_owner_scoping_and_unknown_trigger(api, other_api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    assert other_api.get(f"/api/v1/trees/{tree_id}/triggers/").status_code == 404
    assert other_api.post(f"/api/v1/trees/{tree_id}/triggers/", {}, format="json").status_code == 404
    assert other_api.get(f"/api/v1/triggers/{trigger['id']}/").status_code == 404
    assert other_api.delete(f"/api/v1/triggers/{trigger['id']}/").status_code == 404
    resp = APIClient().post(
        "/api/v1/triggers/00000000-0000-0000-0000-000000000000/fire/",
        data=b"{}",
        content_type="application/json",
    )
    assert resp.status_code == 404


def test_deleting_a_tree_removes_its_triggers(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    assert api.delete(f"/api/v1/trees/{tree_id}/").status_code == 200
    assert not Trigger.objects.filter(id=trigger["id"]).exists()
    assert _fire(trigger, b"{}", secret=trigger["secret"]).status_code == 404


def test_trigger_checks_the_owners_executor_grants(api, make_tree, executor_grants, user):
    from django.contrib.auth.models import Permission

    data, _ = make_tree(
        [t("root", executor="python_function", inputs={"function": "tests.helpers.add", "args": [1, 2]})]
    )
    trigger = _create(api, data["id"])
    user.user_permissions.remove(Permission.objects.get(codename="use_python_function"))
    resp = _fire(trigger, b'{"function": "tests.helpers.add", "args": [1, 2]}', secret=trigger["secret"])
    assert resp.status_code == 403, resp.json()
    assert Tree.objects.get(id=data["id"]).run_count == 0


def test_too_deep_or_nul_body_is_refused(api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    deep: dict = {}
    node = deep
    for _ in range(30):
        node["x"] = {}
        node = node["x"]
    for body in (json.dumps(deep).encode(), b'{"a": "x\\u0000y"}'):
        resp = _fire(trigger, body, secret=trigger["secret"])
        assert resp.status_code == 400 and resp.json()["error"]["details"]["field"] == "body", resp.json()
    assert Tree.objects.get(id=tree_id).run_count == 0


def test_inputs_the_executor_refuses_are_a_400_with_nothing_started(api, make_tree, executor_grants):
    data, _ = make_tree([t("root", executor="shell_command", inputs={"command": "echo hello"})])
    trigger = _create(api, data["id"])
    resp = _fire(
        trigger, json.dumps({"command": "echo hello", "cwd": "/etc"}).encode(), secret=trigger["secret"]
    )
    assert resp.status_code == 400, resp.json()
    assert Tree.objects.get(id=data["id"]).run_count == 0
    assert Task.objects.get(id=data["id"]).inputs == {"command": "echo hello"}


def _rpc(client, method, params):
    return client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, format="json"
    )


def test_rpc_webhook_trigger(api, other_api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    resp = _rpc(other_api, "tasks.webhook.trigger", {"trigger_id": trigger["id"], "inputs": {"a": 1}})
    assert resp.json()["error"]["code"] == -32001  # another user's trigger is not found
    assert _rpc(api, "tasks.webhook.trigger", {"trigger_id": trigger["id"], "inputs": [1]}).status_code == 400
    result = _rpc(api, "tasks.webhook.trigger", {"trigger_id": trigger["id"], "inputs": {"a": 1}}).json()[
        "result"
    ]
    assert result["status"] == "triggered" and result["root_task_id"] == tree_id and result["run"] == 1
    assert Task.objects.get(id=tree_id).inputs == {"a": 1}
    assert (
        Event.objects.get(tree_id=tree_id, kind="tree.status", data__status="in_progress").source == "trigger"
    )


def test_an_inactive_owners_trigger_starts_nothing(api, make_tree, user):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    user.is_active = False
    user.save(update_fields=["is_active"])
    resp = _fire(trigger, b"{}", secret=trigger["secret"])
    assert resp.status_code == 409 and "inactive" in resp.json()["error"]["message"]
    assert Tree.objects.get(id=tree_id).run_count == 0


def test_admin_disables_and_deletes_a_trigger_without_showing_its_secret(client, staff_user, api, make_tree):
    tree_id = _tree(make_tree)
    trigger = _create(api, tree_id)
    client.force_login(staff_user)
    page = client.get(f"/admin/tasks_app/trigger/{trigger['id']}/change/")
    assert page.status_code == 200 and trigger["secret"] not in page.content.decode()
    resp = client.post(f"/admin/tasks_app/trigger/{trigger['id']}/change/", {"name": "nightly"})
    assert resp.status_code == 302
    row = Trigger.objects.get(id=trigger["id"])
    assert row.name == "nightly" and not row.enabled and row.secret == trigger["secret"]
    resp = client.post(f"/admin/tasks_app/trigger/{trigger['id']}/delete/", {"post": "yes"})
    assert resp.status_code == 302 and not Trigger.objects.filter(id=trigger["id"]).exists()
    assert AuditEvent.objects.filter(kind="trigger_deleted", source="admin").exists()
