"""Browser tests of the editor and page fixes (round 14): each fails without its fix.

Run with ``pytest -m e2e tests/ui`` (a separate invocation: sync Playwright keeps an event loop in
the main thread).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_ui_e2e import UUID_PATH, add_task, deselect, editor_task_id, node_center

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def open_new_editor(page, base):
    page.goto(f"{base}/trees/new/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#add-first")
    page.fill("#f-name", "pipeline")
    page.press("#f-name", "Enter")


def test_a_required_input_left_empty_is_not_valid_and_is_not_saved(user_page, arbor_server, executor_grants):
    from tasks_app.models import Tree

    page = user_page
    open_new_editor(page, arbor_server)
    deselect(page)
    add_task(page, "call", "python_function")  # "function" is required and has no default
    expect(page.locator("#validation")).to_have_attribute("data-state", "error")
    expect(page.locator("#validation")).to_contain_text("needs the input")
    expect(page.locator("#validation")).not_to_contain_text("ready to save")
    page.click("#save")
    expect(page.locator(".toast.error")).to_contain_text("Fix the problems")
    assert not Tree.objects.exists()
    # filled in: valid again
    page.fill("#f-in-function", "json.dumps")
    page.press("#f-in-function", "Enter")
    expect(page.locator("#validation")).to_contain_text("Valid: 2 tasks")


def test_a_valid_drop_after_passing_over_a_refused_task_clears_the_banner(user_page, arbor_server):
    page = user_page
    open_new_editor(page, arbor_server)
    for name in ("a", "b", "c"):
        deselect(page)
        add_task(page, name)
    deselect(page)
    a, b, c = (editor_task_id(page, n) for n in "abc")
    page.evaluate(
        "([a, b]) => arborEditor.state.tasks.find(t => t.id === b).deps.push({id: a, required: true})", [a, b]
    )
    page.evaluate("() => arborEditor.select(null)")
    # drag from b's handle over a (b -> a would close a cycle), then on to c, and drop there
    src, over, dst = (node_center(page, "arborEditor", x) for x in (b, a, c))
    page.mouse.move(src["x"] - 120, src["y"] + 90)
    page.mouse.move(src["x"], src["y"], steps=4)
    handle = page.locator("#eh-handle")
    expect(handle).to_be_visible()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(over["x"], over["y"], steps=8)
    page.wait_for_timeout(200)
    expect(page.locator("#banner")).to_contain_text("Not allowed")
    page.mouse.move(dst["x"], dst["y"], steps=8)
    page.wait_for_timeout(150)
    page.mouse.up()
    assert page.evaluate("id => arborEditor.state.tasks.find(t => t.id === id).deps", c) == [
        {"id": b, "required": True}
    ]
    expect(page.locator("#banner")).to_be_hidden(timeout=1000)  # not 5-8 s later


def test_four_clicks_on_add_task_make_four_siblings_not_a_chain(user_page, arbor_server):
    page = user_page
    open_new_editor(page, arbor_server)
    root = editor_task_id(page, "pipeline")
    for _ in range(4):
        page.click("#add-task")
    parents = page.evaluate("() => arborEditor.state.tasks.filter(t => t.parent != null).map(t => t.parent)")
    assert parents == [root] * 4


def test_a_tree_that_never_ran_is_edited_in_place(user_page, arbor_server, tm):
    from tasks_app.models import Task, Tree

    tree = tm.create_tree(
        [
            {"id": "r", "name": "report", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r"},
            {"id": "b", "name": "b", "executor": "echo", "parent_id": "r", "dependencies": ["a"]},
        ]
    )
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#act-edit")
    page.wait_for_url(re.compile(UUID_PATH + r"edit/\?mode=edit$"))
    page.wait_for_function("() => window.arborEditor && arborEditor.ready === true")
    expect(page.locator("#editor-title")).to_have_text("Edit report")
    expect(page.locator("#validation")).to_contain_text("Valid: 3 tasks")
    page.evaluate("id => arborEditor.select(id)", editor_task_id(page, "a"))
    page.fill("#f-name", "a-edited")
    page.press("#f-name", "Enter")
    deselect(page)
    add_task(page, "extra")
    page.click("#save")
    page.wait_for_url(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    assert Tree.objects.count() == 1
    assert set(Task.objects.filter(tree_id=tree.id).values_list("name", flat=True)) == {
        "report",
        "a-edited",
        "b",
        "extra",
    }
    assert page.evaluate("arborRun.task('a-edited') !== null")


def test_the_cancel_dialog_has_two_different_buttons(user_page, arbor_server, tm):
    tree = tm.create_tree(
        [
            {"id": "r", "name": "jobs", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r"},
        ]
    )
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.evaluate("id => arborRun.select(id)", page.evaluate("arborRun.task('a').id"))
    page.click('[data-action="cancel"]')
    buttons = page.locator("dialog[open] .dlg-foot button")
    expect(buttons).to_have_count(2)
    labels = [x.strip() for x in buttons.all_inner_texts()]
    assert len(set(labels)) == 2 and labels.count("Cancel") <= 1, labels
    page.locator('dialog[open] [data-testid="dismiss"]').click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert page.evaluate("arborRun.task('a').status") == "pending"


def test_dashboard_throughput_is_an_aggregate_and_tasks_show_tree_names(user_page, arbor_server, tm):
    import datetime

    from django.utils import timezone

    from tasks_app.models import Task

    tree = tm.create_tree(
        [{"id": "r", "name": "nightly-backfill", "executor": "noop"}]
        + [{"id": f"c{i}", "name": f"c{i}", "executor": "noop", "parent_id": "r"} for i in range(600)]
    )
    when = timezone.now() - datetime.timedelta(minutes=5)
    Task.objects.filter(tree_id=tree.id).update(
        status="completed", started_at=when - datetime.timedelta(seconds=2), completed_at=when
    )
    page = user_page
    page.goto(f"{arbor_server}/")
    rng = page.locator("#chart-throughput [data-role=range]")
    expect(rng).to_contain_text("601 in all")
    expect(rng).not_to_contain_text("sample")
    bar_max = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('#chart-throughput rect.bar')].map(r => "
        "+r.querySelector('title').textContent.split(': ')[1].split(' ')[0]))"
    )
    assert bar_max == 601
    # the slowest bars are not the failure red
    colours = page.evaluate("""() => {
        const bar = document.querySelector('#chart-slowest rect.bar');
        const probe = document.createElement('span'); probe.style.color = 'var(--st-failed)';
          document.body.appendChild(probe);
        return [getComputedStyle(bar).fill, getComputedStyle(probe).color];
    }""")
    assert colours[0] != colours[1], colours
    page.click('[role=tab][data-tab="tasks"]')
    expect(page.locator("#list tbody a[data-tree-name]").first).to_have_text("nightly-backfill")


def test_bulk_delete_shows_progress_and_disables_the_buttons(user_page, arbor_server, tm):
    for name in ("alpha", "beta", "gamma"):
        tm.create_tree([{"id": "r", "name": name, "executor": "noop"}])
    page = user_page

    def slow(route):
        page.wait_for_timeout(700)
        route.continue_()

    page.route(
        re.compile(r".*/api/v1/trees/[0-9a-f-]{36}/$"),
        lambda route: slow(route) if route.request.method == "DELETE" else route.continue_(),
    )
    page.goto(f"{arbor_server}/")
    for name in ("alpha", "beta", "gamma"):
        page.locator(f'tr[data-name="{name}"] input[type=checkbox]').check()
    page.click('[data-bulk="delete"]')
    page.locator('dialog[open] [data-testid="confirm"]').click()
    busy = page.locator('[data-testid="bulk-busy"]')
    expect(busy).to_be_visible()
    expect(busy).to_contain_text(re.compile(r"Deleting \d of 3 trees"))
    expect(page.locator('[data-bulk="delete"]')).to_be_disabled()
    expect(page.locator(".toast.ok")).to_contain_text("3 trees deleted", timeout=15_000)
    expect(busy).to_have_count(0)


def test_phone_width_cards_do_not_overlap_and_the_graph_has_a_height(user_page, arbor_server, tm):
    tree = tm.create_tree(
        [
            {"id": "r", "name": "release", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r"},
        ]
    )
    page = user_page
    page.set_viewport_size(PHONE)
    page.goto(f"{arbor_server}/")
    page.wait_for_function("() => document.querySelector('#counts .count-card .n').textContent !== '—'")
    boxes = [c.bounding_box() for c in page.locator("#counts .count-card").all()]
    for i, p in enumerate(boxes):
        assert p["x"] >= 0 and p["x"] + p["width"] <= PHONE["width"] + 0.5, p
        for q in boxes[i + 1 :]:
            apart = (
                p["x"] + p["width"] <= q["x"]
                or q["x"] + q["width"] <= p["x"]
                or p["y"] + p["height"] <= q["y"]
                or q["y"] + q["height"] <= p["y"]
            )
            assert apart, (p, q)
    overflow = page.evaluate("""() => [...document.querySelectorAll('#counts .count-card')].some(card => {
        const c = card.getBoundingClientRect();
        return [...card.querySelectorAll('*')].some(el => el.getBoundingClientRect().right > c.right + 1);
    })""")
    assert not overflow
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#cy").bounding_box()["height"] >= 300
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_theme_toggle_overrides_the_os_and_is_remembered(user_page, arbor_server):
    page = user_page
    page.emulate_media(color_scheme="light")
    page.goto(f"{arbor_server}/")
    toggle = page.locator("#theme-toggle")
    bg = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(bg)
    toggle.click()  # auto -> light
    expect(toggle).to_have_attribute("data-mode", "light")
    toggle.click()  # light -> dark
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = page.evaluate(bg)
    assert dark != light
    page.reload()
    assert page.evaluate(bg) == dark  # remembered, although the OS says light
    page.locator("#theme-toggle").click()  # dark -> auto: follows the OS again
    assert page.evaluate(bg) == light


def test_run_actions_have_keyboard_shortcuts_listed_in_a_help_sheet(user_page, arbor_server, tm, workers):
    from tasks_app.models import Tree
    from tests.helpers import wait_for

    tree = tm.create_tree(
        [
            {"id": "r", "name": "jobs", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r"},
        ]
    )
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("?")
    sheet = page.locator("dialog[open]")
    expect(sheet).to_contain_text("Run every pending task")
    expect(sheet).to_contain_text("Cancel the run")
    expect(sheet).to_contain_text("Retry failed")
    sheet.locator("button", has_text="Close").click()
    expect(page.locator("#act-run")).to_have_attribute("aria-keyshortcuts", "R")
    page.locator("#cy").click(position={"x": 5, "y": 200})
    page.keyboard.press("r")

    def ran():
        return Tree.objects.get(id=tree.id).run_count == 1

    wait_for(ran)
