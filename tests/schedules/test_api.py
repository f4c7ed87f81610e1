"""REST API of schedules: create, list, update, pause/resume, delete, next N, runs, preview, iCal."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from icalendar import Calendar

from tasks_app.models import Schedule, Tree
from tasks_app.services import schedules
from tasks_app.worker.loop import run_until_idle
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2027, 3, 1, 8, 59, 30, tzinfo=dt.UTC)
URL = "/api/v1/schedules/"


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def tree(tm):
    return tm.create_tree([{"id": "root", "name": "root", "executor": "noop"}])


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def create(api, tree, **body):
    return api.post(
        URL,
        {
            "tree": str(tree.id),
            "kind": "cron",
            "expression": "0 9 * * *",
            "timezone": "Europe/Berlin",
            **body,
        },
        format="json",
    )


def test_create_list_retrieve(api, tree):
    r = create(api, tree, name="nightly")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["next_run_at"].startswith("2027-03-02T08:00:00")  # 09:00 in Berlin (CET) tomorrow
    assert body["description"] == "At 09:00 AM (Europe/Berlin)"
    assert body["state"] == "active" and body["overlap"] == "skip" and body["catch_up"] == "skip"
    listed = api.get(URL).json()
    assert [s["name"] for s in listed["results"]] == ["nightly"]
    assert api.get(f"{URL}{body['id']}/").json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expression": "0 25 * * *"}, "expression"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"kind": "interval", "expression": "0"}, "expression"),
        ({"kind": "interval", "expression": "-10"}, "expression"),
        ({"start_at": "2027-04-01T00:00:00Z", "end_at": "2027-03-01T00:00:00Z"}, "end_at"),
        ({"kind": "hourly"}, "kind"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, tree, body, field):
    r = create(api, tree, **body)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["message"].startswith(f"{field}:"), error
    assert not Schedule.objects.exists()


def test_archived_tree_is_refused_naming_the_tree(api, tree):
    Tree.objects.filter(id=tree.id).update(archived=True)
    r = create(api, tree)
    assert r.status_code == 409
    assert r.json()["error"]["message"].startswith("tree:")
    assert r.json()["error"]["details"]["field"] == "tree"


def test_another_users_tree_and_schedule_are_not_found(api, tree, other_user):
    other = client_for(other_user)
    assert create(other, tree).status_code == 404
    sid = create(api, tree).json()["id"]
    assert other.get(f"{URL}{sid}/").status_code == 404
    assert other.post(f"{URL}{sid}/pause/").status_code == 404
    assert other.get(URL).json()["results"] == []


def test_update_pause_resume_delete(api, tree, clock):
    sid = create(api, tree).json()["id"]
    r = api.patch(f"{URL}{sid}/", {"kind": "interval", "expression": "3600"}, format="json")
    assert r.status_code == 200 and r.json()["description"] == "Every 1 hour"
    assert r.json()["next_run_at"].startswith("2027-03-01T09:59:30")
    assert api.patch(f"{URL}{sid}/", {"expression": "abc"}, format="json").status_code == 400
    assert api.post(f"{URL}{sid}/pause/").json()["state"] == "paused"
    clock.move_to(T0 + dt.timedelta(hours=5))
    resumed = api.post(f"{URL}{sid}/resume/").json()
    assert resumed["state"] == "active"
    assert resumed["next_run_at"].startswith("2027-03-01T14:59:30")
    assert api.delete(f"{URL}{sid}/").status_code == 204
    assert not Schedule.objects.exists()


def test_next_n_fire_times(api, tree):
    sid = create(api, tree, kind="daily", expression="02:30").json()["id"]
    with time_machine.travel(dt.datetime(2027, 3, 26, tzinfo=dt.UTC), tick=False):
        schedules.schedule_update(schedule=Schedule.objects.get(id=sid), expression="02:30")
        body = api.get(f"{URL}{sid}/next/?count=4").json()
    # Europe/Berlin springs forward on 28 March 2027: 02:30 does not exist that day → 03:00 CEST
    assert body["next"] == [
        "2027-03-26T01:30:00+00:00",
        "2027-03-27T01:30:00+00:00",
        "2027-03-28T01:00:00+00:00",
        "2027-03-29T00:30:00+00:00",
    ]


def test_runs_of_a_schedule(api, tree, clock):
    sid = create(api, tree, kind="cron", expression="0 10 * * *").json()["id"]
    clock.move_to(dt.datetime(2027, 3, 1, 9, 0, 1, tzinfo=dt.UTC))
    schedules.scheduler_tick()
    run_until_idle(hard_kill=False, timeout=30)
    clock.move_to(dt.datetime(2027, 3, 1, 9, 0, 3, tzinfo=dt.UTC))
    schedules.settle_fires()
    runs = api.get(f"{URL}{sid}/runs/").json()["results"]
    assert len(runs) == 1
    run = runs[0]
    assert run["status"] == "completed" and run["run_number"] == 1
    assert run["run_url"] == f"/trees/{tree.id}/?run=1"
    assert run["duration"] is not None
    listed = api.get(URL).json()["results"][0]
    assert listed["last_fire"]["status"] == "completed"


def test_preview_as_you_type(api):
    r = api.post(
        f"{URL}preview/", {"kind": "cron", "expression": "*/15 * * * *", "timezone": "UTC"}, format="json"
    )
    assert r.status_code == 200
    assert r.json()["description"] == "Every 15 minutes (UTC)"
    assert r.json()["next"][:2] == ["2027-03-01T09:00:00+00:00", "2027-03-01T09:15:00+00:00"]
    bad = api.post(f"{URL}preview/", {"kind": "cron", "expression": "*/15 * *"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("expression:")


def test_ical_feed(api, tree, other_user, tm):
    create(api, tree, kind="daily", expression="09:00", timezone="UTC")
    r = api.get(f"{URL}calendar.ics/?days=3")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    events = list(cal.walk("VEVENT"))
    assert [str(e["summary"]) for e in events] == ["Run root"] * 3
    assert events[0].decoded("dtstart") == dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)
    assert client_for(other_user).get(f"{URL}calendar.ics/").content.count(b"BEGIN:VEVENT") == 0


def test_deleting_a_tree_removes_its_schedules(api, tree):
    create(api, tree)
    assert api.delete(f"/api/v1/trees/{tree.id}/").status_code == 200
    assert not Schedule.objects.exists()


def test_a_malformed_tree_filter_is_a_400_naming_it(api):
    resp = api.get("/api/v1/schedules/", {"tree": "not-a-uuid"})
    assert resp.status_code == 400 and resp.json()["error"]["message"].startswith("tree:"), resp.json()
