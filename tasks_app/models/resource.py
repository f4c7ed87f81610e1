from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tasks_app.engine.resources import is_namespaced


class LockMode(models.TextChoices):
    READ = "read"
    WRITE = "write"
    EXCLUSIVE = "exclusive"


def validate_shared_key(key: str) -> None:
    if ":" not in key:
        raise ValidationError("a resource key is 'type:identifier'")
    if is_namespaced(key):
        raise ValidationError("'u<number>/…' is the form of a per-user lock key; choose another type")


class ResourcePool(models.Model):
    """A shared resource declared by staff (``type:identifier``), with its capacity: at most N
    holders at once, across every user it is granted to.

    A resource nobody declared is private: each user locks it in their own namespace
    (``engine.resources.lock_key``). A declared one is locked under its plain key by every user
    it is granted to (``everyone``, ``users``, or a member of ``groups``); naming it without a
    grant is refused (docs/security.md).
    """

    key = models.CharField(max_length=300, unique=True, validators=[validate_shared_key])
    capacity = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=300, blank=True, default="")
    everyone = models.BooleanField(default=False, help_text="Granted to every user.")
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="shared_resources",
        help_text="Users granted this resource.",
    )
    groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="shared_resources",
        help_text="Groups whose members are granted this resource.",
    )

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="pool_capacity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.key} ×{self.capacity}"


class ResourceLock(models.Model):
    """A lock held by a live attempt. Rows are deleted in the same transaction that ends the
    attempt (however it ends), so a lock never outlives its attempt."""

    key = models.CharField(max_length=300)
    mode = models.CharField(max_length=10, choices=LockMode.choices)
    attempt = models.ForeignKey("tasks_app.Attempt", on_delete=models.CASCADE, related_name="locks")
    task = models.ForeignKey("tasks_app.Task", on_delete=models.CASCADE, related_name="locks")
    acquired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key", "acquired_at"]
        indexes = [models.Index(fields=["key"], name="lock_key")]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "key"], name="lock_once_per_attempt"),
            models.CheckConstraint(condition=models.Q(mode__in=LockMode.values), name="lock_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} {self.key}"
