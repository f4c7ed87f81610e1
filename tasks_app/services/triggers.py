"""Inbound triggers: create, rotate, change and fire (docs/notifications.md).

Firing is authenticated by the trigger's own secret, never by a user session or token:

* ``hmac``: ``X-Arbor-Timestamp: <unix seconds>`` and
  ``X-Arbor-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">``; the timestamp
  must be within ``ARBOR_TRIGGER_TOLERANCE`` seconds of the server's clock (replay window);
* ``bearer``: ``Authorization: Bearer <secret>`` (only its SHA-256 digest is stored).

The run starts through ``control.tree_execute`` with the body as the root task's inputs, as the
tree's owner (the executor grants apply to the owner), with source ``"trigger"``.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tasks_app.exceptions import InvalidTransition, OrchestratorError, ValidationError
from tasks_app.models import AuditKind, Tree, Trigger, TriggerMode

from . import audit, control
from .signing import sign
from .task_fields import json_depth

SOURCE = "trigger"
MSG_BAD_MODE = "mode: must be 'hmac' or 'bearer'"
MSG_UNAUTHORIZED = "the trigger's signature or secret is missing or wrong"
MSG_STALE = (
    "X-Arbor-Timestamp is missing, not a number or more than {tolerance} s away from the server's clock"
)
MSG_DISABLED = "trigger is disabled"
MSG_OWNER_INACTIVE = "trigger is disabled: the tree's owner is inactive"
MSG_BODY_JSON = "body: not valid JSON ({error})"
MSG_BODY_OBJECT = "body: must be a JSON object (it becomes the root task's inputs)"
MSG_BODY_DEEP = "body: nested deeper than {limit} levels (max_json_depth)"
MSG_BODY_NUL = "body: NUL characters cannot be stored"
MSG_BODY_LARGE = "body: larger than the limit of {limit} bytes (ARBOR_TRIGGER_MAX_BYTES)"


class TriggerUnauthorized(OrchestratorError):
    code = "unauthorized"


class TriggerDisabled(InvalidTransition):  # 409
    code = "trigger_disabled"


class BodyTooLarge(ValidationError):
    code = "limit_exceeded"


@dataclass
class Created:
    trigger: Trigger
    secret: str  # shown once


@transaction.atomic
def trigger_create(
    *,
    tree: Tree,
    actor,
    mode: str = TriggerMode.HMAC,
    name: str = "",
    enabled: bool = True,
    source: str = "api",
) -> Created:
    if mode not in TriggerMode.values:
        raise ValidationError(MSG_BAD_MODE, details={"field": "mode"})
    raw = Trigger.generate_secret()
    trigger = Trigger(tree=tree, owner_id=tree.owner_id, mode=mode, name=name, enabled=enabled)
    _store_secret(trigger, raw)
    trigger.save()
    audit.record(
        AuditKind.TRIGGER_CREATED,
        actor=actor,
        source=source,
        target=f"trigger:{trigger.id}",
        tree=str(tree.id),
        mode=mode,
    )
    return Created(trigger, raw)


def _store_secret(trigger: Trigger, raw: str) -> None:
    if trigger.mode == TriggerMode.HMAC:
        trigger.secret, trigger.secret_digest = raw, ""
    else:
        trigger.secret, trigger.secret_digest = "", Trigger.digest(raw)


@transaction.atomic
def trigger_rotate(*, trigger: Trigger, actor, source: str = "api") -> Created:
    """A new secret (the old one stops working at once); shown once."""
    trigger = Trigger.objects.select_for_update().get(id=trigger.id)
    raw = Trigger.generate_secret()
    _store_secret(trigger, raw)
    trigger.save(update_fields=["secret", "secret_digest"])
    audit.record(AuditKind.TRIGGER_ROTATED, actor=actor, source=source, target=f"trigger:{trigger.id}")
    return Created(trigger, raw)


@transaction.atomic
def trigger_update(*, trigger: Trigger, data: dict, actor, source: str = "api") -> Trigger:
    fields = [k for k in ("name", "enabled") if k in data]
    for key in fields:
        setattr(trigger, key, data[key])
    if fields:
        trigger.save(update_fields=fields)
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger, actor, source: str = "api") -> None:
    audit.record(AuditKind.TRIGGER_DELETED, actor=actor, source=source, target=f"trigger:{trigger.id}")
    trigger.delete()


def authenticate(
    trigger: Trigger,
    *,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    authorization: str | None,
    now: float | None = None,
) -> None:
    """Raise TriggerUnauthorized unless the request carries the trigger's secret or signature."""
    if trigger.mode == TriggerMode.BEARER:
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip() or not trigger.secret_digest:
            raise TriggerUnauthorized(MSG_UNAUTHORIZED)
        if not hmac.compare_digest(Trigger.digest(value.strip()), trigger.secret_digest):
            raise TriggerUnauthorized(MSG_UNAUTHORIZED)
        return
    tolerance = settings.ARBOR_TRIGGER_TOLERANCE
    try:
        sent = int(timestamp or "")
    except ValueError:
        raise TriggerUnauthorized(MSG_STALE.format(tolerance=int(tolerance))) from None
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        raise TriggerUnauthorized(MSG_STALE.format(tolerance=int(tolerance)))
    if not trigger.secret or not signature:
        raise TriggerUnauthorized(MSG_UNAUTHORIZED)
    expected = sign(trigger.secret, str(timestamp), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise TriggerUnauthorized(MSG_UNAUTHORIZED)


def parse_body(body: bytes) -> dict:
    """The body as the root's inputs: a JSON object (an empty body is ``{}``), within the size and
    nesting limits, without NUL characters (PostgreSQL cannot store them)."""
    limit = settings.ARBOR_TRIGGER_MAX_BYTES
    if len(body) > limit:
        raise BodyTooLarge(MSG_BODY_LARGE.format(limit=limit), details={"field": "body", "limit": limit})
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValidationError(MSG_BODY_JSON.format(error=exc), details={"field": "body"}) from None
    if not isinstance(data, dict):
        raise ValidationError(MSG_BODY_OBJECT, details={"field": "body"})
    depth = settings.ARBOR_LIMITS["max_json_depth"]
    if json_depth(data, depth) > depth:
        raise ValidationError(
            MSG_BODY_DEEP.format(limit=depth), details={"field": "body", "limit": "max_json_depth"}
        )
    if "\\u0000" in text or "\x00" in text:
        raise ValidationError(MSG_BODY_NUL, details={"field": "body"})
    return data


def trigger_fire(*, trigger: Trigger, inputs: dict) -> Tree:
    """Start a run of the trigger's tree with ``inputs`` as its root's inputs (authenticated
    already). Raise TriggerDisabled, AlreadyRunning (409) or any execute error."""
    if not trigger.enabled:
        raise TriggerDisabled(MSG_DISABLED)
    tree = Tree.objects.select_related("owner").get(id=trigger.tree_id)
    if not tree.owner.is_active:
        raise TriggerDisabled(MSG_OWNER_INACTIVE)
    with transaction.atomic():
        tree = control.tree_execute(
            tree=tree, actor=tree.owner, source=SOURCE, root_inputs=inputs, fresh=True
        )
        Trigger.objects.filter(id=trigger.id).update(
            last_fired_at=timezone.now(), fire_count=F("fire_count") + 1
        )
    return tree
