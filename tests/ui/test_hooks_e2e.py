"""Triggers & notifications in the browser (headless Chromium, issue 15's UI): a trigger URL made in
the run view, its secret read once, a real HMAC-signed request starting a run the page shows, a bad
signature refused with nothing started, a webhook rule whose delivery to a local receiver is listed,
a private webhook address refused next to its field, the schedule-level rules dialog, no CSP
violation. Run with ``pytest -m e2e tests/ui/test_hooks_e2e.py``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.helpers import wait_for
from tests.notifications.conftest import receiver  # noqa: F401  (the local webhook receiver)

from .conftest import screenshot
from .test_csp_e2e import COLLECT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fire(
    url: str, body: bytes, *, secret: str | None = None, signature: str | None = None
) -> tuple[int, dict]:
    """POST the trigger URL as an outside caller would: X-Arbor-Timestamp + X-Arbor-Signature."""
    ts = str(int(time.time()))
    if signature is None:
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
        signature = "sha256=" + mac.hexdigest()
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Arbor-Timestamp": ts, "X-Arbor-Signature": signature},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def hooks_page(user_page):
    user_page.add_init_script(COLLECT)
    console: list[str] = []
    user_page.on(
        "console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    user_page.csp_console = console
    return user_page


def no_csp_violation(page) -> None:
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__csp || []") == []
    assert page.csp_console == []


def test_trigger_and_webhook_from_the_run_view(hooks_page, arbor_server, tm, workers, receiver):  # noqa: F811
    from tasks_app.models import Delivery, Tree
    from tasks_app.services import notifications

    tree = tm.create_tree(
        [
            {"id": "r", "name": "root", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r", "inputs": {"result": 1}},
        ]
    )
    page = hooks_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#act-hooks")
    dialog = page.locator("dialog[data-testid=hooks-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-testid=triggers]")).to_contain_text("No trigger URL yet")

    # create an HMAC trigger: its secret and a curl example are shown once
    dialog.get_by_label("Name (optional)").fill("CI push")
    dialog.locator("[data-testid=trigger-create]").click()
    secret_box = dialog.locator("[data-testid=trigger-secret]")
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    assert len(secret) >= 20
    item = dialog.locator("[data-testid=trigger]")
    expect(item).to_have_count(1)
    url = item.locator("input.hooks-url").input_value()
    assert url.startswith(arbor_server) and url.endswith("/fire/")
    once = item.locator(".hooks-once pre").inner_text()
    assert "X-Arbor-Signature: sha256=$SIG" in once and "X-Arbor-Timestamp: $TS" in once and secret in once
    item.locator(".hooks-once").scroll_into_view_if_needed()
    screenshot(page, "hooks-trigger-secret")

    # a private webhook address is refused, the API's message under the URL field
    dialog.get_by_label("Webhook URL").fill("http://10.1.2.3/hook")
    dialog.locator("[data-testid=rule-create]").click()
    url_error = dialog.locator("[id^=rule-url-error-]")
    expect(url_error).to_be_visible()
    expect(url_error).to_contain_text("url:")
    expect(dialog.get_by_label("Webhook URL")).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("[data-testid=rule]")).to_have_count(0)
    screenshot(page, "hooks-url-refused")

    # a webhook to the local receiver (127.0.0.1:* is in the test settings' allow-list)
    dialog.get_by_label("Webhook URL").fill(receiver.url)
    dialog.locator("[data-testid=rule-create]").click()
    expect(dialog.locator("[data-testid=rule]")).to_have_count(1)
    expect(url_error).to_be_hidden()
    expect(dialog.locator("[data-testid=rule-secret]")).to_be_visible()
    screenshot(page, "hooks-dialog")
    no_csp_violation(page)

    # a bad signature: 401, nothing started
    status, body = fire(url, b'{"x": 1}', signature="sha256=" + "0" * 64)
    assert status == 401, body
    status, _ = fire(url, b'{"x": 1}', secret="not-the-secret")
    assert status == 401
    tree.refresh_from_db()
    assert tree.run_count == 0 and tree.status == "pending"

    # a correctly signed request starts a run, which the open page shows live
    status, body = fire(url, b'{"x": 1}', secret=secret)
    assert status == 202, body
    assert body["run"] == 1
    page.wait_for_function(
        "() => window.arborRun && arborRun.task('a') && arborRun.task('a').status === 'completed'",
        timeout=30_000,
    )
    expect(page.locator("#tree-status .badge")).to_have_attribute("data-status", "completed")
    assert Tree.objects.get(id=tree.id).run_count == 1

    # the run's end made a delivery; send it (the worker supervisor's job) and see it listed
    wait_for(lambda: Delivery.objects.filter(rule__tree=tree).exists(), message="no delivery made")
    wait_for(lambda: notifications.deliver_due() or receiver.received, message="webhook not received")
    sent = json.loads(receiver.received[0]["body"])
    assert sent["event"] == "tree.completed" and sent["run"]["trigger"] == "trigger", sent
    assert receiver.received[0]["headers"]["X-Arbor-Signature"].startswith("sha256=")
    dialog.locator("[data-testid=rule-deliveries]").click()
    row = dialog.locator("[data-testid=delivery]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "delivered")
    expect(row).to_contain_text("200")
    expect(row).to_contain_text("completed")
    # Redeliver: back to pending, then sent again
    row.locator("[data-testid=redeliver]").click()
    expect(row).to_have_attribute("data-status", "pending")
    wait_for(lambda: notifications.deliver_due() or len(receiver.received) > 1, message="not redelivered")
    assert len(receiver.received) == 2
    dialog.get_by_label("Refresh the deliveries").click()
    expect(row).to_have_attribute("data-status", "delivered")
    screenshot(page, "hooks-deliveries")
    expect(item.locator("[data-testid=trigger-fires]")).to_contain_text("0 fires")  # not reloaded yet
    no_csp_violation(page)

    # reopen: the secret is not shown again; fire count is
    page.keyboard.press("Escape")
    page.click("#act-hooks")
    dialog = page.locator("dialog[data-testid=hooks-dialog]")
    expect(dialog.locator("[data-testid=trigger-fires]")).to_contain_text("1 fire")
    expect(dialog.locator("[data-testid=trigger-secret]")).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "hooks-dialog-phone")

    # rotate: a new secret; the old one is refused
    dialog.locator("[data-testid=trigger-rotate]").click()
    page.click("[data-testid=confirm]")
    new_secret = dialog.locator("[data-testid=trigger-secret]").input_value()
    assert new_secret and new_secret != secret
    status, _ = fire(url, b"{}", secret=secret)
    assert status == 401

    # delete
    dialog.locator("[data-testid=trigger-delete]").click()
    page.click("[data-testid=confirm]")
    expect(dialog.locator("[data-testid=triggers]")).to_contain_text("No trigger URL yet")
    status, _ = fire(url, b"{}", secret=new_secret)
    assert status == 404
    no_csp_violation(page)


def test_schedule_notifications_from_the_schedules_page(hooks_page, arbor_server, tm, user, receiver):  # noqa: F811
    from tasks_app.models import NotificationRule
    from tasks_app.services import schedules

    tree = tm.create_tree([{"id": "r", "name": "nightly", "executor": "noop"}])
    schedule = schedules.schedule_create(owner=user, tree=tree, kind="interval", expression=3600)
    page = hooks_page
    page.goto(f"{arbor_server}/schedules/")
    page.locator(f"button[data-notify-schedule='{schedule.id}']").click()
    dialog = page.locator("dialog[data-testid=hooks-dialog]")
    expect(dialog).to_contain_text("Notifications · nightly")
    expect(dialog.locator("[data-testid=triggers]")).to_have_count(0)
    dialog.get_by_label("failed").uncheck()
    dialog.get_by_label("completed").uncheck()
    dialog.get_by_label("Webhook URL").fill(receiver.url)
    dialog.locator("[data-testid=rule-create]").click()
    expect(dialog.locator("[id^=rule-events-error-]")).to_contain_text("events:")
    dialog.get_by_label("failed").check()
    dialog.locator("[data-testid=rule-create]").click()
    expect(dialog.locator("[data-testid=rule]")).to_have_count(1)
    rule = NotificationRule.objects.get(schedule_id=schedule.id)
    assert rule.events == ["failed"] and rule.url == receiver.url and rule.tree_id is None
    dialog.locator("[data-testid=rule-delete]").click()
    page.click("[data-testid=confirm]")
    expect(dialog.locator("[data-testid=rules]")).to_contain_text("No notification yet")
    assert not NotificationRule.objects.filter(schedule_id=schedule.id).exists()

    # e-mail: offered only when the server's mail is configured (the page's config says so)
    mail = page.evaluate("() => JSON.parse(document.getElementById('arbor-config').textContent).mail")
    option = dialog.locator("option[value=email]")
    if not mail:
        expect(option).to_be_disabled()
    else:
        dialog.get_by_label("Notify by").select_option("email")
        expect(dialog.get_by_label("Webhook URL")).to_be_hidden()
        dialog.get_by_label("E-mail addresses").fill("ops@example.com, not-an-address")
        dialog.locator("[data-testid=rule-create]").click()
        expect(dialog.locator("[id^=rule-emails-error-]")).to_contain_text("emails:")
        dialog.get_by_label("E-mail addresses").fill("ops@example.com, me@example.com")
        dialog.locator("[data-testid=rule-create]").click()
        expect(dialog.locator("[data-testid=rule]")).to_contain_text("ops@example.com, me@example.com")
        expect(dialog.locator("[data-testid=rule-secret]")).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "hooks-schedule-phone")
    no_csp_violation(page)
