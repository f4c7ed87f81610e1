"""The Content-Security-Policy in headless Chromium (item 10): every page of the UI, Swagger UI, the
admin and DRF's browsable API loads and works with no ``securitypolicyviolation`` and no CSP
console error. Run with ``pytest -m e2e tests/ui``."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def staff_page(page, arbor_server, staff_user):
    login(page, arbor_server, staff_user)
    page.set_default_timeout(15_000)
    page.add_init_script(COLLECT)
    console: list[str] = []
    page.on(
        "console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    page.csp_console = console
    return page


@pytest.fixture
def staff_tree(staff_user):
    from tasks_app.taskmanager import TaskManager
    from tasks_app.worker.loop import run_until_idle

    tm = TaskManager(staff_user)
    tree = tm.create_tree(
        [
            {"id": "r", "name": "root", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "echo", "parent_id": "r", "inputs": {"result": 1}},
            {"id": "b", "name": "b", "executor": "noop", "parent_id": "r", "dependencies": ["a"]},
        ]
    )
    tm.execute(tree.id)
    run_until_idle(hard_kill=False, timeout=30)
    return tree


def assert_no_violation(page) -> None:
    page.wait_for_timeout(300)  # late reports (workers, fetches) arrive asynchronously
    violations = page.evaluate("() => window.__csp || []")
    assert violations == [], f"{page.url}: {violations}"
    assert page.csp_console == [], f"{page.url}: {page.csp_console}"


def test_the_ui_admin_swagger_and_browsable_api_run_under_the_policy(staff_page, arbor_server, staff_tree):
    page = staff_page
    response = page.goto(f"{arbor_server}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#list tbody tr[data-id]")).to_have_count(1)
    assert_no_violation(page)

    page.goto(f"{arbor_server}/trees/{staff_tree.id}/")  # the run view: graph, websocket, timeline
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(
        "() => window.arborRun && arborRun.task('b') && arborRun.task('b').status === 'completed'"
    )
    assert_no_violation(page)

    page.goto(f"{arbor_server}/trees/{staff_tree.id}/edit/")  # the editor renders its graph
    page.wait_for_function("() => window.arborEditor && arborEditor.ready === true")
    assert page.evaluate("() => arborEditor.cy.nodes().length") >= 3
    assert_no_violation(page)

    page.goto(f"{arbor_server}/trees/new/")
    page.wait_for_function("() => window.arborEditor && arborEditor.ready === true")
    assert_no_violation(page)

    page.goto(f"{arbor_server}/api/docs/")  # Swagger UI renders the operation list
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 10
    assert_no_violation(page)

    page.goto(f"{arbor_server}/api/v1/trees/")  # DRF's browsable API
    expect(page.locator(".response-info")).to_contain_text(str(staff_tree.id))
    assert_no_violation(page)

    page.goto(f"{arbor_server}/admin/tasks_app/tree/")
    expect(page.locator("#result_list")).to_be_visible()
    page.locator("#action-toggle").check()  # the admin's own JavaScript works
    expect(page.locator(".action-counter")).to_contain_text("1 of 1")
    assert_no_violation(page)

    page.goto(f"{arbor_server}/admin/tasks_app/apitoken/add/")
    expect(page.locator("#apitoken_form")).to_be_visible()
    assert_no_violation(page)


def test_the_login_page_works_under_the_policy(page, arbor_server, user):
    page.add_init_script(COLLECT)
    page.goto(f"{arbor_server}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{arbor_server}/")
    assert page.evaluate("() => window.__csp") == []


def test_the_policy_blocks_and_reports_an_injected_inline_script(page, arbor_server, user):
    """The control: an inline script is refused and reported, so the tests above can see violations."""
    page.add_init_script(COLLECT)
    page.goto(f"{arbor_server}/accounts/login/")
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
    }""")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__ran === undefined")
    assert any(v.startswith("script-src") for v in page.evaluate("() => window.__csp"))
