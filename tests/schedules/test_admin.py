"""Admin: schedules are listed with their fires; pause and resume go through the services."""

from __future__ import annotations

import pytest

from tasks_app.models import Schedule
from tasks_app.services import schedules

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule(tm, user):
    tree = tm.create_tree([{"id": "r", "name": "nightly", "executor": "noop"}])
    return schedules.schedule_create(
        owner=user, tree=tree, kind="cron", expression="0 9 * * 1-5", timezone_name="Europe/Berlin"
    )


def test_changelist_and_change_page(client, staff_user, schedule):
    client.force_login(staff_user)
    page = client.get("/admin/tasks_app/schedule/")
    assert page.status_code == 200 and b"nightly" in page.content
    detail = client.get(f"/admin/tasks_app/schedule/{schedule.id}/change/")
    assert detail.status_code == 200
    assert b"Monday through Friday" in detail.content


def test_pause_and_resume_actions(client, staff_user, schedule):
    client.force_login(staff_user)
    url = "/admin/tasks_app/schedule/"
    client.post(url, {"action": "pause", "_selected_action": [str(schedule.id)]})
    assert Schedule.objects.get(id=schedule.id).enabled is False
    client.post(url, {"action": "resume", "_selected_action": [str(schedule.id)]})
    assert Schedule.objects.get(id=schedule.id).enabled is True


def test_non_staff_cannot_see_schedules(client, user, schedule):
    client.force_login(user)
    assert client.get("/admin/tasks_app/schedule/").status_code == 302
