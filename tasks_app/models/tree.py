import uuid
from typing import Any

from django.conf import settings
from django.db import models

from tasks_app.engine.states import Status


class Tree(models.Model):
    """One task tree. Its id is the root task's id (apflow's ``task_tree_id``).

    ``last_seq`` is the per-tree event sequence: every state change bumps it in the same
    transaction that writes the change and its Event rows.
    """

    # not columns: set on the instance a service returns (services.trees.tree_create,
    # services.editing; live.snapshot caches the owner's name)
    key_map: dict[str, str]
    written_rows: list[Any]
    written_edges: list[Any]
    answer: Any  # tree_create(answer=...): what the caller answers with, built during the commit
    _owner_username: str

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trees")
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.value.replace("_", " ")) for s in Status],
        default=Status.PENDING.value,
    )
    last_seq = models.BigIntegerField(default=0)
    task_count = models.PositiveIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0, help_text="How many times the tree was executed.")
    cancel_requested = models.BooleanField(default=False)
    handled_failures = models.PositiveIntegerField(
        default=0,
        help_text="Failures of the latest run that an optional dependency handled (they did not fail it).",
    )
    archived = models.BooleanField(default=False)
    original_tree = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="tree_owner_created"),
            models.Index(fields=["status", "-created_at"], name="tree_status_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in Status]), name="tree_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"
