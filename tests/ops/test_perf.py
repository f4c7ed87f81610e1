"""tasks_app.perf: the GC pause of the bulk paths and the frozen startup heap of the web process."""

import gc
import os
import subprocess
import sys

from tasks_app.perf import gc_paused


def test_gc_paused_nests_and_restores():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_web_entry_point_freezes_its_startup_heap():
    """Loading ``orchestrator_site.asgi`` (what Daphne does) leaves the startup heap — views and
    serializers included — in the permanent generation, so a full collection walks only what
    requests made since (≈ 60 ms → ≈ 0 in a fresh process)."""
    code = (
        "import gc, sys; import orchestrator_site.asgi; "
        "import tasks_app.api.views as v; "
        "print(gc.get_freeze_count(), any(o is v.TreeViewSet for o in gc.get_objects()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings_test"},
    ).stdout.split()
    assert int(out[0]) > 50_000
    assert out[1] == "False"  # the views were imported before the freeze: not tracked any more
