"""Truthful status and run history in the browser (headless Chromium): a cancel reads as a
cancel, a handled failure as a completed run, and the timeline shows one run at a time.

Run with ``pytest -m e2e tests/ui``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import wait_for

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wait_status(page, name: str, status: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([n, s]) => window.arborRun && arborRun.task(n) && arborRun.task(n).status === s",
        arg=[name, status],
        timeout=timeout,
    )


def test_cancelling_a_running_task_shows_cancelled_and_upstream_cancelled(
    user_page, arbor_server, tm, workers
):
    tree = tm.create_tree(
        [
            {"id": "root", "name": "jobs", "executor": "noop", "dependencies": ["after"]},
            {
                "id": "slow",
                "name": "slow",
                "executor": "sleep",
                "parent_id": "root",
                "inputs": {"seconds": 60},
            },
            {
                "id": "after",
                "name": "after",
                "executor": "echo",
                "parent_id": "root",
                "dependencies": ["slow"],
            },
        ]
    )
    tm.execute(tree.id)
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    wait_status(page, "slow", "in_progress")
    page.click("#view-list")
    page.locator('tr[data-task-name="slow"] button').click()
    page.click('[data-action="cancel"]')
    page.locator("dialog[open]").locator('[data-testid="confirm"]').click()
    wait_status(page, "after", "cancelled")
    header = page.locator("#tree-status .badge")
    expect(header).to_have_attribute("data-state", "cancelled", timeout=15_000)
    expect(header).to_have_text("⊘Cancelled")
    expect(header).not_to_contain_text("Failed")
    row = page.locator('tr[data-task-name="after"]')
    expect(row).to_contain_text("upstream cancelled")
    expect(row).not_to_contain_text("upstream failed")
    after = page.evaluate("arborRun.task('after').id")
    page.evaluate("id => arborRun.select(id)", after)
    expect(page.locator("#detail")).to_contain_text("Upstream cancelled")
    expect(page.locator("#detail")).not_to_contain_text("upstream failed")


def test_fallback_demo_shows_completed_with_one_failure_handled(user_page, arbor_server, tm, workers):
    tree = tm.create_tree(json.loads((EXAMPLES / "conditional_fallback.json").read_text()))
    tm.execute(tree.id)
    wait_for(lambda: type(tree).objects.get(id=tree.id).status not in ("pending", "in_progress"))
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    header = page.locator("#tree-status .badge")
    expect(header).to_have_attribute("data-state", "completed")
    expect(header).to_contain_text("Completed · 1 failure handled")
    # the dashboard's tree list says the same
    page.goto(f"{arbor_server}/")
    row = page.locator(f'tr[data-id="{tree.id}"]')
    expect(row).to_contain_text("Completed · 1 failure handled")


def test_run_switcher_shows_two_runs_after_a_retry_and_one_run_per_timeline(
    user_page, arbor_server, tm, workers
):
    from tasks_app.models import Task, Tree
    from tasks_app.services import control

    tree = tm.create_tree(
        [
            {"id": "root", "name": "nightly", "executor": "noop", "dependencies": ["flaky"]},
            {
                "id": "extract",
                "name": "extract",
                "executor": "sleep",
                "parent_id": "root",
                "inputs": {"seconds": 0.3},
            },
            {
                "id": "flaky",
                "name": "flaky",
                "executor": "fail",
                "parent_id": "root",
                "max_retries": 0,
                "dependencies": ["extract"],
            },
        ]
    )
    tm.execute(tree.id)
    wait_for(lambda: Tree.objects.get(id=tree.id).status == "failed")
    Task.objects.filter(tree=tree, name="flaky").update(executor="noop")  # fixed: the retry succeeds
    control.tree_retry(tree=tree, actor=tm.user)
    wait_for(lambda: Tree.objects.get(id=tree.id).status == "completed")
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    options = page.locator("#run-select option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_contain_text("Run 2 · retry")
    expect(options.nth(1)).to_contain_text("Run 1 · execute")
    # run 2 (the newest) is shown: flaky's second attempt and root, not run 1's extract or failure
    svg = page.locator("#gantt svg")
    expect(svg).to_have_attribute("data-run", "2")
    expect(page.locator("#gantt g.lane")).to_have_count(2)
    expect(page.locator("#gantt rect.bar[data-outcome=failed]")).to_have_count(0)
    expect(page.locator('#gantt g.lane[data-task="extract"]')).to_have_count(0)
    # switch to run 1: its two attempts (extract, the failure)
    page.select_option("#run-select", "1")
    expect(svg).to_have_attribute("data-run", "1")
    expect(page.locator("#gantt rect.bar[data-outcome=failed]")).to_have_count(1)
    expect(page.locator("#gantt g.lane")).to_have_count(2)
    expect(page.locator("#run-summary")).to_contain_text("Failed")
    # compare run 1 with run 2, per task
    page.select_option("#run-select", "2")
    page.select_option("#run-compare", "1")
    table = page.locator('[data-testid="run-compare"]')
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(3)  # extract ran only in run 1
    expect(table.locator('tr[data-task="extract"] td').nth(2)).to_have_text("—")
    # zoom: the wheel narrows the window, the ticks stay readable labels
    before = page.locator("#gantt .tick-label").all_text_contents()
    page.locator("#gantt svg").hover()
    for _ in range(5):  # 0.8 each: a third of the window, past the next smaller tick step
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(60)
    page.wait_for_timeout(200)
    after = page.locator("#gantt .tick-label").all_text_contents()
    assert after and after != before
    assert all(label == "0" or label[0] in "+−" for label in after)
    page.locator("#timeline-resize").focus()
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    assert page.locator("#gantt").bounding_box()["height"] > 150
    page.click("#tl-zoom-reset")
    page.click("#fit")
    page.wait_for_timeout(400)
    screenshot(page, "run-history")
