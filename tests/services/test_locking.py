"""services.locking: a row deleted between the lookup and the lock is NotFound (404), not a 500."""

import uuid

import pytest
from django.db import transaction

from tasks_app.exceptions import NotFound
from tasks_app.services import locking

pytestmark = pytest.mark.django_db


def test_lock_and_reload_return_the_rows_as_they_are_now(run_tree):
    tree, tasks = run_tree([{"id": "r", "name": "r", "executor": "noop"}], execute=False)
    with transaction.atomic():
        assert locking.lock_tree(tree.id) == tree
        assert locking.reload_task(tasks["r"].id).name == "r"


def test_a_row_deleted_meanwhile_is_not_found_naming_it():
    gone = uuid.uuid4()
    with pytest.raises(NotFound) as tree_gone, transaction.atomic():
        locking.lock_tree(gone)
    assert tree_gone.value.details == {"tree": str(gone)} and str(gone) in str(tree_gone.value)
    with pytest.raises(NotFound) as task_gone:
        locking.reload_task(gone)
    assert task_gone.value.details == {"task": str(gone)}
