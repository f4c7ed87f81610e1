"""The run view of a big tree: collapsed by default, a minimap, semantic zoom (not a timed test:
bench/ui_live.py measures). ARBOR_UPDATE_SCREENSHOTS=1 refreshes docs/screenshots/big-tree.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def big_tree(tm, n=1000):
    tasks = [{"id": "t0", "name": "big", "executor": "noop"}]
    tasks += [
        {"id": f"t{i}", "name": f"task-{i:05d}", "executor": "noop", "parent_id": f"t{(i - 1) // 4}"}
        for i in range(1, n)
    ]
    return tm.create_tree(tasks)


def test_a_big_tree_opens_collapsed_with_a_minimap_and_semantic_zoom(user_page, arbor_server, tm):
    tree = big_tree(tm)
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    visible = page.evaluate("arborRun.cy.nodes(':visible').length")
    assert visible <= 60, visible  # not 1,000 boxes in an unreadable grid
    groups = page.evaluate("arborRun.cy.nodes('.collapsed:visible').map(n => n.data('label'))")
    assert groups and all("hidden" in g for g in groups)
    # readable at the fitted zoom: labels are drawn
    assert page.evaluate("arborRun.cy.zoom()") >= 0.45
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "big-tree-1000.png"))
    # a click on a group opens it
    group = page.evaluate("arborRun.cy.nodes('.collapsed:visible')[0].id()")
    page.evaluate("""id => { const n = arborRun.cy.getElementById(id); n.emit('tap'); }""", group)
    page.wait_for_function("(id) => !arborRun.state.collapsed.has(id)", arg=group)
    assert page.evaluate("arborRun.cy.nodes(':visible').length") > visible
    # the minimap shows the view; a click in it moves the view
    minimap = page.locator('[data-testid="minimap"]')
    expect(minimap).to_be_visible()
    pan = page.evaluate("JSON.stringify(arborRun.cy.pan())")
    box = minimap.bounding_box()
    page.evaluate(
        "() => { arborRun.cy.zoom(1.5); }"
    )  # returning the core would make Playwright serialise all of it
    page.mouse.click(box["x"] + 10, box["y"] + 10)
    assert page.evaluate("JSON.stringify(arborRun.cy.pan())") != pan
    # semantic zoom: far out no labels, close up details
    page.evaluate("() => { arborRun.cy.zoom(0.2); }")
    expect(page.locator("#cy")).to_have_attribute("data-zoom", "far")
    assert page.evaluate("arborRun.cy.nodes(':visible')[0].hasClass('z-far')")
    page.evaluate("() => { arborRun.cy.zoom(1.5); }")
    expect(page.locator("#cy")).to_have_attribute("data-zoom", "near")
    assert "noop" in page.evaluate("arborRun.cy.nodes(':visible')[0].data('detail')")


def test_a_collapsed_group_shows_a_failure_inside_it(user_page, arbor_server, tm):
    tree = big_tree(tm, 400)
    page = user_page
    page.goto(f"{arbor_server}/trees/{tree.id}/")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    group = page.evaluate("arborRun.cy.nodes('.collapsed:visible')[0].id()")
    inside = page.evaluate(
        """g => { const s = arborRun.state; const kids = s.index.children.get(g);
          return String(kids[0]); }""",
        group,
    )
    assert page.evaluate("id => arborRun.cy.getElementById(id).empty()", inside)  # not drawn while collapsed
    page.evaluate(
        """id => { const seq = arborRun.state.live.seq.seq + 1;
        arborRun.injectEvents([{type: "event", seq, kind: "task.status", task: id,
          data: {status: "failed", error: "boom"}}]); }""",
        inside,
    )
    page.wait_for_function(
        "(g) => arborRun.cy.getElementById(g).hasClass('group-failed')", arg=group, timeout=5000
    )
    assert "1 failed" in page.evaluate("g => arborRun.cy.getElementById(g).data('label')", group)
