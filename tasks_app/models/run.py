from django.conf import settings
from django.db import models

from tasks_app.engine.states import Status


class RunTrigger(models.TextChoices):
    EXECUTE = "execute", "execute"
    RETRY = "retry", "retry"
    RERUN = "rerun", "re-run from here"
    COPY = "copy", "copy and run"
    SCHEDULE = "schedule", "schedule"
    MARK = "mark", "mark success / skip"
    LEGACY = "legacy", "before run records"


class Run(models.Model):
    """One run of a tree (docs/semantics.md "Run records"): created by the service that starts it
    (execute, retry, re-run from here, copy-and-run), in the same transaction, and finished by the
    write path that sets the tree's terminal status (``scheduling.refresh_tree_status``).

    ``number`` counts 1..n per tree. A retry or re-run while the tree is still in progress joins
    the current run instead of starting one. Attempts point at the run they belong to.
    """

    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="runs")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.EXECUTE)
    source = models.CharField(
        max_length=20,
        blank=True,
        default="",
        help_text="Where it was started from: api, rpc, ui, admin, cli, ...",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_task = models.ForeignKey(
        "tasks_app.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The task a partial run, retry or re-run started at.",
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16,
        choices=[(s.value, s.value.replace("_", " ")) for s in Status],
        default=Status.IN_PROGRESS.value,
    )
    handled_failures = models.PositiveIntegerField(default=0)
    scope = models.PositiveIntegerField(
        default=0, help_text="How many tasks the run (re)scheduled when it started."
    )
    counts = models.JSONField(
        default=dict, blank=True, help_text="At its end: tasks of the run by status, and its attempts."
    )

    class Meta:
        ordering = ["tree_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["tree", "number"], name="run_number_unique_in_tree"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in Status]), name="run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.number} of {self.tree_id}: {self.status}"

    @property
    def duration(self):
        if self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
