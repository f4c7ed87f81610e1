"""Inbound triggers and outbound notifications (docs/notifications.md).

A :class:`Trigger` lets an outside system start a run of one tree by POSTing JSON to a secret
URL. A :class:`NotificationRule` says who hears about a finished run (webhook or e-mail); each
finished run it matches writes one :class:`Delivery` row, in the transaction that made the
tree's status terminal, which the worker supervisor then sends with retries.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models


class TriggerMode(models.TextChoices):
    HMAC = "hmac", "HMAC-SHA256 signature of the body"
    BEARER = "bearer", "Bearer secret"


class Trigger(models.Model):
    """A per-tree inbound URL: ``POST /api/v1/triggers/{id}/fire/``.

    ``hmac`` mode must keep the secret to recompute signatures: it is stored as given and never
    shown again after creation (or rotation). ``bearer`` mode stores only its SHA-256 digest.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="triggers")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200, blank=True, default="")
    mode = models.CharField(max_length=10, choices=TriggerMode.choices, default=TriggerMode.HMAC)
    secret = models.CharField(max_length=128, blank=True, default="")  # hmac mode only
    secret_digest = models.CharField(max_length=64, blank=True, default="")  # bearer mode only
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    fire_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tree", "-created_at"], name="trigger_tree_created")]

    def __str__(self) -> str:
        return f"{self.name or 'trigger'} ({self.mode}) for {self.tree_id}"

    @staticmethod
    def generate_secret() -> str:
        return "whs_" + secrets.token_urlsafe(32)

    @staticmethod
    def digest(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class NotificationEvent(models.TextChoices):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class NotificationKind(models.TextChoices):
    WEBHOOK = "webhook"
    EMAIL = "email"


class NotificationRule(models.Model):
    """Who hears about a tree's finished runs. Attached to a tree (every run), or to a schedule
    (the runs its fires start).
    ``run_number`` set: a one-shot rule for that run only (JSON-RPC ``webhook_config``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    tree = models.ForeignKey(
        "tasks_app.Tree", null=True, blank=True, on_delete=models.CASCADE, related_name="notification_rules"
    )
    schedule = models.ForeignKey(
        "tasks_app.Schedule",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_rules",
    )
    name = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=list)  # subset of NotificationEvent values
    kind = models.CharField(max_length=10, choices=NotificationKind.choices, default=NotificationKind.WEBHOOK)
    url = models.CharField(max_length=2000, blank=True, default="")
    method = models.CharField(max_length=8, default="POST")
    headers = models.JSONField(default=dict, blank=True)
    timeout = models.FloatField(default=10.0)
    max_attempts = models.PositiveSmallIntegerField(null=True, blank=True)  # None: the setting
    emails = models.JSONField(default=list, blank=True)
    secret = models.CharField(max_length=128, blank=True, default="")  # signs X-Arbor-Signature
    enabled = models.BooleanField(default=True)
    run_number = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tree__isnull=False) | models.Q(schedule__isnull=False),
                name="notificationrule_has_target",
            ),
        ]

    def __str__(self) -> str:
        target = self.url if self.kind == NotificationKind.WEBHOOK else ", ".join(self.emails)
        return f"{self.kind} {target} on {', '.join(self.events)}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One notification of one finished run, sent (and retried) by the worker supervisor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="deliveries")
    tree_id = models.UUIDField(null=True, blank=True, db_index=True)
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.rule_id} ({self.status})"
