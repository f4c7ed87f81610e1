"""Outbound notifications of finished runs: rules, deliveries and their sending
(docs/notifications.md).

* ``run_finished`` is called by ``scheduling.refresh_tree_status`` — the one place a tree's
  status turns terminal — inside that transaction: it writes one pending ``Delivery`` per
  matching rule, with the run summary as payload. Nothing is sent there (no network call while
  the tree row is locked, and a rolled-back run sends nothing).
* ``deliver_due`` sends due deliveries; the worker supervisor (``arbor_worker``) runs it in a
  background thread at every reaper tick. A delivery is claimed by a compare-and-set on
  ``next_attempt_at``, so several supervisors never send one attempt twice at once.
* Webhooks go through ``tasks_app.outbound.safe_request`` with ``ARBOR_WEBHOOK_ALLOWED_HOSTS``:
  2xx delivered; 5xx, 408, 429, timeouts and network errors retried with exponential backoff up
  to ``max_attempts``; any other status fails at once (no retry on 4xx), and so does a refused
  target (``OutboundRefused``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from tasks_app import outbound
from tasks_app.exceptions import InvalidTransition, ValidationError
from tasks_app.models import (
    Delivery,
    DeliveryStatus,
    Event,
    NotificationEvent,
    NotificationKind,
    NotificationRule,
    Run,
    RunTrigger,
    ScheduleFire,
    Task,
    Tree,
)

from .signing import sign

logger = logging.getLogger("arbor.notifications")

SETTING = "ARBOR_WEBHOOK_ALLOWED_HOSTS"
METHODS = ("POST", "PUT", "PATCH")
RETRY_STATUSES = frozenset({408, 429})
MAX_TIMEOUT = 60.0
MAX_EMAILS = 20
CLAIM_SECONDS = 30.0  # on top of the request timeout: how long a claimed attempt stays invisible
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
MSG_EVENTS = "events: choose one or more of completed, failed, cancelled"
MSG_KIND = "kind: must be 'webhook' or 'email'"
MSG_URL = "url: {reason}"
MSG_METHOD = "method: must be one of POST, PUT, PATCH"
MSG_HEADERS = "headers: must be an object of string values"
MSG_TIMEOUT = "timeout: must be a number of seconds between 1 and 60"
MSG_ATTEMPTS = "max_attempts: must be an integer between 1 and 20"
MSG_EMAILS = "emails: must be a list of 1 to 20 e-mail addresses"
MSG_NO_MAIL = "emails: e-mail is not configured on this server (set EMAIL_HOST or EMAIL_BACKEND)"


def mail_configured() -> bool:
    return settings.EMAIL_BACKEND != SMTP_BACKEND or bool(settings.EMAIL_HOST)


def _allowed() -> list[str]:
    return list(settings.ARBOR_WEBHOOK_ALLOWED_HOSTS)


# --- rules -----------------------------------------------------------------------------------------


def clean_rule(data: dict) -> dict:
    """Validate a rule's fields (creation, JSON-RPC webhook_config); raise ValidationError naming
    the field. The URL is checked against the allow-list without DNS (again, with DNS, when sent)."""
    from django.core.validators import validate_email

    kind = data.get("kind", NotificationKind.WEBHOOK)
    if kind not in NotificationKind.values:
        raise ValidationError(MSG_KIND, details={"field": "kind"})
    events = data.get("events", list(NotificationEvent.values))
    if not isinstance(events, list) or not events or any(e not in NotificationEvent.values for e in events):
        raise ValidationError(MSG_EVENTS, details={"field": "events"})
    clean = {
        "kind": kind,
        "events": sorted(set(events)),
        "name": str(data.get("name") or "")[:200],
        "enabled": bool(data.get("enabled", True)),
    }
    attempts = data.get("max_attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 20
    ):
        raise ValidationError(MSG_ATTEMPTS, details={"field": "max_attempts"})
    clean["max_attempts"] = attempts
    if kind == NotificationKind.EMAIL:
        emails = data.get("emails")
        if not isinstance(emails, list) or not 1 <= len(emails) <= MAX_EMAILS:
            raise ValidationError(MSG_EMAILS, details={"field": "emails"})
        for address in emails:
            try:
                validate_email(address)
            except Exception:
                raise ValidationError(
                    MSG_EMAILS, details={"field": "emails", "value": str(address)[:200]}
                ) from None
        if not mail_configured():
            raise ValidationError(MSG_NO_MAIL, details={"field": "emails"})
        clean["emails"] = emails
        return clean
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise ValidationError(MSG_URL.format(reason="required"), details={"field": "url"})
    try:
        outbound.check_target(url, allowed=_allowed(), setting=SETTING)
    except outbound.OutboundRefused as exc:
        raise ValidationError(MSG_URL.format(reason=exc), details={"field": "url"}) from None
    method = str(data.get("method") or "POST").upper()
    if method not in METHODS:
        raise ValidationError(MSG_METHOD, details={"field": "method"})
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or any(
        not isinstance(k, str) or not isinstance(v, str) for k, v in headers.items()
    ):
        raise ValidationError(MSG_HEADERS, details={"field": "headers"})
    try:
        outbound.clean_headers(headers)
    except outbound.OutboundRefused as exc:
        raise ValidationError(f"headers: {exc}", details={"field": "headers"}) from None
    timeout = data.get("timeout", settings.ARBOR_WEBHOOK_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= MAX_TIMEOUT:
        raise ValidationError(MSG_TIMEOUT, details={"field": "timeout"})
    clean.update(url=url, method=method, headers=headers, timeout=float(timeout))
    return clean


@transaction.atomic
def rule_create(
    *,
    tree: Tree | None = None,
    schedule=None,
    actor,
    data: dict,
    run_number: int | None = None,
    secret: str | None = None,
) -> NotificationRule:
    """Create a rule for a tree (or a schedule). A webhook rule gets a signing secret, returned
    on the row once (``rule.secret``) and never shown again by the API."""
    from tasks_app.models import Trigger

    clean = clean_rule(data)
    owner_id = tree.owner_id if tree is not None else schedule.owner_id
    rule = NotificationRule(owner_id=owner_id, tree=tree, schedule=schedule, run_number=run_number, **clean)
    if rule.kind == NotificationKind.WEBHOOK:
        rule.secret = Trigger.generate_secret() if secret is None else secret
    rule.save()
    return rule


@transaction.atomic
def rule_update(*, rule: NotificationRule, data: dict, actor) -> NotificationRule:
    """Rename, enable or disable a rule (its target and events are fixed: make a new rule)."""
    fields = [k for k in ("name", "enabled") if k in data]
    for key in fields:
        setattr(rule, key, data[key])
    if fields:
        rule.save(update_fields=fields)
    return rule


@transaction.atomic
def rule_delete(*, rule: NotificationRule, actor) -> None:
    rule.delete()


# --- deliveries ----------------------------------------------------------------------------------


def run_finished(tree_id, status: str, now) -> int:
    """Write the deliveries of a run that just ended with ``status`` (call inside the transaction
    that made the tree's status terminal). Returns how many were written."""
    if status not in NotificationEvent.values:
        return 0
    tree = Tree.objects.get(id=tree_id)
    run = Run.objects.filter(tree_id=tree_id).order_by("-number").first()
    target = Q(tree_id=tree_id)
    if run is not None and run.trigger == RunTrigger.SCHEDULE:  # the rules of the schedule that fired it
        schedule_id = (
            ScheduleFire.objects.filter(tree_id=tree_id, run_number=tree.run_count)
            .values_list("schedule_id", flat=True)
            .first()
        )
        if schedule_id is not None:
            target |= Q(schedule_id=schedule_id)
    rules = [
        r
        for r in NotificationRule.objects.filter(target, enabled=True)
        if status in (r.events or []) and (r.run_number is None or r.run_number == tree.run_count)
    ]
    if not rules:
        return 0
    summary = run_summary(tree, status, now, run=run)
    Delivery.objects.bulk_create(
        [Delivery(rule=r, tree_id=tree.id, event=status, payload=summary, next_attempt_at=now) for r in rules]
    )
    return len(rules)


def run_summary(tree: Tree, status: str, finished_at, *, run: Run | None = None) -> dict:
    """The JSON a notification carries: the run record (docs/semantics.md "Run records").
    ``run.trigger`` is the source that started the run (api, rpc, ui, trigger, admin,
    schedule...), ``run.kind`` the run record's trigger (execute, retry, rerun, copy, schedule)."""
    counts = dict(
        Task.objects.filter(tree_id=tree.id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    started = (
        Event.objects.filter(tree_id=tree.id, kind="tree.status", data__status="in_progress")
        .order_by("-seq")
        .values_list("source", flat=True)
        .first()
    )
    duration = (finished_at - tree.started_at).total_seconds() if tree.started_at and finished_at else None
    return {
        "event": f"tree.{status}",
        "tree": {"id": str(tree.id), "name": tree.name},
        "run": {
            "number": run.number if run is not None else tree.run_count,
            "kind": run.trigger if run is not None else "",
            "started_by": run.started_by.get_username() if run is not None and run.started_by else None,
            "handled_failures": tree.handled_failures,
            "status": status,
            "started_at": tree.started_at.isoformat() if tree.started_at else None,
            "finished_at": finished_at.isoformat() if finished_at else None,
            "duration": round(duration, 3) if duration is not None else None,
            "counts": counts,
            "trigger": started or "",
        },
    }


def backoff(attempts: int) -> float:
    delay = settings.ARBOR_WEBHOOK_RETRY_DELAY * (2 ** max(0, attempts - 1))
    return min(delay, settings.ARBOR_WEBHOOK_MAX_RETRY_DELAY)


def _claim(limit: int, now) -> list[Delivery]:
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", "next_attempt_at")[:limit]
    )
    claimed = []
    for delivery_id, when in due:
        hold = now + dt.timedelta(seconds=MAX_TIMEOUT + CLAIM_SECONDS)
        if Delivery.objects.filter(
            id=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at=when
        ).update(next_attempt_at=hold):
            claimed.append(delivery_id)
    return list(Delivery.objects.select_related("rule").filter(id__in=claimed).order_by("created_at"))


def anything_due(now=None) -> bool:
    """Whether a delivery is due (:func:`_claim`'s condition), in one hand-written statement on
    the ``delivery_due`` index: the worker supervisor asks every second before it starts a
    sending thread with a connection of its own (docs/performance.md, "Scale")."""
    q = connection.ops.quote_name
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {q(Delivery._meta.db_table)} WHERE {q('status')} = %s "
        f"AND {q('next_attempt_at')} <= %s)"
    )
    with connection.cursor() as cur:
        cur.execute(
            sql,
            [DeliveryStatus.PENDING.value, connection.ops.adapt_datetimefield_value(now or timezone.now())],
        )
        return bool(cur.fetchone()[0])


def deliver_due(limit: int = 20, now=None) -> int:
    """Send up to ``limit`` due deliveries; returns how many attempts were made."""
    now = now or timezone.now()
    deliveries = _claim(limit, now)
    for delivery in deliveries:
        deliver(delivery)
    return len(deliveries)


def deliver(delivery: Delivery) -> Delivery:
    """One attempt; records the outcome and schedules the next attempt if it may be retried."""
    rule = delivery.rule
    attempts = delivery.attempts + 1
    max_attempts = rule.max_attempts or settings.ARBOR_WEBHOOK_MAX_ATTEMPTS
    code, error, retry = None, "", False
    try:
        if not rule.enabled:
            error = "the rule was disabled"
        elif rule.kind == NotificationKind.EMAIL:
            _send_email(rule, delivery)
        else:
            code = _send_webhook(rule, delivery)
            if not 200 <= code < 300:
                error = f"HTTP {code}"
                retry = code >= 500 or code in RETRY_STATUSES
    except outbound.OutboundRefused as exc:
        error = f"refused: {exc}"
    except (OSError, TimeoutError, Exception) as exc:  # network, TLS, SMTP: retry
        import http.client
        import smtplib

        error = f"{type(exc).__name__}: {exc}"
        retry = isinstance(exc, OSError | TimeoutError | http.client.HTTPException | smtplib.SMTPException)
        if not retry:
            logger.exception("notification %s: unexpected error", delivery.id)
    now = timezone.now()
    fields: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "last_error": error[:2000]}
    if not error:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif retry and attempts < max_attempts:
        fields.update(
            status=DeliveryStatus.PENDING, next_attempt_at=now + dt.timedelta(seconds=backoff(attempts))
        )
    else:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    Delivery.objects.filter(id=delivery.id).update(**fields)
    for key, value in fields.items():
        setattr(delivery, key, value)
    logger.info("notification %s attempt %s: %s", delivery.id, attempts, error or "delivered")
    return delivery


def _send_webhook(rule: NotificationRule, delivery: Delivery) -> int:
    body = json.dumps({**delivery.payload, "delivery": str(delivery.id)}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        **(rule.headers or {}),
        "Content-Type": "application/json",
        "X-Arbor-Event": delivery.payload.get("event", ""),
        "X-Arbor-Delivery": str(delivery.id),
        "X-Arbor-Timestamp": timestamp,
    }
    if rule.secret:
        headers["X-Arbor-Signature"] = sign(rule.secret, timestamp, body)
    response = outbound.safe_request(
        rule.method,
        rule.url,
        allowed=_allowed(),
        headers=headers,
        body=body,
        timeout=rule.timeout,
        setting=SETTING,
    )
    try:
        response.read()
    finally:
        response.close()
    return response.status


def _send_email(rule: NotificationRule, delivery: Delivery) -> None:
    run = delivery.payload.get("run", {})
    tree = delivery.payload.get("tree", {})
    name = " ".join(str(tree.get("name", "")).split())  # no line breaks in a header
    subject = f"[Arbor] {name}: run {run.get('number')} {run.get('status')}"
    lines = [
        f"Tree: {tree.get('name')} ({tree.get('id')})",
        f"Run: {run.get('number')}",
        f"Status: {run.get('status')}",
        f"Started: {run.get('started_at')}",
        f"Finished: {run.get('finished_at')}",
        f"Duration: {run.get('duration')} s",
        f"Started by: {run.get('trigger')}",
        "Tasks: " + ", ".join(f"{k} {v}" for k, v in sorted((run.get("counts") or {}).items())),
    ]
    send_mail(
        subject, "\n".join(lines) + "\n", settings.DEFAULT_FROM_EMAIL, list(rule.emails), fail_silently=False
    )


@transaction.atomic
def redeliver(*, deliveries: Iterable[Delivery], actor=None) -> int:
    """Send again (admin "redeliver"): back to pending, due now, with a fresh attempt budget."""
    ids = [d.id for d in deliveries]
    return Delivery.objects.filter(id__in=ids).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        last_error="",
        last_status_code=None,
        delivered_at=None,
    )


MSG_REDELIVER_PENDING = "delivery is pending: the worker sends it at its next attempt"


def delivery_redeliver(*, delivery: Delivery, actor) -> Delivery:
    """The owner's "Redeliver" (REST): a delivered or failed delivery goes back to pending, due
    now, with a fresh attempt budget; a pending one is refused (409), its retries are under way."""
    if delivery.status == DeliveryStatus.PENDING:
        raise InvalidTransition(MSG_REDELIVER_PENDING, details={"status": delivery.status})
    redeliver(deliveries=[delivery], actor=actor)
    delivery.refresh_from_db()
    return delivery


def rule_data_from_webhook_config(config) -> dict:
    """apflow's ``webhook_config`` ``{url, headers?, method?, timeout?, max_retries?, secret?}`` as
    rule fields (every terminal status; ``max_retries`` retries = that many attempts plus one)."""
    if not isinstance(config, dict):
        raise ValidationError(
            "webhook_config: must be an object {url, headers?, method?, timeout?, max_retries?}",
            details={"field": "webhook_config"},
        )
    unknown = sorted(set(config) - {"url", "headers", "method", "timeout", "max_retries", "secret"})
    if unknown:
        raise ValidationError(
            f"webhook_config: unknown field(s) {', '.join(unknown)}",
            details={"field": "webhook_config", "unknown": unknown},
        )
    data = {
        "kind": NotificationKind.WEBHOOK,
        "events": list(NotificationEvent.values),
        "url": config.get("url"),
        "name": "webhook_config",
    }
    for key in ("headers", "method", "timeout"):
        if config.get(key) is not None:
            data[key] = config[key]
    retries = config.get("max_retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 19:
            raise ValidationError(
                "webhook_config.max_retries: must be an integer between 0 and 19",
                details={"field": "webhook_config.max_retries"},
            )
        data["max_attempts"] = retries + 1
    secret = config.get("secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) > 128):
        raise ValidationError(
            "webhook_config.secret: must be a string of at most 128 characters",
            details={"field": "webhook_config.secret"},
        )
    return {"data": data, "secret": secret or ""}


@transaction.atomic
def execute_with_webhook(
    *, tree: Tree, task=None, actor, source: str, webhook_config, demo: bool | None = None
) -> tuple[Tree, NotificationRule]:
    """Start a run and attach a one-shot webhook rule to that run (JSON-RPC ``webhook_config``):
    one transaction, so the rule exists before any worker can finish the run."""
    from . import control

    parsed = rule_data_from_webhook_config(webhook_config)
    locked = Tree.objects.select_for_update().get(id=tree.id)
    rule = rule_create(
        tree=locked,
        actor=actor,
        data=parsed["data"],
        run_number=locked.run_count + 1,
        secret=parsed["secret"],
    )
    tree = control.tree_execute(tree=locked, task=task, actor=actor, source=source, demo=demo)
    return tree, rule


def deliver_due_in_thread() -> None:
    """``deliver_due`` for the worker supervisor's notification thread: its own connection,
    closed at the end; errors are logged (the next tick tries again)."""
    from django.db import connection

    try:
        deliver_due()
    except Exception:
        logger.exception("notifications: sending failed")
    finally:
        connection.close()
