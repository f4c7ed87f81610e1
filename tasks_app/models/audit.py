from django.conf import settings
from django.db import models


class AuditKind(models.TextChoices):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOCKED_OUT = "locked_out"
    LOGOUT = "logout"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_REJECTED = "token_rejected"  # a revoked or expired token was presented
    STAFF_ACCESS = "staff_access"  # a staff user read or changed another user's data
    PERMISSION_DENIED = "permission_denied"
    TRIGGER_CREATED = "trigger_created"
    TRIGGER_ROTATED = "trigger_rotated"
    TRIGGER_DELETED = "trigger_deleted"
    TRIGGER_REJECTED = "trigger_rejected"  # a trigger fired with a bad signature or secret


class AuditEvent(models.Model):
    """A security-relevant event, written by ``tasks_app.audit.record`` (docs/security.md).

    Kept apart from the per-tree ``Event`` log: these rows outlive trees and users (``actor`` is
    nulled, ``username`` keeps the name), and failed logins have no user at all.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=30, choices=AuditKind.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    source = models.CharField(max_length=20, blank=True, default="")  # web, api, rpc, admin, ws, cli
    target = models.CharField(max_length=300, blank=True, default="")  # e.g. "tree:<id>", "token:<id>"
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.username}"
