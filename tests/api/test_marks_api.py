"""REST and JSON-RPC mark success / skip (docs/api.md, docs/semantics.md "Mark success and skip")."""

import pytest
from django.contrib.auth.models import Permission

from tasks_app.models import Task, Tree

from .conftest import client_for, t

pytestmark = pytest.mark.django_db

FAILING = [
    t("root", dependencies=["b"]),
    t("a", "fail", parent_id="root", max_retries=0),
    t("b", parent_id="root", dependencies=["a"]),
]


def rpc(client, method, params):
    return client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, format="json"
    )


@pytest.fixture
def failed(api, make_tree, drain):
    tree, tasks = make_tree(FAILING)
    assert api.post(f"/api/v1/trees/{tree['id']}/execute/").status_code in (200, 202)
    drain()
    assert Tree.objects.get(id=tree["id"]).status == "failed"
    return tree, tasks


def test_rest_mark_success_completes_the_tree(api, failed, drain, user):
    tree, tasks = failed
    preview = api.get(f"/api/v1/tasks/{tasks['a']['id']}/preview/", {"action": "mark_success"})
    assert preview.status_code == 200
    assert [x["name"] for x in preview.json()["tasks"]] == ["a", "b", "root"]
    resp = api.post(f"/api/v1/tasks/{tasks['a']['id']}/mark-success/")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "completed"
    assert body["result"] == {"marked": "success", "by": user.get_username()}
    drain()
    assert api.get(f"/api/v1/trees/{tree['id']}/").json()["status"] == "completed"
    again = api.post(f"/api/v1/tasks/{tasks['a']['id']}/mark-success/")
    assert again.status_code == 409


def test_rest_skip_pending_task(api, make_tree):
    _, tasks = make_tree()
    resp = api.post(f"/api/v1/tasks/{tasks['a']['id']}/skip/")
    assert resp.status_code == 200, resp.content
    assert resp.json()["result"]["marked"] == "skipped"


def test_rest_refuses_running_and_archived(api, make_tree):
    tree, tasks = make_tree()
    Task.objects.filter(id=tasks["a"]["id"]).update(status="in_progress")
    resp = api.post(f"/api/v1/tasks/{tasks['a']['id']}/skip/")
    assert resp.status_code == 409 and "cancel it first" in resp.json()["error"]["message"]
    Tree.objects.filter(id=tree["id"]).update(archived=True)
    assert api.post(f"/api/v1/tasks/{tasks['b']['id']}/mark-success/").status_code == 409


def test_other_users_task_is_not_found(other_api, make_tree):
    _, tasks = make_tree()
    for path in ("mark-success", "skip"):
        assert other_api.post(f"/api/v1/tasks/{tasks['a']['id']}/{path}/").status_code == 404
    for method in ("tasks.mark_success", "tasks.skip"):
        assert rpc(other_api, method, {"task_id": tasks["a"]["id"]}).json()["error"]["code"] == -32001


def test_staff_needs_change_task(django_user_model, make_tree):
    _, tasks = make_tree()
    staff = django_user_model.objects.create_user("sam", password="pw-sam-12345", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tasks_app", codename__in=("view_tree", "view_task")
        )
    )
    client = client_for(staff)
    resp = client.post(f"/api/v1/tasks/{tasks['a']['id']}/mark-success/")
    assert resp.status_code == 403 and resp.json()["error"]["details"]["permission"].endswith("change_task")
    assert Task.objects.get(id=tasks["a"]["id"]).status == "pending"


def test_rpc_mark_success_and_skip(api, failed, drain):
    tree, tasks = failed
    data = rpc(api, "tasks.mark_success", {"task_id": tasks["a"]["id"]}).json()
    assert data["result"]["status"] == "completed", data
    drain()
    assert Tree.objects.get(id=tree["id"]).status == "completed"
    err = rpc(api, "tasks.skip", {"task_id": tasks["a"]["id"]}).json()["error"]
    assert err["code"] == -32006 and "only failed, cancelled or pending" in err["message"]


def test_openapi_documents_the_actions(api):
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/tasks/{id}/mark-success/" in text and "/api/v1/tasks/{id}/skip/" in text
