"""Create an API token for a user and print it once: ``manage.py arbor_token USER [--name NAME]
[--days N]``."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tasks_app.services import tokens


class Command(BaseCommand):
    help = "Create an API token (printed once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="lifetime in days (default: ARBOR_TOKEN_DEFAULT_DAYS; 0 = never expires)",
        )

    def handle(self, *args, **opts):
        try:
            user = get_user_model().objects.get(username=opts["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user '{opts['username']}'") from None
        days = opts["days"]
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (never expires) or more")
        token, raw = tokens.token_issue(
            user=user, name=opts["name"], expires_in_days=days or None, never_expires=days == 0, source="cli"
        )
        if token.expires_at:
            self.stderr.write(f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(raw)
