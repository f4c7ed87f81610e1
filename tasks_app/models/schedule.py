import uuid

from django.conf import settings
from django.db import models

KIND_CHOICES = [(k, k) for k in ("once", "interval", "cron", "daily", "weekly", "monthly")]


class Overlap(models.TextChoices):
    SKIP = "skip", "skip the fire while the tree runs"
    QUEUE = "queue", "fire when the current run ends"
    CANCEL = "cancel", "cancel the current run, then fire"


class CatchUp(models.TextChoices):
    SKIP = "skip", "fire once, skip the other missed times"
    RUN = "run", "fire missed times (bounded by ARBOR_SCHEDULE_MAX_CATCH_UP)"


class Schedule(models.Model):
    """A rule that re-runs one tree in place at the times it names (apflow's schedule fields).

    ``next_run_at`` is the next time a tick will fire; it is None once the rule is exhausted
    (``once`` fired, ``max_runs`` reached, ``end_at`` passed). ``enabled = False`` is paused.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules")
    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True, default="")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    expression = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC")
    start_at = models.DateTimeField(null=True, blank=True)
    end_at = models.DateTimeField(null=True, blank=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    run_count = models.PositiveIntegerField(default=0, help_text="Fires that started (or queued) a run.")
    enabled = models.BooleanField(default=True)
    overlap = models.CharField(max_length=8, choices=Overlap.choices, default=Overlap.SKIP)
    max_concurrent = models.PositiveSmallIntegerField(default=1)
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, default=CatchUp.SKIP)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["next_run_at", "created_at"]
        indexes = [
            # the tick's only query when nothing is due: active schedules by next fire time
            models.Index(fields=["next_run_at"], condition=models.Q(enabled=True), name="schedule_due"),
            models.Index(fields=["owner", "next_run_at"], name="schedule_owner_next"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k for k, _ in KIND_CHOICES]), name="schedule_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(end_at__isnull=True)
                | models.Q(start_at__isnull=True)
                | models.Q(end_at__gt=models.F("start_at")),
                name="schedule_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(max_concurrent__gte=1), name="schedule_max_concurrent_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.kind + ' ' + self.expression} → {self.tree_id}"

    @property
    def state(self) -> str:
        if self.next_run_at is None:
            return "finished"
        return "active" if self.enabled else "paused"


class FireStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SKIPPED = "skipped"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error", "could not start"


FIRE_OPEN = (FireStatus.QUEUED.value, FireStatus.RUNNING.value)


class ScheduleFire(models.Model):
    """One due time of a schedule, recorded exactly once (unique on schedule + scheduled_for).

    A fire that started a run names the tree and its run number (``tree.run_count`` after the
    execute); the run-history ``Run`` row can be linked from here once it exists.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="fires")
    tree = models.ForeignKey("tasks_app.Tree", on_delete=models.CASCADE, related_name="schedule_fires")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=FireStatus.choices)
    run_number = models.PositiveIntegerField(null=True, blank=True)
    missed = models.PositiveIntegerField(default=0, help_text="Earlier due times dropped by catch-up.")
    reason = models.CharField(max_length=300, blank=True, default="")
    fired_at = models.DateTimeField(help_text="When the tick recorded this fire.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "scheduled_for"], name="schedule_fire_once"),
            models.CheckConstraint(
                condition=models.Q(status__in=FireStatus.values), name="schedule_fire_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tree", "status"], condition=models.Q(status__in=FIRE_OPEN), name="schedule_fire_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} @ {self.scheduled_for:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class CalendarFeed(models.Model):
    """A user's private iCalendar link (calendar apps cannot send cookies or tokens): the URL
    carries ``key`` (public, to find the row) and a secret stored only as its SHA-256."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    key = models.CharField(max_length=24, unique=True)
    secret_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"calendar feed of {self.user_id}"
