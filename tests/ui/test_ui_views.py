"""Server-rendered pages: access rules and the configuration each page hands the browser."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
TREE = [
    {"id": "root", "name": "nightly", "executor": "noop"},
    {"id": "a", "name": "a", "executor": "echo", "parent_id": "root"},
    {"id": "b", "name": "b", "executor": "echo", "parent_id": "root", "dependencies": ["a"]},
]


def page_config(response) -> dict:
    match = re.search(
        r'<script id="arbor-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert match, "the page carries its configuration"
    return json.loads(match.group(1))


@pytest.mark.parametrize("path", ["/", "/trees/new/"])
def test_pages_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_login_page_renders_and_logs_in(client, user):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_failure_says_so(client, user):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_logout_is_a_post_and_returns_to_login(client, user):
    client.force_login(user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_dashboard_hands_the_browser_its_configuration(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    config = page_config(response)
    assert config == {"page": "dashboard", "api": "/api/v1/", "ws": "/ws/", "user": "alice", "staff": False}
    assert b"tasks_app/js/dashboard.js" in response.content
    for status in ("pending", "in_progress", "completed", "failed", "cancelled"):
        assert f'data-count="{status}"'.encode() in response.content


def test_admin_link_only_for_staff(client, user, staff_user):
    client.force_login(user)
    assert b'data-testid="admin-link"' not in client.get("/").content
    client.force_login(staff_user)
    response = client.get("/")
    assert b'data-testid="admin-link"' in response.content
    assert page_config(response)["staff"] is True


def test_new_tree_editor(client, user):
    client.force_login(user)
    response = client.get("/trees/new/")
    assert response.status_code == 200
    assert page_config(response)["mode"] == "new"
    for script in ("cytoscape.min.js", "cytoscape-edgehandles.js", "cytoscape-dagre.min.js", "editor.js"):
        assert script.encode() in response.content


def test_run_view_of_own_tree(client, user, tm):
    tree = tm.create_tree(TREE)
    client.force_login(user)
    response = client.get(f"/trees/{tree.id}/")
    assert response.status_code == 200
    config = page_config(response)
    assert config["tree"] == str(tree.id)
    assert config["tree_name"] == "nightly"
    assert config["task_count"] == 3
    assert b'<h1 id="tree-name"' in response.content


def test_foreign_and_missing_trees_are_not_found(client, other_user, tm):
    tree = tm.create_tree(TREE)
    client.force_login(other_user)
    assert client.get(f"/trees/{tree.id}/").status_code == 404
    assert client.get(f"/trees/{tree.id}/edit/").status_code == 404
    assert client.get("/trees/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_staff_can_open_any_tree(client, staff_user, tm):
    tree = tm.create_tree(TREE)
    client.force_login(staff_user)
    assert client.get(f"/trees/{tree.id}/").status_code == 200


def test_copy_with_edits_opens_the_editor_on_a_copy(client, user, tm):
    tree = tm.create_tree(TREE)
    client.force_login(user)
    config = page_config(client.get(f"/trees/{tree.id}/edit/"))
    assert config["mode"] == "copy"
    assert config["tree"] == str(tree.id)
    assert config["copy_mode"] == "full"
    assert config["task"] is None


def test_copy_with_edits_from_one_task(client, user, tm):
    from tasks_app.models import Task

    tree = tm.create_tree(TREE)
    task = Task.objects.get(tree=tree, name="a")
    client.force_login(user)
    config = page_config(client.get(f"/trees/{tree.id}/edit/?task={task.id}"))
    assert config["task"] == str(task.id)
    assert config["copy_mode"] == "minimal"
    config = page_config(client.get(f"/trees/{tree.id}/edit/?task={task.id}&mode=full"))
    assert config["copy_mode"] == "full"
    # an unknown mode falls back; a task of another tree is not found
    assert (
        page_config(client.get(f"/trees/{tree.id}/edit/?task={task.id}&mode=drop"))["copy_mode"] == "minimal"
    )
    other = tm.create_tree([{"id": "r", "name": "other", "executor": "noop"}])
    assert client.get(f"/trees/{other.id}/edit/?task={task.id}").status_code == 404
    assert client.get(f"/trees/{tree.id}/edit/?task=nope").status_code == 404


def test_pages_answer_get_only(client, user):
    client.force_login(user)
    assert (
        client.post("/").status_code == 415
    )  # POST / is apflow's health check and A2A (JSON only; docs/apflow.md)
    assert client.post("/trees/new/").status_code == 405


def test_every_static_file_the_templates_use_exists():
    names = set()
    for template in (ROOT / "templates").rglob("*.html"):
        names |= set(re.findall(r"{% static '([^']+)' %}", template.read_text()))
    assert "tasks_app/js/editor.js" in names
    missing = [n for n in sorted(names) if not finders.find(n)]
    assert missing == []


def test_vendored_libraries_match_the_pinned_versions():
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    vendored = dict(
        line.split()
        for line in (ROOT / "static/tasks_app/vendor/VERSIONS.txt").read_text().splitlines()
        if line
    )
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is pinned exactly"
        assert lock[f"node_modules/{name}"]["version"] == version
        assert vendored[name] == version


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_graph_module_unit_tests_pass():
    """The pure JS graph helpers (cycle checks, layout, event sequencing) under `node --test`."""
    result = subprocess.run(
        ["node", "--test", "static/tasks_app/js/tests/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_run_view_and_schedules_page_say_whether_mail_is_configured(client, user, tm, settings):
    """The triggers & notifications dialog offers e-mail rules only when the server can send mail."""
    tree = tm.create_tree(TREE)
    client.force_login(user)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = ""
    response = client.get(f"/trees/{tree.id}/")
    assert page_config(response)["mail"] is False
    assert b'id="act-hooks"' in response.content and b"tasks_app/js/hooks.js" in response.content
    assert page_config(client.get("/schedules/"))["mail"] is False
    settings.EMAIL_HOST = "smtp.example.com"
    assert page_config(client.get(f"/trees/{tree.id}/"))["mail"] is True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_HOST = ""
    assert page_config(client.get("/schedules/"))["mail"] is True
