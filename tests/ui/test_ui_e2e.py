"""The browser UI in headless Chromium: editor, live run view, dashboard, admin.

Run with ``pytest -m e2e tests/ui`` (a separate invocation: sync Playwright keeps an event loop in
the main thread). Screenshots go to tests/artifacts/screenshots/ (docs/screenshots/ with
ARBOR_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import wait_for

from .conftest import login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

UUID_PATH = r"/trees/[0-9a-f-]{36}/"


def wait_status(page, name: str, status: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([n, s]) => window.arborRun && arborRun.task(n) && arborRun.task(n).status === s",
        arg=[name, status],
        timeout=timeout,
    )


def node_center(page, handle: str, node_id: str) -> dict:
    return page.evaluate(
        """([h, id]) => {
            const cy = window[h].cy; const n = cy.getElementById(id); const p = n.renderedPosition();
            const box = cy.container().getBoundingClientRect();
            return {x: box.left + p.x, y: box.top + p.y};
        }""",
        [handle, node_id],
    )


def drag_edge(page, source_id: str, target_id: str) -> None:
    """Hover the source task, press on its handle and drag to the target with the real mouse."""
    src = node_center(page, "arborEditor", source_id)
    dst = node_center(page, "arborEditor", target_id)
    page.mouse.move(src["x"] - 120, src["y"] + 90)
    page.mouse.move(src["x"], src["y"], steps=4)
    handle = page.locator("#eh-handle")
    expect(handle).to_be_visible()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move((box["x"] + dst["x"]) / 2, (box["y"] + dst["y"]) / 2 + 10, steps=6)
    page.mouse.move(dst["x"], dst["y"], steps=8)
    page.wait_for_timeout(120)  # edgehandles' hover delay
    page.mouse.up()


def editor_task_id(page, name: str) -> str:
    return page.evaluate("n => arborEditor.state.tasks.find(t => t.name === n).id", name)


def add_task(page, name: str, executor: str | None = None, **inputs) -> None:
    page.keyboard.press("n")
    field = page.locator("#f-name")
    expect(field).to_be_focused()
    field.fill(name)
    field.press("Enter")
    if executor:
        page.select_option("#f-executor", executor)
    for key, value in inputs.items():
        page.fill(f"#f-in-{key}", str(value))
        page.press(f"#f-in-{key}", "Enter")


def deselect(page) -> None:
    page.keyboard.press("Escape")


def test_log_in_and_delete_two_trees_with_a_bulk_action(page, arbor_server, user, tm):
    from tasks_app.models import Tree

    for name in ("alpha", "beta", "gamma"):
        tm.create_tree([{"id": "r", "name": name, "executor": "noop"}])
    page.goto(f"{arbor_server}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-123")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{arbor_server}/")
    rows = page.locator("#list tbody tr[data-id]")
    expect(rows).to_have_count(3)
    page.locator('tr[data-name="alpha"] input[type=checkbox]').check()
    page.locator('tr[data-name="beta"] input[type=checkbox]').check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.click('[data-bulk="delete"]')
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Delete 2 trees")
    expect(dialog).to_contain_text("alpha")
    dialog.locator('[data-testid="confirm"]').click()
    expect(rows).to_have_count(1)
    expect(page.locator('tr[data-name="gamma"]')).to_be_visible()
    expect(page.locator(".toast.ok")).to_contain_text("2 trees deleted")
    assert set(Tree.objects.values_list("name", flat=True)) == {"gamma"}


def test_build_a_tree_by_dragging_refuse_a_cycle_save_and_watch_it_run(user_page, arbor_server, workers):
    page = user_page
    page.goto(f"{arbor_server}/trees/new/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#add-first")
    page.fill("#f-name", "pipeline")
    page.press("#f-name", "Enter")
    deselect(page)
    add_task(page, "fetch", "sleep", seconds=1.5)
    deselect(page)
    add_task(page, "publish", "echo")
    deselect(page)
    fetch, publish = editor_task_id(page, "fetch"), editor_task_id(page, "publish")

    # publish needs fetch: a real mouse drag from fetch's handle onto publish
    drag_edge(page, fetch, publish)
    deps = page.evaluate("id => arborEditor.state.tasks.find(t => t.id === id).deps", publish)
    assert deps == [{"id": fetch, "required": True}]

    # the reverse edge would close a cycle: refused on the spot, with the reason
    drag_edge(page, publish, fetch)
    expect(page.locator("#banner")).to_contain_text("cycle: publish → fetch → publish")
    assert page.evaluate("id => arborEditor.state.tasks.find(t => t.id === id).deps", fetch) == []

    # undo and redo the dependency
    page.keyboard.press("Control+z")
    assert page.evaluate("id => arborEditor.state.tasks.find(t => t.id === id).deps.length", publish) == 0
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate("id => arborEditor.state.tasks.find(t => t.id === id).deps.length", publish) == 1

    page.keyboard.press("l")
    expect(page.locator("#validation")).to_contain_text("Valid: 3 tasks")
    page.evaluate("id => arborEditor.select(id)", fetch)
    expect(page.locator("#f-in-seconds")).to_have_value("1.5")
    screenshot(page, "editor")

    page.check("#run-after")
    page.click("#save")
    page.wait_for_url(re.compile(UUID_PATH + r"$"))
    page.wait_for_selector("body[data-ready='1']")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#live-mode")).to_have_text("live")
    wait_status(page, "fetch", "in_progress")
    wait_status(page, "fetch", "completed")
    wait_status(page, "publish", "completed")
    expect(page.locator("#tree-status .badge")).to_have_attribute("data-state", "completed", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True, "statuses arrived without a reload"
    page.click("#view-list")
    expect(page.locator('tr[data-task-name="publish"]')).to_have_attribute("data-status", "completed")


def test_cancel_a_running_task_with_a_preview_of_what_it_blocks(user_page, arbor_server, tm, workers):
    tree = tm.create_tree(
        [
            {"id": "root", "name": "jobs", "executor": "noop"},
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
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Cancel: 2 tasks")
    expect(dialog.locator("li[data-task]")).to_have_count(2)
    expect(dialog).to_contain_text("after")
    dialog.locator('[data-testid="confirm"]').click()
    wait_status(page, "slow", "cancelled")
    wait_status(page, "after", "cancelled")
    # blocked by an upstream failure looks different from a plain cancel
    expect(page.locator('tr[data-task-name="after"]')).to_have_attribute("data-state", "blocked")
    expect(page.locator('tr[data-task-name="slow"]')).to_have_attribute("data-state", "cancelled")


def test_retry_a_failed_task_in_place(user_page, arbor_server, run_tree, workers):
    tree, _ = run_tree(
        [
            {"id": "root", "name": "nightly", "executor": "noop"},
            {
                "id": "flaky",
                "name": "flaky",
                "executor": "fail",
                "parent_id": "root",
                "inputs": {"message": "boom"},
            },
            {
                "id": "after",
                "name": "after",
                "executor": "echo",
                "parent_id": "root",
                "dependencies": ["flaky"],
            },
        ]
    )
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    flaky = page.evaluate("arborRun.task('flaky').id")
    page.evaluate("id => arborRun.select(id)", flaky)
    detail = page.locator("#detail")
    expect(detail.locator(".badge").first).to_have_attribute("data-state", "failed")
    expect(detail).to_contain_text("boom")
    page.click('[data-action="retry"]')
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Retry: 2 tasks")
    dialog.locator('[data-testid="confirm"]').click()
    # the retry runs (and fails) again: two attempts, the history kept
    page.wait_for_function(
        "() => arborRun.task('flaky').attempt_count === 2 && arborRun.task('flaky').status === 'failed'"
    )
    expect(detail.locator("table.attempts tbody tr[data-outcome]")).to_have_count(2, timeout=10_000)
    wait_status(page, "after", "cancelled")


def test_live_run_view_screenshots(user_page, arbor_server, tm, workers):
    """A run with every kind of state at once: done, running (progress), waiting for a resource,
    failed, blocked by the failure, and pending."""
    from tasks_app.models import Task
    from tasks_app.services import control

    warehouse = [{"type": "db", "identifier": "warehouse", "mode": "write"}]
    tree = tm.create_tree(
        [
            {
                "id": "root",
                "name": "etl-nightly",
                "executor": "aggregate_results",
                "dependencies": [{"id": "load"}, {"id": "report", "required": False}],
            },
            {
                "id": "extract",
                "name": "extract",
                "executor": "sleep",
                "parent_id": "root",
                "inputs": {"seconds": 0.3},
            },
            {
                "id": "clean",
                "name": "clean",
                "executor": "echo",
                "parent_id": "root",
                "dependencies": ["extract"],
            },
            {
                "id": "transform",
                "name": "transform",
                "executor": "sleep",
                "parent_id": "root",
                "inputs": {"seconds": 20},
                "dependencies": ["clean"],
                "resources": warehouse,
            },
            {
                "id": "backup",
                "name": "backup",
                "executor": "sleep",
                "parent_id": "root",
                "priority": 3,
                "inputs": {"seconds": 1},
                "dependencies": ["clean"],
                "resources": warehouse,
            },
            {
                "id": "validate",
                "name": "validate",
                "executor": "fail",
                "parent_id": "root",
                "inputs": {"message": "schema mismatch in column 'amount'", "permanent": True},
                "dependencies": ["clean"],
            },
            {
                "id": "report",
                "name": "report",
                "executor": "echo",
                "parent_id": "validate",
                "dependencies": ["validate"],
            },
            {
                "id": "load",
                "name": "load",
                "executor": "sleep",
                "parent_id": "root",
                "inputs": {"seconds": 1},
                "dependencies": ["transform"],
            },
        ]
    )
    tm.execute(tree.id)
    tasks = Task.objects.filter(tree=tree)

    def states_reached():
        """transform runs, backup waits for its lock, report is blocked"""
        by = {t.name: t for t in tasks.all()}
        return (
            by["transform"].status == "in_progress"
            and bool(by["backup"].waiting_reason)
            and by["report"].status == "cancelled"
        )

    wait_for(states_reached)
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("() => arborRun.task('transform').progress > 0.1")
    assert page.evaluate("arborRun.task('backup').waiting_reason") != ""
    page.click("#view-list")
    expect(page.locator('tr[data-task-name="backup"]')).to_have_attribute("data-state", "waiting")
    expect(page.locator('tr[data-task-name="report"]')).to_have_attribute("data-state", "blocked")
    expect(page.locator('tr[data-task-name="load"]')).to_have_attribute("data-state", "pending")
    page.click("#view-graph")
    page.evaluate("arborRun.select(arborRun.task('transform').id)")
    expect(page.locator("#detail [role=progressbar]")).to_be_visible()
    screenshot(page, "run")
    control.tree_cancel(tree=tree, actor=None, source="test")
    wait_status(page, "transform", "cancelled")


def test_dashboard_screenshots(user_page, arbor_server, run_tree, tm):
    run_tree(
        [
            {"id": "r", "name": "nightly-etl", "executor": "noop"},
            *[{"id": f"t{i}", "name": f"step-{i}", "executor": "echo", "parent_id": "r"} for i in range(6)],
        ]
    )
    run_tree(
        [
            {"id": "r", "name": "reports", "executor": "noop"},
            {
                "id": "f",
                "name": "render",
                "executor": "fail",
                "parent_id": "r",
                "inputs": {"message": "no data"},
            },
            {"id": "g", "name": "mail", "executor": "echo", "parent_id": "r", "dependencies": ["f"]},
        ]
    )
    run_tree([{"id": "r", "name": "sync-crm", "executor": "sleep", "inputs": {"seconds": 0.2}}])
    tm.create_tree([{"id": "r", "name": "backfill-2026", "executor": "noop"}])
    page = user_page
    page.goto(f"{arbor_server}/")
    expect(page.locator("#list tbody tr[data-id]")).to_have_count(4)
    expect(page.locator('[data-count="completed"] .n')).not_to_have_text("—")
    page.wait_for_timeout(300)
    screenshot(page, "dashboard")
    page.fill("#f-search", "rep")
    expect(page.locator("#list tbody tr[data-id]")).to_have_count(1)
    page.select_option("#f-status", "completed")
    expect(page.locator("#list tbody tr[data-id]")).to_have_count(0)


def test_copy_with_edits_saves_a_new_tree_and_leaves_the_original(user_page, arbor_server, run_tree):
    from tasks_app.models import Tree

    tree, _ = run_tree(
        [
            {"id": "r", "name": "report", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r", "inputs": {"result": 1}},
        ]
    )
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#act-copy-edit")
    page.wait_for_url(re.compile(UUID_PATH + r"edit/$"))
    page.wait_for_function("() => window.arborEditor && arborEditor.ready === true")
    expect(page.locator("#validation")).to_contain_text("Valid: 2 tasks")
    page.evaluate("id => arborEditor.select(id)", editor_task_id(page, "a"))
    page.fill("#f-name", "a-edited")
    page.press("#f-name", "Enter")
    page.click("#save")
    page.wait_for_url(re.compile(UUID_PATH + r"$"))
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("arborRun.task('a-edited') !== null")
    assert Tree.objects.count() == 2
    tree.refresh_from_db()
    assert tree.status == "completed"


def test_staff_open_the_admin_from_the_nav(page, arbor_server, staff_user):
    login(page, arbor_server, staff_user)
    page.goto(f"{arbor_server}/")
    page.click('[data-testid="admin-link"]')
    expect(page).to_have_url(f"{arbor_server}/admin/")
    expect(page.locator("#content h1, #site-name").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("Trees")
