"""When does a schedule fire? Pure functions over (kind, expression, timezone, times).

Kinds (apflow's ``schedule_type`` / ``schedule_expression``):

* ``once``: an ISO 8601 datetime (a naive one is read in the schedule's timezone);
* ``interval``: a whole number of seconds > 0, counted from the schedule's anchor (its start);
* ``cron``: five fields, evaluated in the schedule's IANA timezone by cronsim;
* ``daily``: ``HH:MM``; ``weekly``: ``1,3,5 09:00`` (1 = Monday … 7 = Sunday);
  ``monthly``: ``1,15 09:00`` (days of the month; ``L`` = the last day).

``daily``/``weekly``/``monthly`` are translated to a cron expression and share cron's rules, so
there is one implementation of wall-clock time. Daylight-saving rules are cronsim's (those of
Debian's cron): a wall-clock time skipped by a spring-forward fires at the first minute after the
gap (02:30 → 03:00); a time repeated by a fall-back fires once, at its first occurrence; a job
with a wildcard hour (``*/30 * * * *``) fires in both repeated hours, as it fires every 30 minutes.
A day of the month that a month lacks (31, or 29 February) is skipped for that month.

All returned datetimes are aware and in UTC. Inputs are validated by :func:`check`, which raises
:class:`~tasks_app.exceptions.ValidationError` with ``details["field"]`` naming the bad field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import get_description
from cronsim import CronSim, CronSimError

from tasks_app.exceptions import ValidationError

KINDS = ("once", "interval", "cron", "daily", "weekly", "monthly")
UTC = dt.UTC
MAX_INTERVAL = 366 * 24 * 3600

MSG_KIND = "kind must be one of: " + ", ".join(KINDS)
MSG_TIMEZONE = "unknown timezone '{tz}' (use an IANA name such as Europe/Berlin)"
MSG_CRON = "invalid cron expression '{expr}': {why} (five fields: minute hour day-of-month month day-of-week)"
MSG_INTERVAL = "interval must be a whole number of seconds greater than 0 (at most one year), got '{expr}'"
MSG_ONCE = "once needs an ISO 8601 datetime such as 2027-01-31T09:00:00+01:00, got '{expr}'"
MSG_DAILY = "daily needs HH:MM, got '{expr}'"
MSG_WEEKLY = "weekly needs days 1-7 (1 = Monday) and HH:MM, such as '1,3,5 09:00', got '{expr}'"
MSG_MONTHLY = "monthly needs days 1-31 (or L) and HH:MM, such as '1,15 09:00', got '{expr}'"

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", details={"field": field})


def zone(tz: str) -> ZoneInfo:
    """Return the IANA zone ``tz``; raise ValidationError naming ``timezone`` if unknown."""
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _invalid("timezone", MSG_TIMEZONE.format(tz=tz)) from None


def _hhmm(text: str, message: str) -> tuple[int, int]:
    match = _HHMM.match(text.strip())
    if not match:
        raise _invalid("expression", message)
    return int(match.group(1)), int(match.group(2))


def _days(text: str, lo: int, hi: int, message: str, *, allow_last: bool = False) -> list[str]:
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if allow_last and part.upper() == "L":
            out.append("L")
            continue
        if not part.isdigit() or not lo <= int(part) <= hi:
            raise _invalid("expression", message)
        out.append(str(int(part)))
    if not out:
        raise _invalid("expression", message)
    return out


def to_cron(kind: str, expression: str) -> str | None:
    """The cron expression a wall-clock kind stands for (None for ``once`` and ``interval``)."""
    expr = str(expression).strip()
    if kind == "cron":
        return " ".join(expr.split())
    if kind == "daily":
        hour, minute = _hhmm(expr, MSG_DAILY.format(expr=expr))
        return f"{minute} {hour} * * *"
    if kind in ("weekly", "monthly"):
        message = (MSG_WEEKLY if kind == "weekly" else MSG_MONTHLY).format(expr=expr)
        parts = expr.split()
        if len(parts) != 2:
            raise _invalid("expression", message)
        hour, minute = _hhmm(parts[1], message)
        if kind == "weekly":  # apflow: 1 = Monday … 7 = Sunday; cron: 0 = Sunday
            days = [str(int(d) % 7) for d in _days(parts[0], 1, 7, message)]
            return f"{minute} {hour} * * {','.join(days)}"
        days = _days(parts[0], 1, 31, message, allow_last=True)
        if "L" in days and len(days) > 1:  # cronsim accepts L only on its own
            raise _invalid("expression", message)
        return f"{minute} {hour} {','.join(days)} * *"
    return None


def _parse_once(expression: str, tz: ZoneInfo) -> dt.datetime:
    text = str(expression).strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _invalid("expression", MSG_ONCE.format(expr=expression)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


def _parse_interval(expression: object) -> int:
    text = str(expression).strip()
    if not re.fullmatch(r"[+-]?\d+", text) or not 0 < int(text) <= MAX_INTERVAL:
        raise _invalid("expression", MSG_INTERVAL.format(expr=expression))
    return int(text)


@dataclass(frozen=True)
class Spec:
    """A validated schedule rule."""

    kind: str
    expression: str
    tz: ZoneInfo
    cron: str | None = None
    seconds: int | None = None
    at: dt.datetime | None = None


def check(kind: str, expression: object, tz: str = "UTC") -> Spec:
    """Validate a rule and return its :class:`Spec`; raise ValidationError naming the field."""
    if kind not in KINDS:
        raise _invalid("kind", MSG_KIND)
    zinfo = zone(tz)
    expression = "" if expression is None else str(expression).strip()
    if kind == "once":
        return Spec(kind, expression, zinfo, at=_parse_once(expression, zinfo))
    if kind == "interval":
        return Spec(kind, expression, zinfo, seconds=_parse_interval(expression))
    cron = to_cron(kind, expression)
    if cron is None or len(cron.split()) != 5:
        raise _invalid("expression", MSG_CRON.format(expr=expression, why="expected 5 fields"))
    try:
        CronSim(cron, dt.datetime(2000, 1, 1, tzinfo=zinfo))
    except CronSimError as exc:
        raise _invalid("expression", MSG_CRON.format(expr=expression, why=str(exc).lower())) from None
    return Spec(kind, expression, zinfo, cron=cron)


def next_after(spec: Spec, after: dt.datetime, *, anchor: dt.datetime | None = None) -> dt.datetime | None:
    """Return the first fire time strictly after ``after`` (aware UTC), or None if there is none.

    ``anchor`` is where an interval counts from (the schedule's start or creation time).
    """
    after = after.astimezone(UTC)
    if spec.kind == "once":
        assert spec.at is not None  # check() sets it for this kind
        return spec.at if spec.at > after else None
    if spec.kind == "interval":
        assert spec.seconds is not None
        base = (anchor or after).astimezone(UTC)
        if base > after:
            return base
        steps = int((after - base).total_seconds() // spec.seconds) + 1
        return base + dt.timedelta(seconds=steps * spec.seconds)
    assert spec.cron is not None
    local = after.astimezone(spec.tz)
    # cronsim starts at the next whole minute after a time with seconds, and at the time itself
    # when it is a whole minute: step past ``after`` so the result is strictly later
    it = CronSim(spec.cron, local.replace(second=0, microsecond=0))
    for candidate in it:
        utc = candidate.astimezone(UTC)
        if utc > after:
            return utc
    return None  # pragma: no cover - cronsim iterators are infinite for valid expressions


def fire_times(
    spec: Spec,
    after: dt.datetime,
    *,
    anchor: dt.datetime | None = None,
    start_at: dt.datetime | None = None,
    end_at: dt.datetime | None = None,
) -> Iterator[dt.datetime]:
    """Fire times after ``after`` within [start_at, end_at], in order (possibly infinite)."""
    cursor = after
    if start_at is not None and start_at > after:
        cursor = start_at - dt.timedelta(microseconds=1)
    while True:
        nxt = next_after(spec, cursor, anchor=anchor)
        if nxt is None or (end_at is not None and nxt > end_at):
            return
        yield nxt
        cursor = nxt


def upcoming(spec: Spec, after: dt.datetime, count: int, **window: dt.datetime | None) -> list[dt.datetime]:
    """The next ``count`` fire times (fewer if the rule ends)."""
    out: list[dt.datetime] = []
    for when in fire_times(spec, after, **window):
        out.append(when)
        if len(out) >= count:
            break
    return out


@dataclass(frozen=True)
class DuePlan:
    """What one tick does for one due schedule.

    ``fire``: scheduled times to record, oldest first; ``missed``: how many due times were
    dropped (catch-up ``skip``, or beyond the catch-up bound); ``next_run_at``: the next fire time
    after now (None when the rule is exhausted).
    """

    fire: tuple[dt.datetime, ...]
    missed: int
    next_run_at: dt.datetime | None


def plan_due(
    spec: Spec,
    next_run_at: dt.datetime,
    now: dt.datetime,
    *,
    catch_up: str,
    max_catch_up: int,
    remaining_runs: int | None = None,
    anchor: dt.datetime | None = None,
    end_at: dt.datetime | None = None,
    scan_limit: int = 10_000,
) -> DuePlan:
    """Decide which due times to fire at ``now``.

    Every fire time in [next_run_at, now] is due. With catch-up ``skip`` only the latest fires;
    with ``run`` the latest ``max_catch_up`` fire (never an unbounded burst). ``remaining_runs``
    (from ``max_runs``) caps the fires further. Counting due times is bounded by ``scan_limit``.
    """
    due = [next_run_at]
    cursor = next_run_at
    while len(due) < scan_limit:
        nxt = next_after(spec, cursor, anchor=anchor)
        if nxt is None or nxt > now or (end_at is not None and nxt > end_at):
            break
        due.append(nxt)
        cursor = nxt
    keep = 1 if catch_up == "skip" else max(1, max_catch_up)
    if remaining_runs is not None:
        keep = max(0, min(keep, remaining_runs))
    fire = tuple(due[-keep:]) if keep else ()
    following = next_after(spec, max(now, due[-1]), anchor=anchor)
    if following is not None and end_at is not None and following > end_at:
        following = None
    return DuePlan(fire=fire, missed=len(due) - len(fire), next_run_at=following)


def describe(spec: Spec) -> str:
    """A human sentence for the rule (cron-descriptor for the wall-clock kinds)."""
    if spec.kind == "once":
        assert spec.at is not None
        return f"Once, at {spec.at.astimezone(spec.tz).strftime('%Y-%m-%d %H:%M %Z')}"
    if spec.kind == "interval":
        assert spec.seconds is not None
        return f"Every {_duration(spec.seconds)}"
    assert spec.cron is not None
    try:
        text = str(get_description(spec.cron))
    except Exception:  # cron-descriptor does not know every cronsim extension
        text = spec.cron
    return f"{text} ({spec.tz.key})"


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
