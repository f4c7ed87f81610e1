"""Run one scheduler tick and print what it did (debugging; a cron fallback where no
``arbor_worker`` runs). Safe next to running workers: each due time fires once."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from tasks_app.services import schedules


class Command(BaseCommand):
    help = "Fire the schedules that are due now (one bounded scheduler tick)."

    def handle(self, *args, **opts):
        settled = schedules.settle_fires()
        fired = schedules.fire_due()
        self.stdout.write(f"fired {fired} due time(s); settled {settled} tree(s) with open fires")
