from django.db import models


class LockMode(models.TextChoices):
    READ = "read"
    WRITE = "write"
    EXCLUSIVE = "exclusive"


class ResourcePool(models.Model):
    """Optional capacity of a named resource (``type:identifier``): at most N holders at once."""

    key = models.CharField(max_length=300, unique=True)
    capacity = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["key"]
        constraints = [models.CheckConstraint(condition=models.Q(capacity__gte=1), name="pool_capacity_positive")]

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
