"""In Chromium: schedule a tree from its run view (sentence and next fires as you type), then see
its first run on the Schedules page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tasks_app.models import ScheduleFire
from tasks_app.services import schedules
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_schedule_a_tree_and_see_its_first_run(user_page, arbor_server, tm, workers):
    page = user_page
    tree = tm.create_tree(
        [
            {"id": "r", "name": "nightly-report", "executor": "noop"},
            {"id": "a", "name": "extract", "executor": "noop", "parent_id": "r"},
        ]
    )
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.click("#act-schedule")
    expect(page).to_have_url(re.compile(rf"/trees/{tree.id}/schedule/$"))

    page.fill("#s-timezone", "Europe/Berlin")
    page.fill("#s-expression", "*/15 9-17 * * 1-5")
    expect(page.get_by_test_id("sentence")).to_have_text(
        "Every 15 minutes, between 09:00 AM and 05:59 PM, Monday through Friday (Europe/Berlin)"
    )
    expect(page.locator("#s-next li")).to_have_count(5)

    page.fill("#s-expression", "61 * * * *")
    expect(page.locator("#s-error")).to_contain_text("expression:")
    expect(page.locator("#s-expression")).to_have_attribute("aria-invalid", "true")

    page.select_option("#s-kind", "interval")
    page.fill("#s-expression", "2")
    expect(page.get_by_test_id("sentence")).to_have_text("Every 2 seconds")
    page.fill("#s-max-runs", "1")
    page.click("#s-save")
    expect(page).to_have_url(re.compile(r"/schedules/\?schedule="))
    row = page.locator("#schedules tbody tr", has_text="nightly-report")
    expect(row).to_contain_text("Every 2 seconds")
    expect(row).to_contain_text("active")

    def fired():
        schedules.scheduler_tick()
        return ScheduleFire.objects.filter(schedule__tree=tree, status="completed").exists()

    wait_for(fired, timeout=30)
    fires = page.locator("#fires")
    expect(fires).to_be_visible()
    expect(fires.get_by_role("link", name="run 1")).to_be_visible(timeout=15_000)
    expect(fires.locator("tbody tr").first).to_contain_text("completed")
    page.reload()
    expect(page.locator("#schedules tbody tr", has_text="nightly-report")).to_contain_text("finished")
    expect(page.locator("#fires").get_by_role("link", name="run 1")).to_be_visible(timeout=15_000)
    page.locator("#fires").get_by_role("link", name="run 1").click()
    expect(page).to_have_url(re.compile(rf"/trees/{tree.id}/\?run=1$"))

    page.goto(f"{arbor_server}/")
    expect(page.locator("#upcoming-fires")).to_contain_text("Nothing scheduled.")
