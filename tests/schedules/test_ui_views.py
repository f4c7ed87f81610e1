"""The schedule pages are shells: access checks and starting configuration (no inline scripts)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(tm):
    return tm.create_tree([{"id": "r", "name": "nightly", "executor": "noop"}])


def test_pages_render_without_inline_scripts(client, user, tree):
    client.force_login(user)
    for url in ("/schedules/", f"/trees/{tree.id}/schedule/", f"/trees/{tree.id}/", "/"):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert "<script>" not in html and " onclick=" not in html and " oninput=" not in html
    assert f'href="/trees/{tree.id}/schedule/"' in client.get(f"/trees/{tree.id}/").content.decode()
    assert 'id="upcoming-fires"' in client.get("/").content.decode()


def test_another_users_tree_cannot_be_scheduled(client, other_user, tree):
    client.force_login(other_user)
    assert client.get(f"/trees/{tree.id}/schedule/").status_code == 404
