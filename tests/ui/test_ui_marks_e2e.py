"""Mark success / skip in the run view (docs/semantics.md "Mark success and skip"): the detail
panel's buttons with a preview, and the Shift+S / K shortcuts listed in the help sheet."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAILING = [
    {"id": "root", "name": "nightly", "executor": "noop", "dependencies": ["after"]},
    {
        "id": "flaky",
        "name": "flaky",
        "executor": "fail",
        "parent_id": "root",
        "max_retries": 0,
        "inputs": {"message": "boom"},
    },
    {"id": "after", "name": "after", "executor": "echo", "parent_id": "root", "dependencies": ["flaky"]},
]


def open_failed(page, arbor_server, run_tree):
    tree, _ = run_tree(FAILING)
    assert tree.status == "failed"
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    flaky = page.evaluate("() => arborRun.task('flaky').id")
    page.evaluate("(id) => arborRun.select(id)", flaky)
    expect(page.locator("#detail .badge").first).to_have_attribute("data-state", "failed")
    return tree


def test_mark_success_on_a_failed_task_completes_the_tree(user_page, arbor_server, run_tree, workers, user):
    page = user_page
    open_failed(page, arbor_server, run_tree)
    page.click('#detail [data-action="mark_success"]')
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Mark success: 3 tasks")
    dialog.locator('[data-testid="confirm"]').click()
    page.wait_for_function(
        "() => arborRun.task('after').status === 'completed' && "
        "arborRun.task('nightly').status === 'completed'",
        timeout=20_000,
    )
    page.wait_for_function("() => arborRun.state.tree.status === 'completed'", timeout=20_000)
    page.wait_for_function("() => arborRun.task('flaky').status === 'completed'")
    expect(page.locator("#tree-status")).to_contain_text("ompleted")
    page.wait_for_function(
        "() => arborRun.task('flaky').result && arborRun.task('flaky').result.marked === 'success'"
    )
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.evaluate("(id) => arborRun.select(id)", page.evaluate("() => arborRun.task('flaky').id"))
    expect(page.locator("#detail [data-marked='success']")).to_contain_text(
        f"marked success by {user.username}"
    )


def test_shortcuts_are_listed_and_shift_s_asks_first(user_page, arbor_server, run_tree, workers):
    page = user_page
    open_failed(page, arbor_server, run_tree)
    page.keyboard.press("?")
    sheet = page.locator("dialog[data-help]")
    expect(sheet).to_contain_text("Shift+S")
    expect(sheet).to_contain_text("Skip the selected task")
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    page.keyboard.press("Shift+S")
    expect(page.locator("dialog[open]")).to_contain_text("Mark success")
