from django.conf import settings
from django.db import models


class Event(models.Model):
    """Append-only log of state changes, one sequence per tree, written in the same transaction
    as the change it records (the outbox that live updates and audits read)."""

    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=40)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(
        max_length=20, blank=True, default="", help_text="api, rpc, ui, admin, cli, worker"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["tree_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["tree", "seq"], name="event_seq_unique_in_tree")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"
