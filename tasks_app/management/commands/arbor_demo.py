"""Create the demo user (credentials printed) and load and start a demo tree (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tasks_app import conf
from tasks_app.models import Tree
from tasks_app.services import trees


class Command(BaseCommand):
    help = "Create the demo user and a demo tree."

    def handle(self, *args, **opts):
        User = get_user_model()
        username = conf.env("ARBOR_DEMO_USER")
        password = conf.env("ARBOR_DEMO_PASSWORD")
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        if not Tree.objects.filter(owner=user).exists():
            for name in ("complex_workflow.json", "conditional_fallback.json", "fan_in.json"):
                tasks = json.loads((Path(settings.BASE_DIR) / "examples" / name).read_text())
                trees.tree_create(owner=user, tasks=tasks, actor=user, source="cli", execute=True)
            self.stdout.write("demo trees loaded and started")
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in as  user: {username}  password: {password}"
                + ("" if created else "  (existing user; password unchanged)")
            )
        )
