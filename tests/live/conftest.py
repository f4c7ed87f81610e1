"""Fixtures for live-update tests (helpers are in utils.py)."""

import pytest


@pytest.fixture
def small_tree(tm):
    """A root with three children: a -> b (b depends on a), c independent."""
    return tm.create_tree(
        [
            {"id": "root", "name": "root", "executor": "noop"},
            {"id": "a", "name": "a", "executor": "noop", "parent_id": "root"},
            {"id": "b", "name": "b", "executor": "noop", "parent_id": "root", "dependencies": ["a"]},
            {"id": "c", "name": "c", "executor": "noop", "parent_id": "root"},
        ]
    )


@pytest.fixture
def live_stack(tmp_path):
    """A real Daphne (free port in 58300-58399) and a real django-q2 cluster against the test
    database; both stopped by pid (a single SIGTERM, then SIGKILL) at the end."""
    from .e2e import LiveStack

    stack = LiveStack(tmp_path)
    yield stack
    stack.stop()
