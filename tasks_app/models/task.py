import uuid

from django.conf import settings
from django.db import models

from tasks_app.engine.states import Status


class TaskStatus(models.TextChoices):
    PENDING = Status.PENDING.value, "pending"
    IN_PROGRESS = Status.IN_PROGRESS.value, "in progress"
    COMPLETED = Status.COMPLETED.value, "completed"
    FAILED = Status.FAILED.value, "failed"
    CANCELLED = Status.CANCELLED.value, "cancelled"


class OriginType(models.TextChoices):
    CREATE = "create"
    COPY = "copy"
    LINK = "link"
    ARCHIVE = "archive"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # no single-column indexes: (tree, name), (tree, position), (tree, status) and the owner
    # indexes below start with these columns
    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="tasks", db_index=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    ref = models.CharField(
        max_length=255, blank=True, default="", help_text="Client-side id given at creation."
    )
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Creation order within the tree.")
    executor = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=2)
    inputs = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    schemas = models.JSONField(default=dict, blank=True)
    resources = models.JSONField(default=list, blank=True)
    timeout = models.FloatField(null=True, blank=True)
    max_retries = models.PositiveIntegerField(null=True, blank=True)
    retry_delay = models.FloatField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    error_type = models.CharField(max_length=64, null=True, blank=True)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    waiting_reason = models.CharField(max_length=300, blank=True, default="")

    # scheduling state (written only by services)
    scheduled = models.BooleanField(default=False, help_text="Part of the tree's current run.")
    ready_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    # the two nullable references below are indexed only where set (Meta.indexes): a new task has
    # neither, and their only searches are by value (the SET_NULL of a deleted attempt or task,
    # PostgreSQL's own foreign-key checks), which a partial index serves
    current_attempt = models.ForeignKey(
        "tasks_app.Attempt",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    cancel_requested = models.BooleanField(default=False)

    original_task = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies", db_index=False
    )
    origin_type = models.CharField(max_length=16, choices=OriginType.choices, default=OriginType.CREATE)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tree_id", "position"]
        # executor grants (docs/security.md): the executors whose class sets ``permission``
        permissions = [
            ("use_shell_command", "Can use the shell_command executor"),
            ("use_http_request", "Can use the http_request executor"),
            ("use_python_function", "Can use the python_function executor"),
        ]
        indexes = [
            # the ready queue: pending + ready, in (priority, became_ready, created) order
            models.Index(
                fields=["priority", "ready_at", "created_at", "position"],
                name="task_ready_queue",
                condition=models.Q(status="pending", ready_at__isnull=False),
            ),
            models.Index(fields=["tree", "status"], name="task_tree_status"),
            # the task list's order (newest first, ties by position then id; read backwards), per
            # owner, per owner and status, and for staff
            models.Index(fields=["owner", "created_at", "position", "id"], name="task_owner_created"),
            models.Index(
                fields=["owner", "status", "created_at", "position", "id"], name="task_owner_status"
            ),
            models.Index(fields=["created_at", "position", "id"], name="task_created"),
            models.Index(fields=["status", "-created_at"], name="task_status_created"),
            models.Index(fields=["executor"], name="task_executor"),
            models.Index(
                fields=["current_attempt"],
                name="task_current_attempt",
                condition=models.Q(current_attempt__isnull=False),
            ),
            models.Index(
                fields=["original_task"],
                name="task_original_task",
                condition=models.Q(original_task__isnull=False),
            ),
            # client ids (apflow's ``id`` given at creation): the owner's newest task with a ref
            models.Index(
                fields=["owner", "ref", "-created_at"], name="task_owner_ref", condition=~models.Q(ref="")
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(priority__lte=3), name="task_priority_0_3"),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0) & models.Q(progress__lte=1), name="task_progress_0_1"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values), name="task_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(origin_type__in=OriginType.values), name="task_origin_type_valid"
            ),
            models.CheckConstraint(condition=~models.Q(parent=models.F("id")), name="task_not_own_parent"),
            models.UniqueConstraint(fields=["tree", "name"], name="task_name_unique_in_tree"),
            models.UniqueConstraint(fields=["tree", "position"], name="task_position_unique_in_tree"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def duration(self):
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None


class Dependency(models.Model):
    """``downstream`` depends on ``upstream``. ``position`` keeps the list order (results merge)."""

    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="dependencies")
    # indexed by dependency_unique_edge, which starts with it
    upstream = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dependent_edges", db_index=False
    )
    downstream = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="dependency_edges")
    required = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["downstream_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="dependency_unique_edge"),
            models.CheckConstraint(
                condition=~models.Q(upstream=models.F("downstream")), name="dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        kind = "requires" if self.required else "optionally uses"
        return f"{self.downstream_id} {kind} {self.upstream_id}"
