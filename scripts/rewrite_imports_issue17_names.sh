#!/usr/bin/env bash
# Rewrite references to the modules moved on branch names-cycles (issue #17 item 4).
# Run from the repository root after merging code written against the old paths:
#     bash scripts/rewrite_imports_issue17_names.sh            # every tracked *.py *.md *.toml *.txt *.cfg *.ini *.sh Procfile Makefile
#     bash scripts/rewrite_imports_issue17_names.sh FILE...    # only these files
# Idempotent. Part 1 rewrites absolute dotted paths and file paths anywhere; part 2 rewrites the
# relative imports inside the packages the modules left (services/, live/, api/).
set -euo pipefail
if [ $# -gt 0 ]; then files=("$@"); else
  mapfile -t files < <(git ls-files '*.py' '*.md' '*.toml' '*.txt' '*.cfg' '*.ini' '*.sh' '*.yml' '*.yaml' 'Procfile' 'Makefile' | grep -v -e '^tasks_app/migrations/' -e 'rewrite_imports_issue17')
fi
READS='EVENT_FIELDS|TERMINAL_VALUES|RESULT_PREVIEW_BYTES|DASHBOARD_KINDS|TASK_FIELDS|event_payload|consistent_reads|max_event_id|tail_events|tree_events_after|tree_head|root_outcome|run_start_seq|readable_tree|sees_all_trees|fresh_user|_preview|_iso|tree_info|tree_snapshot|tree_check|_zero_counts|_count_rows|status_counts|dashboard_snapshot|tree_summary|event_ids_between'
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  sed -i -E \
    -e 's/tasks_app\.api\.authentication\b/tasks_app.auth.bearer/g' \
    -e 's#tasks_app/api/authentication\.py#tasks_app/auth/bearer.py#g' \
    -e 's/from tasks_app\.api import authentication\b/from tasks_app.auth import bearer/g' \
    -e 's/tasks_app\.live\.middleware\b/tasks_app.auth.websocket/g' \
    -e 's#tasks_app/live/middleware\.py#tasks_app/auth/websocket.py#g' \
    -e 's/tasks_app\.api\.limits\b/tasks_app.input_limits/g' \
    -e 's#tasks_app/api/limits\.py#tasks_app/input_limits.py#g' \
    -e 's/from tasks_app\.api import limits\b/from tasks_app import input_limits/g' \
    -e 's/tasks_app\.ops\.middleware\b/tasks_app.ops.probe_middleware/g' \
    -e 's#tasks_app/ops/middleware\.py#tasks_app/ops/probe_middleware.py#g' \
    -e 's/tasks_app\.middleware\b/tasks_app.ops.db_unavailable/g' \
    -e 's#tasks_app/middleware\.py#tasks_app/ops/db_unavailable.py#g' \
    -e 's/tasks_app\.services\.events\b/tasks_app.services.event_log/g' \
    -e 's#tasks_app/services/events\.py#tasks_app/services/event_log.py#g' \
    -e 's/tasks_app\.live\.snapshot\b/tasks_app.live.reads/g' \
    -e 's#tasks_app/live/snapshot\.py#tasks_app/live/reads.py#g' \
    -e 's/^(\s*)from tasks_app\.live import snapshot$/\1from tasks_app.live import reads/' \
    -e 's/^(\s*)from tasks_app\.live import delivery, snapshot$/\1from tasks_app.live import delivery, reads/' \
    -e 's/tasks_app\.services\.worker\b/tasks_app.worker.loop/g' \
    -e 's#tasks_app/services/worker\.py#tasks_app/worker/loop.py#g' \
    -e 's/\bservices\.worker\.(\w)/worker.loop.\1/g' \
    -e 's/^(\s*)from tasks_app\.services import worker$/\1from tasks_app.worker import loop as worker/' \
    -e 's/^(\s*)from tasks_app\.services import (.*), worker$/\1from tasks_app.services import \2\n\1from tasks_app.worker import loop as worker/' \
    -e 's/^(\s*)from tasks_app\.services import (.*)\bworker, (.*)$/\1from tasks_app.services import \2\3\n\1from tasks_app.worker import loop as worker/' \
    "$f"
  case "$f" in
    tasks_app/services/*.py)
      sed -i -E \
        -e 's/^(\s*)from \.events import /\1from .event_log import /' \
        -e 's/^(\s*)from \. import (.*)\bevents\b/\1from . import \2event_log/' \
        -e 's/^(\s*)from \.worker import /\1from tasks_app.worker.loop import /' "$f" ;;
    tasks_app/live/*.py)
      sed -i -E \
        -e 's/^(\s*)from \.middleware import /\1from tasks_app.auth.websocket import /' \
        -e 's/^(\s*)from \.snapshot import /\1from .reads import /' \
        -e 's/^(\s*)from \. import snapshot$/\1from . import reads/' \
        -e 's/^(\s*)from \. import delivery, snapshot$/\1from . import delivery, reads/' "$f" ;;
    tasks_app/api/*.py|tasks_app/api/*/*.py)
      sed -i -E \
        -e 's/^(\s*)from \.+limits import /\1from tasks_app.input_limits import /' \
        -e 's/^(\s*)from \.+authentication import /\1from tasks_app.auth.bearer import /' "$f" ;;
    tasks_app/worker/loop.py)
      sed -i -E -e 's/^from \. import dispatch, runs$/from tasks_app.services import dispatch, runs/' "$f" ;;
  esac
  # module attribute uses of the renamed live.snapshot module (files that import it as a module)
  if grep -qE '^\s*from (tasks_app\.live|\.) import (delivery, )?reads$' "$f"; then
    sed -i -E "s/\bsnapshot\.($READS)\b/reads.\1/g" "$f"
  fi
done
# `from . import serializers as s` (api/views.py, tests/api/test_misc_api.py): the module by its name
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if grep -qE '^\s*from (\.|tasks_app\.api) import serializers as s$' "$f"; then
    sed -i -E \
      -e 's/^(\s*)from (\.|tasks_app\.api) import serializers as s$/\1from \2 import serializers/' \
      -e "s/(^|[^A-Za-z0-9_'.\"])s\.([A-Za-z_][A-Za-z0-9_]*)/\1serializers.\2/g" "$f"
  fi
done
# code merged into api/views.py that still says s.X (its import already reads `from . import serializers`)
for f in "${files[@]}"; do
  if [ "$f" = tasks_app/api/views.py ] && [ -f "$f" ] && grep -qE '^from \. import serializers$' "$f"; then
    sed -i -E "s/(^|[^A-Za-z0-9_'.\"])s\.([A-Za-z_][A-Za-z0-9_]*)/\1serializers.\2/g" "$f"
  fi
done
