"""/api/v1/stats/throughput/: completions per bucket from one GROUP BY, never a sample."""

import datetime

import pytest
from django.utils import timezone

from tasks_app.models import Task

from .conftest import t

pytestmark = pytest.mark.django_db


def _complete(tree_id, when):
    Task.objects.filter(tree_id=tree_id).update(status="completed", started_at=when, completed_at=when)


def test_throughput_counts_every_completion_per_minute(api, make_tree):
    now = timezone.now().replace(second=30, microsecond=0)
    big, _ = make_tree([t("root")] + [t(f"c{i}", parent_id="root") for i in range(600)])
    _complete(big["id"], now - datetime.timedelta(minutes=2))
    small, _ = make_tree([t("other"), t("x", parent_id="other")])
    _complete(small["id"], now - datetime.timedelta(minutes=50))
    make_tree([t("idle")])  # pending: not counted
    body = api.get("/api/v1/stats/throughput/?bucket=minute&count=60").json()
    assert body["bucket"] == "minute"
    assert body["total"] == 603  # more than the 500 rows the dashboard used to sample
    assert len(body["series"]) == 60
    by_t = {p["t"]: p["count"] for p in body["series"]}

    def at(minutes_ago):
        when = (now - datetime.timedelta(minutes=minutes_ago)).replace(second=0)
        return by_t[when.isoformat().replace("+00:00", "Z")]

    assert at(2) == 601 and at(50) == 2 and sum(by_t.values()) == 603
    assert body["series"][-1]["t"].endswith("Z")


def test_throughput_per_hour_for_one_tree_and_isolation(api, other_api, make_tree):
    now = timezone.now()
    one, _ = make_tree([t("root"), t("a", parent_id="root")])
    _complete(one["id"], now - datetime.timedelta(hours=3))
    body = api.get(f"/api/v1/stats/throughput/?bucket=hour&count=24&tree={one['id']}").json()
    assert body["total"] == 2 and [p["count"] for p in body["series"]].count(2) == 1
    assert other_api.get("/api/v1/stats/throughput/?bucket=hour").json()["total"] == 0
    assert other_api.get(f"/api/v1/stats/throughput/?tree={one['id']}").status_code == 404
    assert api.get("/api/v1/stats/throughput/?bucket=week").status_code == 400
    assert api.get("/api/v1/stats/throughput/?count=0").status_code == 400
