import uuid

from django.db import models

from tasks_app.engine.states import Outcome


class AttemptOutcome(models.TextChoices):
    RUNNING = Outcome.RUNNING.value
    COMPLETED = Outcome.COMPLETED.value
    FAILED = Outcome.FAILED.value
    TIMED_OUT = Outcome.TIMED_OUT.value
    WORKER_LOST = Outcome.WORKER_LOST.value
    CANCELLED = Outcome.CANCELLED.value
    INTERRUPTED = Outcome.INTERRUPTED.value


class Attempt(models.Model):
    """One execution attempt of a task. Its id is the fencing token: every write the attempt
    makes is ``... WHERE id = <attempt> AND outcome = 'running'``, so a stale worker can never
    overwrite a newer attempt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey("tasks_app.Task", on_delete=models.CASCADE, related_name="attempts")
    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="attempts")
    # the run it belongs to; null for attempts recorded before runs were (0009 gives every tree
    # that had run a "legacy" run holding them)
    run = models.ForeignKey(
        "tasks_app.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    executor = models.CharField(max_length=100)
    effective_inputs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    error_type = models.CharField(max_length=64, null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    logs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["task_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["task", "number"], name="attempt_number_unique"),
            # at most one live attempt per task, enforced by the database
            models.UniqueConstraint(
                fields=["task"], condition=models.Q(outcome="running"), name="attempt_one_running_per_task"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=AttemptOutcome.values), name="attempt_outcome_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["lease_expires_at"], name="attempt_live_lease", condition=models.Q(outcome="running")
            ),
            models.Index(fields=["tree", "started_at"], name="attempt_tree_started"),
            # recent-window metrics (tasks_app/ops/metrics.py): claim latency, durations by outcome
            models.Index(fields=["started_at"], name="attempt_started"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.task_id}: {self.outcome}"

    @property
    def duration(self):
        if self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
