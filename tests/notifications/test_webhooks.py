"""Outbound notifications: deliveries written when a run ends, sent by deliver_due with retries."""

import datetime as dt
import json

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from tasks_app.models import Delivery, NotificationRule, Tree
from tasks_app.services import control, notifications
from tasks_app.services.signing import sign

from .conftest import t

pytestmark = pytest.mark.django_db


def _rule(api, tree_id, **body):
    resp = api.post(f"/api/v1/trees/{tree_id}/notifications/", body, format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def _run(api, tree_id, drain):
    assert api.post(f"/api/v1/trees/{tree_id}/execute/").status_code == 200
    drain()


def _later(seconds=3600):
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_webhook_delivered_with_a_valid_signature_and_the_run_summary(api, make_tree, drain, receiver):
    data, _ = make_tree()
    rule = _rule(api, data["id"], url=receiver.url, events=["completed"], headers={"X-Team": "ops"})
    assert rule["secret"].startswith("whs_")
    assert "secret" not in api.get(f"/api/v1/notifications/{rule['id']}/").json()
    _run(api, data["id"], drain)
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert delivery.status == "pending" and delivery.event == "completed"
    assert notifications.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200
    [request] = receiver.received
    headers, body = request["headers"], request["body"]
    assert headers["X-Arbor-Signature"] == sign(rule["secret"], headers["X-Arbor-Timestamp"], body)
    assert headers["X-Arbor-Event"] == "tree.completed" and headers["X-Team"] == "ops"
    payload = json.loads(body)
    tree = Tree.objects.get(id=data["id"])
    assert payload["tree"] == {"id": data["id"], "name": "root"}
    run = payload["run"]
    assert run["number"] == 1 and run["status"] == "completed" and run["trigger"] == "api"
    assert run["counts"] == {"completed": 3} and run["duration"] >= 0
    assert (
        run["started_at"] == tree.started_at.isoformat()
        and run["finished_at"] == tree.finished_at.isoformat()
    )
    assert payload["delivery"] == str(delivery.id)
    assert notifications.deliver_due(now=_later()) == 0  # delivered once
    listed = api.get(f"/api/v1/notifications/{rule['id']}/deliveries/").json()
    assert listed["results"][0]["status"] == "delivered"


def test_only_the_chosen_events(api, make_tree, drain, receiver):
    data, _ = make_tree()
    _rule(api, data["id"], url=receiver.url, events=["failed", "cancelled"])
    _run(api, data["id"], drain)
    assert not Delivery.objects.exists()


def test_cancel_is_notified(api, make_tree, receiver):
    data, _ = make_tree()
    _rule(api, data["id"], url=receiver.url, events=["cancelled"])
    api.post(f"/api/v1/trees/{data['id']}/execute/")
    assert api.post(f"/api/v1/trees/{data['id']}/cancel/").status_code == 200
    delivery = Delivery.objects.get()
    assert delivery.event == "cancelled" and delivery.payload["run"]["status"] == "cancelled"


def test_5xx_is_retried_with_backoff_then_delivered(api, make_tree, drain, receiver):
    data, _ = make_tree()
    receiver.statuses = [500, 503, 200]
    rule = _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    assert notifications.deliver_due() == 1
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    first_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert notifications.deliver_due() == 0  # not due yet
    assert notifications.deliver_due(now=_later()) == 1
    delivery.refresh_from_db()
    second_wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert delivery.attempts == 2 and second_wait > first_wait  # exponential
    assert notifications.deliver_due(now=_later(2 * 3600)) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3 and len(receiver.received) == 3


@override_settings(ARBOR_WEBHOOK_MAX_ATTEMPTS=2)
def test_attempts_are_bounded(api, make_tree, drain, receiver):
    data, _ = make_tree()
    receiver.statuses = [502]
    _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    notifications.deliver_due()
    notifications.deliver_due(now=_later())
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 2 and delivery.next_attempt_at is None
    assert notifications.deliver_due(now=_later(10 * 3600)) == 0


def test_4xx_fails_without_retry(api, make_tree, drain, receiver):
    data, _ = make_tree()
    receiver.statuses = [404, 200]
    _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    notifications.deliver_due()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.last_status_code == 404
    assert delivery.last_error == "HTTP 404"
    assert notifications.deliver_due(now=_later(10 * 3600)) == 0 and len(receiver.received) == 1


def test_network_error_is_retried(api, make_tree, drain, receiver):
    data, _ = make_tree()
    url = receiver.url
    _rule(api, data["id"], url=url)
    receiver.shutdown()
    receiver.server_close()  # connection refused
    _run(api, data["id"], drain)
    notifications.deliver_due()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "pending"
        and delivery.attempts == 1
        and "ConnectionRefusedError" in delivery.last_error
    )


def test_private_address_refused_without_the_allow_list(api, make_tree, drain, receiver):
    data, _ = make_tree()
    with override_settings(ARBOR_WEBHOOK_ALLOWED_HOSTS=["hooks.example.com"]):
        for url in ("http://10.0.0.5/hook", "http://169.254.169.254/latest/meta-data", receiver.url):
            resp = api.post(f"/api/v1/trees/{data['id']}/notifications/", {"url": url}, format="json")
            assert resp.status_code == 400, resp.json()
            assert resp.json()["error"]["message"].startswith("url:")
            assert "ARBOR_WEBHOOK_ALLOWED_HOSTS" in resp.json()["error"]["message"]
    with override_settings(ARBOR_WEBHOOK_ALLOWED_HOSTS=[]):
        resp = api.post(
            f"/api/v1/trees/{data['id']}/notifications/", {"url": "https://hooks.example.com/"}, format="json"
        )
        assert resp.status_code == 400 and "is empty" in resp.json()["error"]["message"]
    # a host name on the list that resolves to a loopback address is refused when sent, never retried
    port = receiver.server_address[1]
    with override_settings(ARBOR_WEBHOOK_ALLOWED_HOSTS=["localhost:*"]):
        _rule(api, data["id"], url=f"http://localhost:{port}/hook")
        _run(api, data["id"], drain)
        notifications.deliver_due()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "failed" and delivery.attempts == 1 and delivery.last_error.startswith("refused:")
    )
    assert receiver.received == []


def test_rule_validation_names_the_field(api, make_tree):
    data, _ = make_tree()
    url = f"/api/v1/trees/{data['id']}/notifications/"
    for body, field in (
        ({"url": "http://127.0.0.1:9/", "events": ["exploded"]}, "events"),
        ({"url": "http://127.0.0.1:9/", "method": "GET"}, "method"),
        ({"url": "http://127.0.0.1:9/", "timeout": 0}, "timeout"),
        ({"url": "http://127.0.0.1:9/", "headers": {"Transfer-Encoding": "chunked"}}, "headers"),
        ({"kind": "email", "emails": ["not-an-address"]}, "emails"),
        ({"kind": "sms"}, "kind"),
        ({}, "url"),
    ):
        resp = api.post(url, body, format="json")
        assert resp.status_code == 400, (body, resp.json())
        assert resp.json()["error"]["message"].startswith(field), resp.json()


def test_email_via_the_configured_backend(api, make_tree, drain):
    data, _ = make_tree()
    _rule(api, data["id"], kind="email", emails=["ops@example.com"], events=["completed"])
    _run(api, data["id"], drain)
    mail.outbox.clear()
    assert notifications.deliver_due() == 1
    assert Delivery.objects.get().status == "delivered"
    [message] = mail.outbox
    assert message.to == ["ops@example.com"] and "run 1 completed" in message.subject
    assert "Tasks: completed 3" in message.body


@override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="")
def test_email_refused_when_mail_is_not_configured(api, make_tree):
    data, _ = make_tree()
    resp = api.post(
        f"/api/v1/trees/{data['id']}/notifications/",
        {"kind": "email", "emails": ["ops@example.com"]},
        format="json",
    )
    assert resp.status_code == 400 and "not configured" in resp.json()["error"]["message"]


def test_owner_scoping_and_tree_delete(api, other_api, make_tree, receiver):
    data, _ = make_tree()
    rule = _rule(api, data["id"], url=receiver.url)
    assert other_api.get(f"/api/v1/notifications/{rule['id']}/").status_code == 404
    assert other_api.get(f"/api/v1/trees/{data['id']}/notifications/").status_code == 404
    assert other_api.delete(f"/api/v1/notifications/{rule['id']}/").status_code == 404
    assert api.delete(f"/api/v1/trees/{data['id']}/").status_code == 200
    assert not NotificationRule.objects.exists()


def test_redeliver_from_the_admin(client, staff_user, api, make_tree, drain, receiver):
    data, _ = make_tree()
    receiver.statuses = [404, 200]
    _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    notifications.deliver_due()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    client.force_login(staff_user)
    assert client.get("/admin/tasks_app/delivery/").status_code == 200
    assert client.get(f"/admin/tasks_app/delivery/{delivery.id}/change/").status_code == 200
    resp = client.post(
        "/admin/tasks_app/delivery/", {"action": "redeliver", "_selected_action": [str(delivery.id)]}
    )
    assert resp.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert notifications.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.received) == 2
    for page in (
        "/admin/tasks_app/trigger/",
        "/admin/tasks_app/notificationrule/",
        f"/admin/tasks_app/notificationrule/{delivery.rule_id}/change/",
    ):
        assert client.get(page).status_code == 200, page


def _rpc(client, method, params):
    return client.post(
        "/tasks", {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, format="json"
    )


def test_rpc_webhook_config_notifies_that_run_only(api, drain, receiver):
    resp = _rpc(
        api,
        "tasks.execute",
        {
            "tasks": [t("root"), t("a", parent_id="root")],
            "webhook_config": {
                "url": receiver.url,
                "method": "PUT",
                "timeout": 5,
                "max_retries": 1,
                "headers": {"X-K": "v"},
            },
        },
    )
    result = resp.json()["result"]
    assert result["webhook_url"] == receiver.url and result["success"]
    rule = NotificationRule.objects.get(id=result["notification_id"])
    assert rule.run_number == 1 and rule.max_attempts == 2 and rule.method == "PUT"
    drain()
    assert notifications.deliver_due() == 1
    [request] = receiver.received
    assert request["method"] == "PUT" and request["headers"]["X-K"] == "v"
    assert "X-Arbor-Signature" not in request["headers"]  # no secret given
    assert json.loads(request["body"])["run"]["trigger"] == "rpc"
    # a later run of the same tree is not notified by that one-shot rule
    tree = Tree.objects.get(id=result["root_task_id"])
    control.tree_execute(tree=tree, actor=tree.owner, fresh=True)
    drain()
    assert Tree.objects.get(id=tree.id).run_count == 2 and Delivery.objects.count() == 1


def test_rpc_webhook_config_refused_creates_nothing(api):
    before = Tree.objects.count()
    resp = _rpc(api, "tasks.execute", {"tasks": [t("root")], "webhook_config": {"url": "http://10.1.2.3/"}})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == -32602
    resp = _rpc(
        api,
        "tasks.execute",
        {"tasks": [t("root")], "webhook_config": {"url": "http://127.0.0.1:9/", "retries": 3}},
    )
    assert resp.status_code == 400
    assert Tree.objects.count() == before and not NotificationRule.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_supervisor_sends_in_a_thread(api, make_tree, drain, receiver):
    from tasks_app.management.commands.arbor_worker import Command

    data, _ = make_tree()
    _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    command = Command()
    command.notifier = None
    command._notify()
    command.notifier.join(10)
    assert Delivery.objects.get().status == "delivered" and len(receiver.received) == 1


def test_failure_is_notified_with_the_counts(api, make_tree, drain, receiver):
    data, _ = make_tree(
        [t("root"), t("a", parent_id="root", executor="fail"), t("b", parent_id="root", dependencies=["a"])]
    )
    _rule(api, data["id"], url=receiver.url, events=["failed"])
    _run(api, data["id"], drain)
    notifications.deliver_due()
    [request] = receiver.received
    payload = json.loads(request["body"])
    assert payload["event"] == "tree.failed" and request["headers"]["X-Arbor-Event"] == "tree.failed"
    assert payload["run"]["counts"].get("failed") == 1


def test_a_rule_disabled_after_the_run_sends_nothing(api, make_tree, drain, receiver):
    data, _ = make_tree()
    rule = _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    NotificationRule.objects.filter(id=rule["id"]).update(enabled=False)
    notifications.deliver_due()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "failed"
        and delivery.last_error == "the rule was disabled"
        and not receiver.received
    )


def test_admin_disables_a_rule(client, staff_user, api, make_tree, receiver):
    data, _ = make_tree()
    rule = _rule(api, data["id"], url=receiver.url)
    client.force_login(staff_user)
    page = client.get(f"/admin/tasks_app/notificationrule/{rule['id']}/change/")
    assert rule["secret"] not in page.content.decode()
    form = {
        "name": "ops",
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
        "deliveries-MIN_NUM_FORMS": "0",
        "deliveries-MAX_NUM_FORMS": "0",
    }
    resp = client.post(f"/admin/tasks_app/notificationrule/{rule['id']}/change/", form)
    assert resp.status_code == 302, resp.content.decode()[:2000]
    row = NotificationRule.objects.get(id=rule["id"])
    assert row.name == "ops" and not row.enabled and row.url == receiver.url


def test_a_schedule_rule_hears_of_the_runs_its_fires_start_and_only_those(api, make_tree, drain, receiver):
    """Rules attach to a tree (every run) or to a schedule (the runs its fires start)."""
    from tasks_app.services import schedules

    data, _ = make_tree()
    created = api.post(
        "/api/v1/schedules/", {"tree": data["id"], "kind": "interval", "expression": "3600"}, format="json"
    )
    assert created.status_code == 201, created.json()
    schedule = created.json()
    resp = api.post(
        f"/api/v1/schedules/{schedule['id']}/notifications/",
        {"url": receiver.url, "events": ["completed"]},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    rule = resp.json()
    assert rule["schedule_id"] == schedule["id"] and rule["tree"] is None
    assert [r["id"] for r in api.get(f"/api/v1/schedules/{schedule['id']}/notifications/").json()] == [
        rule["id"]
    ]

    _run(api, data["id"], drain)  # a run by hand: not the schedule's
    assert not Delivery.objects.filter(rule_id=rule["id"]).exists()

    assert schedules.fire_due(now=_later(7200)) == 1  # the schedule fires: a fresh run in place
    drain()
    delivery = Delivery.objects.get(rule_id=rule["id"])
    assert delivery.event == "completed"
    assert delivery.payload["run"]["kind"] == "schedule" and delivery.payload["run"]["number"] == 2
    assert notifications.deliver_due() == 1
    assert json.loads(receiver.received[0]["body"])["run"]["kind"] == "schedule"
    # another user's schedule is not found; deleting the schedule deletes its rules
    assert api.delete(f"/api/v1/schedules/{schedule['id']}/").status_code == 204
    assert not NotificationRule.objects.filter(id=rule["id"]).exists()


def test_the_owner_redelivers_a_failed_delivery_over_rest(api, other_api, make_tree, drain, receiver):
    data, _ = make_tree()
    receiver.statuses = [404, 200]
    rule = _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    delivery = Delivery.objects.get()
    path = f"/api/v1/notifications/{rule['id']}/deliveries/{delivery.id}/redeliver/"
    # still pending: its retries are under way
    resp = api.post(path)
    assert resp.status_code == 409 and "pending" in resp.json()["error"]["message"]
    notifications.deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    # another user's rule is not found, and so is a delivery id that is not this rule's
    assert other_api.post(path).status_code == 404
    assert api.post(f"/api/v1/notifications/{rule['id']}/deliveries/not-a-uuid/redeliver/").status_code == 404
    other = _rule(api, data["id"], url=receiver.url)
    assert (
        api.post(f"/api/v1/notifications/{other['id']}/deliveries/{delivery.id}/redeliver/").status_code
        == 404
    )
    resp = api.post(path)
    assert resp.status_code == 202, resp.json()
    body = resp.json()
    assert body["status"] == "pending" and body["attempts"] == 0 and body["last_status_code"] is None
    assert notifications.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.last_status_code == 200
    assert len(receiver.received) == 2


def test_anything_due_follows_the_deliveries_deliver_due_would_send(api, make_tree, drain, receiver):
    """The worker supervisor starts a sending thread only when ``anything_due`` says so."""
    assert not notifications.anything_due()
    data, _ = make_tree()
    receiver.statuses = [500, 200]
    _rule(api, data["id"], url=receiver.url)
    _run(api, data["id"], drain)
    assert notifications.anything_due()
    assert notifications.deliver_due() == 1  # 500: retried later
    assert not notifications.anything_due()  # not due yet
    assert notifications.anything_due(now=_later())
    assert notifications.deliver_due(now=_later()) == 1
    assert not notifications.anything_due(now=_later(10 * 3600))  # delivered
