"""Process-level helpers for the few bulk paths (creating, validating and rendering whole trees)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for the duration of a bulk operation.

    Creating a 10,000-task tree allocates a few hundred thousand short-lived, acyclic containers
    (the parsed body, drafts, rows, the rendered response). Reference counting frees them; the
    cyclic collector only finds nothing, but the allocation count triggers it hundreds of times,
    including full collections that walk the whole heap of a Django process: 200-350 ms of a
    request measured with ``gc.callbacks``. Usable as a decorator; nests; the collector is
    re-enabled on exit only if this call disabled it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_startup_heap() -> None:
    """Move every object alive now (settings, URL patterns, models, serializers, the imported
    libraries) to the collector's permanent generation (``gc.freeze``), so that a full collection
    walks only what requests created since.

    Called once by the web entry point (``orchestrator_site.asgi``) when the application is built.
    A full collection of the web process walked ≈ 140,000 startup objects, ≈ 60 ms; a 10,000-task
    create allocates enough containers to set one off after its GC pause (docs/performance.md,
    "Creating 10,000 tasks (round 4)"). Objects frozen here are never collected, which is what
    they are for: they live as long as the process.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 -- import the URLconf, the views and serializers now
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()


_helpers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="arbor-overlap")


def in_background(fn: Callable[..., T], *args) -> Future[T]:
    """Run ``fn(*args)`` on a helper thread while this one waits for something that releases the
    GIL (a commit: libpq waits on its socket without the GIL); ``.result()`` returns its value or
    raises its exception. ``fn`` must not touch the database: Django's connections are per thread,
    and the helper's would be another session, outside the caller's transaction."""
    return _helpers.submit(fn, *args)
