"""In Chromium: an operator logs in to the admin, filters failed tasks and retries one."""

import re

import pytest

from tasks_app.models import Event, Task

from .utils import t

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_operator_filters_failed_tasks_and_retries_one(page, live_server, run_tree, django_user_model):
    django_user_model.objects.create_user(
        "operator", password="pw-operator-123", is_staff=True, is_superuser=True
    )
    _tree, tasks = run_tree(
        [
            t("root"),
            t("flaky", "fail", parent_id="root", inputs={"message": "boom"}),
            t("after", parent_id="root", dependencies=["flaky"]),
            t("fine", parent_id="root"),
        ]
    )
    assert tasks["flaky"].status == "failed"

    page.goto(f"{live_server.url}/admin/tasks_app/task/")
    assert "/admin/login/" in page.url  # not logged in yet
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")

    page.locator('details[data-filter-title="status"] a', has_text=re.compile(r"^failed$")).click()
    page.wait_for_url(re.compile(r"status__exact=failed"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "✖ failed" in rows.first.inner_text()

    rows.first.locator("input.action-select").check()
    page.select_option("select[name=action]", "retry_tasks")
    page.click("button[name=index]")
    page.wait_for_selector("text=Retry will touch 2 tasks")
    assert page.locator(".arbor-touched").inner_text().count("\n") >= 2  # flaky and after are listed
    page.click("input[type=submit][value^='Yes, retry']")

    page.wait_for_selector(".messagelist .success")
    assert "Task 'flaky': retried in place" in page.locator(".messagelist").inner_text()
    assert Task.objects.get(id=tasks["flaky"].id).status == "pending"
    event = Event.objects.get(kind="task.retry", task_id=tasks["flaky"].id)
    assert (event.actor.username, event.source) == ("operator", "admin")
