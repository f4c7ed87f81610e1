from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """Stored response of a write made with an ``Idempotency-Key`` header (kept 24 h)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key", "endpoint"], name="idempotency_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"
