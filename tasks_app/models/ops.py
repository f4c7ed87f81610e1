from django.db import models


class ProcessHeartbeat(models.Model):
    """A long-running Arbor process saying "still here" (written by ``tasks_app.ops.health.beat``).

    One row per process (``role``, ``host``, ``pid``). The worker role's supervisor writes it after
    each successful reaper pass, with whether its django-q2 cluster child is alive, so readiness
    can tell "workers alive" and "reaper alive" apart from the database alone. Rows of processes
    that stopped cleanly are deleted; rows of dead ones go stale and are pruned after a day.
    """

    role = models.CharField(max_length=20)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    label = models.CharField(max_length=100, blank=True, default="")
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    info = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["role", "host", "pid"]
        constraints = [
            models.UniqueConstraint(fields=["role", "host", "pid"], name="heartbeat_one_row_per_process"),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.host}:{self.pid}"
