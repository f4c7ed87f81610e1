"""Create an API token for a user and print it once: ``manage.py arbor_token USER [--name NAME]``."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tasks_app.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token (printed once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, **opts):
        try:
            user = get_user_model().objects.get(username=opts["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user '{opts['username']}'") from None
        raw = ApiToken.generate()
        ApiToken.objects.create(user=user, name=opts["name"], key_prefix=raw[:10], digest=ApiToken.hash(raw))
        self.stdout.write(raw)
