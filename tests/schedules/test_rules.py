"""Fire times of the pure engine (tasks_app.engine.schedules): no database, the clock is passed in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tasks_app.engine import schedules as rules
from tasks_app.exceptions import ValidationError

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(times, tz):
    return [t.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") for t in times]


def at(y, m, d, hh=0, mm=0, tz=UTC):
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


# --- daylight saving --------------------------------------------------------------------------


def test_berlin_spring_forward_skipped_time_fires_after_the_gap():
    spec = rules.check("cron", "30 2 * * *", "Europe/Berlin")
    times = rules.upcoming(spec, at(2026, 3, 28, 12, tz=BERLIN), 3)
    assert local(times, BERLIN) == ["2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"]


def test_berlin_fall_back_repeated_time_fires_once():
    spec = rules.check("daily", "02:30", "Europe/Berlin")
    times = rules.upcoming(spec, at(2026, 10, 24, 12, tz=BERLIN), 3)
    assert local(times, BERLIN) == ["2026-10-25 02:30 CEST", "2026-10-26 02:30 CET", "2026-10-27 02:30 CET"]
    # one day apart in wall-clock time, 25 hours apart in real time across the change
    assert times[1] - times[0] == dt.timedelta(hours=25)


def test_berlin_fall_back_wildcard_hour_fires_in_both_repeated_hours():
    spec = rules.check("cron", "0 * * * *", "Europe/Berlin")
    times = rules.upcoming(spec, at(2026, 10, 25, 0, 30, tz=BERLIN), 4)
    assert local(times, BERLIN) == [
        "2026-10-25 01:00 CEST",
        "2026-10-25 02:00 CEST",
        "2026-10-25 02:00 CET",
        "2026-10-25 03:00 CET",
    ]
    assert all(b - a == dt.timedelta(hours=1) for a, b in zip(times, times[1:], strict=False))


def test_new_york_spring_forward():
    spec = rules.check("cron", "30 2 * * *", "America/New_York")
    times = rules.upcoming(spec, at(2026, 3, 7, 12, tz=NEW_YORK), 3)
    assert local(times, NEW_YORK) == ["2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"]


def test_new_york_fall_back_keeps_wall_clock_time():
    spec = rules.check("weekly", "7 01:30", "America/New_York")  # Sundays
    times = rules.upcoming(spec, at(2026, 10, 25, 12, tz=NEW_YORK), 2)
    assert local(times, NEW_YORK) == ["2026-11-01 01:30 EDT", "2026-11-08 01:30 EST"]
    assert [t.isoformat() for t in times] == ["2026-11-01T05:30:00+00:00", "2026-11-08T06:30:00+00:00"]


def test_interval_is_real_time_across_dst():
    spec = rules.check("interval", "3600", "Europe/Berlin")
    start = at(2026, 3, 29, 0, 30, tz=BERLIN)
    times = rules.upcoming(spec, start, 3, anchor=start)
    assert local(times, BERLIN) == ["2026-03-29 01:30 CET", "2026-03-29 03:30 CEST", "2026-03-29 04:30 CEST"]


# --- calendars ----------------------------------------------------------------------------------


def test_monthly_31_skips_short_months():
    spec = rules.check("monthly", "31 09:00", "UTC")
    times = rules.upcoming(spec, at(2027, 1, 1), 3)
    assert [t.date().isoformat() for t in times] == ["2027-01-31", "2027-03-31", "2027-05-31"]


def test_monthly_last_day_follows_month_ends():
    spec = rules.check("monthly", "L 23:59", "UTC")
    times = rules.upcoming(spec, at(2027, 12, 31, 23, 59), 3)
    assert [t.date().isoformat() for t in times] == ["2028-01-31", "2028-02-29", "2028-03-31"]


def test_29_february_fires_in_leap_years_only():
    spec = rules.check("cron", "0 12 29 2 *", "Europe/Berlin")
    times = rules.upcoming(spec, at(2025, 3, 1), 2)
    assert local(times, BERLIN) == ["2028-02-29 12:00 CET", "2032-02-29 12:00 CET"]


def test_weekly_days_are_apflow_numbers_monday_is_1():
    spec = rules.check("weekly", "1,3,5 09:00", "UTC")
    assert spec.cron == "0 9 * * 1,3,5"
    times = rules.upcoming(spec, at(2026, 12, 6), 3)  # a Sunday
    assert [t.strftime("%a %H:%M") for t in times] == ["Mon 09:00", "Wed 09:00", "Fri 09:00"]


def test_once_fires_once():
    spec = rules.check("once", "2027-01-31T09:00:00", "Europe/Berlin")
    assert rules.upcoming(spec, at(2027, 1, 1), 3) == [at(2027, 1, 31, 8)]
    assert rules.next_after(spec, at(2027, 2, 1)) is None


def test_strictly_after_a_fire_time():
    spec = rules.check("cron", "*/5 * * * *", "UTC")
    assert rules.next_after(spec, at(2027, 1, 1, 9, 5)) == at(2027, 1, 1, 9, 10)
    assert rules.next_after(spec, at(2027, 1, 1, 9, 4) + dt.timedelta(seconds=59)) == at(2027, 1, 1, 9, 5)


# --- windows, max_runs, catch-up ---------------------------------------------------------------


def test_start_and_end_window():
    spec = rules.check("daily", "09:00", "UTC")
    times = rules.upcoming(spec, at(2027, 1, 1), 10, start_at=at(2027, 1, 5), end_at=at(2027, 1, 7, 9))
    assert [t.day for t in times] == [5, 6, 7]


def test_catch_up_skip_fires_only_the_latest_missed_time():
    spec = rules.check("cron", "0 * * * *", "UTC")
    plan = rules.plan_due(spec, at(2027, 1, 1, 1), at(2027, 1, 1, 5, 30), catch_up="skip", max_catch_up=10)
    assert plan.fire == (at(2027, 1, 1, 5),)
    assert plan.missed == 4
    assert plan.next_run_at == at(2027, 1, 1, 6)


def test_catch_up_run_is_bounded():
    spec = rules.check("cron", "0 * * * *", "UTC")
    plan = rules.plan_due(spec, at(2027, 1, 1, 0), at(2027, 1, 2, 0, 30), catch_up="run", max_catch_up=3)
    assert plan.fire == (at(2027, 1, 1, 22), at(2027, 1, 1, 23), at(2027, 1, 2, 0))
    assert plan.missed == 22


def test_max_runs_caps_the_fires_of_a_tick():
    spec = rules.check("interval", "60", "UTC")
    plan = rules.plan_due(
        spec,
        at(2027, 1, 1),
        at(2027, 1, 1, 0, 10),
        catch_up="run",
        max_catch_up=10,
        remaining_runs=2,
        anchor=at(2027, 1, 1),
    )
    assert len(plan.fire) == 2


def test_end_at_ends_the_rule():
    spec = rules.check("daily", "09:00", "UTC")
    plan = rules.plan_due(
        spec,
        at(2027, 1, 1, 9),
        at(
            2027,
            1,
            1,
            9,
            0,
        ),
        catch_up="skip",
        max_catch_up=1,
        end_at=at(2027, 1, 1, 12),
    )
    assert plan.fire == (at(2027, 1, 1, 9),)
    assert plan.next_run_at is None


def test_on_time_fire_misses_nothing():
    spec = rules.check("interval", "30", "UTC")
    plan = rules.plan_due(
        spec,
        at(2027, 1, 1),
        at(2027, 1, 1) + dt.timedelta(seconds=0.4),
        catch_up="skip",
        max_catch_up=10,
        anchor=at(2027, 1, 1),
    )
    assert (plan.fire, plan.missed) == ((at(2027, 1, 1),), 0)
    assert plan.next_run_at == at(2027, 1, 1) + dt.timedelta(seconds=30)


# --- validation and descriptions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expression", "tz", "field", "match"),
    [
        ("cron", "61 * * * *", "UTC", "expression", "invalid cron expression"),
        ("cron", "* * *", "UTC", "expression", "expected 5 fields"),
        ("cron", "0 9 * * *", "Mars/Olympus", "timezone", "unknown timezone 'Mars/Olympus'"),
        ("interval", "0", "UTC", "expression", "greater than 0"),
        ("interval", "-5", "UTC", "expression", "greater than 0"),
        ("interval", "1.5", "UTC", "expression", "whole number"),
        ("daily", "25:00", "UTC", "expression", "HH:MM"),
        ("weekly", "0 09:00", "UTC", "expression", "1 = Monday"),
        ("monthly", "32 09:00", "UTC", "expression", "days 1-31"),
        ("once", "tomorrow", "UTC", "expression", "ISO 8601"),
        ("hourly", "1", "UTC", "kind", "kind must be one of"),
    ],
)
def test_bad_rules_name_the_field(kind, expression, tz, field, match):
    with pytest.raises(ValidationError, match=match) as info:
        rules.check(kind, expression, tz)
    assert info.value.details["field"] == field


def test_descriptions():
    assert rules.describe(rules.check("cron", "*/5 9-17 * * 1-5", "Europe/Berlin")) == (
        "Every 5 minutes, between 09:00 AM and 05:59 PM, Monday through Friday (Europe/Berlin)"
    )
    assert rules.describe(rules.check("interval", "7200", "UTC")) == "Every 2 hours"
    assert rules.describe(rules.check("weekly", "1 09:00", "UTC")).startswith("At 09:00 AM, only on Monday")
