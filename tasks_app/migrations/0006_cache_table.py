"""The database cache table (settings.CACHES when DATABASE_URL is set and REDIS_URL is not): DRF's
throttle counters shared by all web processes. ``createcachetable`` is idempotent and does nothing
for a cache of another kind, so ``migrate`` is the only deployment step."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("tasks_app", "0005_executor_grants")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
