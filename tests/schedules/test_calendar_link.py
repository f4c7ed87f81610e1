"""The private calendar link: a secret URL for calendar apps, per user, regeneratable, revocable."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from icalendar import Calendar

from tasks_app.models import CalendarFeed
from tasks_app.services import schedules
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db
LINK = "/api/v1/schedules/calendar-link/"


@pytest.fixture
def tree(tm):
    return tm.create_tree([{"id": "root", "name": "root", "executor": "noop"}])


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_private_link_shows_only_its_users_schedules_without_a_session(user, other_user, tm, tree):
    schedules.schedule_create(owner=user, tree=tree, kind="daily", expression="09:00")
    from tasks_app.taskmanager import TaskManager

    theirs = TaskManager(other_user).create_tree([{"id": "root", "name": "theirs", "executor": "noop"}])
    schedules.schedule_create(owner=other_user, tree=theirs, kind="daily", expression="10:00")
    api = client_for(user)
    assert api.get(LINK).json()["exists"] is False
    made = api.post(LINK)
    assert made.status_code == 201
    url = made.json()["url"]
    # stored hashed: the secret appears nowhere in the row
    feed = CalendarFeed.objects.get(user=user)
    secret = url.rstrip("/").split("/")[-2]
    assert secret not in (feed.key, feed.secret_digest)
    assert feed.secret_digest == hashlib.sha256(secret.encode()).hexdigest()

    r = Client().get(_path(url), {"days": 2})  # no cookie, no token
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    assert r["Cache-Control"] == "private, no-store"
    summaries = {str(e["summary"]) for e in Calendar.from_ical(r.content).walk("VEVENT")}
    assert summaries == {"Run root"}
    status = api.get(LINK).json()
    assert status["exists"] is True and status["last_used_at"] is not None


def test_wrong_secret_regenerated_and_revoked_links_answer_404(user):
    api = client_for(user)
    old = _path(api.post(LINK).json()["url"])
    assert Client().get(old).status_code == 200
    wrong = old.replace("/schedules.ics", "x/schedules.ics")
    assert Client().get(wrong).status_code == 404
    new = _path(api.post(LINK).json()["url"])
    assert new != old
    assert Client().get(old).status_code == 404  # regenerating retires the old URL
    assert Client().get(new).status_code == 200
    assert api.delete(LINK).status_code == 204
    assert Client().get(new).status_code == 404
    assert not CalendarFeed.objects.filter(user=user).exists()


def test_link_of_an_inactive_user_answers_404(user):
    url = _path(client_for(user).post(LINK).json()["url"])
    user.is_active = False
    user.save()
    assert Client().get(url).status_code == 404


def test_calendar_link_needs_a_login():
    assert Client().post(LINK).status_code in (401, 403)
