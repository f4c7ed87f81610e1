"""Functions used by tests: ``add`` (allow-listed for the python_function executor in test settings)
``wait_for``, the one bounded poll every suite uses to wait for another thread or process, and
``fake_sleep``."""

import threading
import time


def add(a, b):
    return {"sum": a + b}


def wait_for(
    predicate, timeout: float = 30.0, interval: float = 0.05, message: str | None = None, *, reconnect=False
):
    """Call ``predicate`` until it returns something truthy and return that value; after ``timeout``
    seconds fail the test with ``message`` (default: the predicate's docstring). ``reconnect=True``
    drops broken or stale database connections before each try (the fault suite, whose database
    server restarts under it); never inside a test's transaction, which it would end."""
    deadline = time.monotonic() + timeout
    while True:
        if reconnect:
            from django.db import close_old_connections

            close_old_connections()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or (predicate.__doc__ or "").strip() or "condition"
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def fake_sleep(monkeypatch) -> list[float]:
    """Skip and record the ``time.sleep`` calls of the calling thread (a test of a retry loop);
    other threads — an executor thread an earlier test left behind — still sleep for real, and
    their sleeps are not counted."""
    real, me, slept = time.sleep, threading.get_ident(), []

    def sleep(seconds):
        if threading.get_ident() == me:
            slept.append(seconds)
        else:
            real(seconds)

    monkeypatch.setattr("time.sleep", sleep)
    return slept
