"""The editor's executor picker offers only the executors the user may use (docs/security.md).

Run with ``pytest -m e2e tests/ui`` like the other browser tests."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def picker_options(page, arbor_server) -> list[str]:
    page.goto(f"{arbor_server}/trees/new/")
    page.wait_for_selector("body[data-ready='1']")
    page.click("#add-first")
    page.fill("#f-name", "root")
    page.press("#f-name", "Enter")
    page.wait_for_selector("#f-executor option", state="attached")
    return page.locator("#f-executor option").evaluate_all("els => els.map(e => e.value)")


def test_the_picker_lacks_shell_command_without_the_grant(user_page, arbor_server, user):
    from django.contrib.auth.models import Permission

    options = picker_options(user_page, arbor_server)
    assert "echo" in options
    assert not {"shell_command", "http_request", "python_function"} & set(options)

    user.user_permissions.add(Permission.objects.get(codename="use_shell_command"))
    options = picker_options(user_page, arbor_server)
    assert "shell_command" in options and "http_request" not in options
