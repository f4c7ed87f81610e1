"""Shared by the claim and reaper tests (test_runs.py, test_reaper.py): a tree whose root runs
last, claiming and finishing attempts by hand with the clock passed in (``now=``)."""

import datetime as dt

import pytest
from django.utils import timezone

from tasks_app.models import Task
from tasks_app.services import runs
from tests.fault_executors import FAULT_EXECUTORS

LEASE = 2.0  # settings_test.ARBOR_LEASE_SECONDS


@pytest.fixture(autouse=True)
def fault_executors(settings):
    settings.ARBOR_EXECUTORS = {**settings.ARBOR_EXECUTORS, **FAULT_EXECUTORS}


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def start(tm, *children):
    """A tree whose root runs last (optional dependencies on every child)."""
    root = t("root", "noop", priority=3, dependencies=[{"id": c["id"], "required": False} for c in children])
    tree = tm.create_tree([root, *(dict(c, parent_id="root") for c in children)])
    tm.execute(tree.id)
    return tree


def get(tree, name) -> Task:
    return Task.objects.get(tree=tree, name=name)


def claim_one(now=None, worker_name="w1"):
    claims = runs.claim_batch(worker=worker_name, limit=1, now=now)
    return claims[0] if claims else None


def claim_named(tree, name, now=None):
    """Claim until the named task is claimed (others are completed on the way)."""
    for _ in range(50):
        c = claim_one(now)
        assert c is not None, f"{name} never became claimable"
        if c.name == name:
            return c
        runs.finish([runs.Finish(attempt_id=c.attempt_id, task_id=c.task_id, outcome="completed")], now=now)
    raise AssertionError(name)


def done(c, outcome="completed", now=None, **kw):
    return runs.finish(
        [runs.Finish(attempt_id=c.attempt_id, task_id=c.task_id, outcome=outcome, **kw)], now=now
    )


def later(seconds):
    return timezone.now() + dt.timedelta(seconds=seconds)
