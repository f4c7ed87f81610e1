"""In Chromium: create, read (without a session) and revoke the private calendar link."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # no cookie: as a calendar app
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_create_and_revoke_the_private_calendar_link(user_page, arbor_server):
    page = user_page
    errors: list = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{arbor_server}/schedules/")
    card = page.locator("#calendar-link")
    expect(card.locator("[data-role=state]")).to_have_text("No private link.")
    card.get_by_role("button", name="Create link").click()
    url_box = card.get_by_label("Private calendar URL")
    expect(url_box).to_be_visible()
    url = url_box.input_value()
    assert "/api/v1/calendar/" in url and url.endswith("/schedules.ics"), url
    assert _status(url) == 200
    expect(card.locator("[data-role=state]")).to_contain_text("Active since")
    card.get_by_role("button", name="Revoke").click()
    page.get_by_test_id("confirm").click()
    expect(card.locator("[data-role=state]")).to_have_text("No private link.")
    expect(url_box).to_be_hidden()
    assert _status(url) == 404
    assert not [e for e in errors if "Content Security Policy" in e], errors
