"""PostgreSQL indexes for the task list's ``?tag=`` and ``?search=`` (docs/performance.md "Scale"):
without them both count every task row of the reader (a parallel sequential scan, 110-130 ms at
1,000,000 tasks). SQLite has neither operator class: nothing to do there.

* ``task_tags_gin``: ``tags @> '["x"]'`` (api.filters.TaskFilter.filter_tag), ``jsonb_path_ops``.
* ``task_name_grams``: a trigram index (``pg_trgm``) of the upper-cased name with every character
  doubled (``regexp_replace``): a search term of two characters, too short for a trigram, becomes
  four ("42" -> "4422"), so every term of two or more characters can use it
  (api.filters.NameSearchFilter adds the indexable condition next to the exact one).

``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may create it
(docs/deployment.md). Plain ``CREATE INDEX`` (not CONCURRENTLY, migrations run in a transaction):
writes to the task table wait while they build and the table is analysed: about 2 s per
1,000,000 tasks.
"""

from django.db import migrations

# must stay the expression api.filters.NameGrams renders, or the planner cannot use the index
NAME_GRAMS = r"regexp_replace(upper((name)::text), '(.)', '\1\1', 'g')"

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS task_tags_gin ON tasks_app_task USING gin (tags jsonb_path_ops)",
    f"CREATE INDEX IF NOT EXISTS task_name_grams ON tasks_app_task USING gin (({NAME_GRAMS}) gin_trgm_ops)",
    # the statistics of the new index expression, which api.filters.NameSearchFilter's estimates
    # read (without them the planner guesses every term rare); autovacuum keeps them afterwards
    "ANALYZE tasks_app_task",
]
BACKWARD = ["DROP INDEX IF EXISTS task_name_grams", "DROP INDEX IF EXISTS task_tags_gin"]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("tasks_app", "0014_perf_create_partial_reference_indexes")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
