"""Item 8: writes racing a delete answer 404 or 409, never 500.

Every write looks its tree or task up (the owner check) and then locks the tree row. Two DELETEs,
a PATCH and an execute sent together used to answer 500 in 59 of 100 requests on PostgreSQL:
the row was deleted between the look-up and the lock (``Tree.DoesNotExist``). Real concurrency:
one thread per request, each with its own database connection, released together by a barrier.
On SQLite, writers are serialised by the database lock, so the race is rarer there, but the test
runs (and must pass) on both databases.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tasks_app.models import Task, Tree

from .conftest import t, token_for

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 20
ALLOWED = {200, 201, 204, 404, 409}


def requests_for(tree_id, tasks):
    """The racing requests of one round: ``(method, path, body)``."""
    root, a, b = tasks["root"]["id"], tasks["a"]["id"], tasks["b"]["id"]
    return [
        ("delete", f"/api/v1/trees/{tree_id}/", None),
        ("delete", f"/api/v1/tasks/{root}/", None),
        ("patch", f"/api/v1/tasks/{a}/", {"priority": 1}),
        ("post", f"/api/v1/trees/{tree_id}/execute/", None),
        ("post", f"/api/v1/tasks/{b}/execute/", None),
        ("delete", f"/api/v1/tasks/{b}/", None),
        ("post", f"/api/v1/tasks/{b}/rerun/", None),
        ("post", f"/api/v1/tasks/{a}/copy/", {}),
        ("post", f"/api/v1/tasks/{b}/dependencies/", {"upstream": a, "required": False}),
        ("post", "/tasks", {"jsonrpc": "2.0", "id": 1, "method": "tasks.delete", "params": {"task_id": a}}),
    ]


def race(token, calls):
    """Send ``calls`` at once from one thread each; return ``[(call, status, body)]``."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, method, path, body):
        client = APIClient()
        client.raise_request_exception = False
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait(timeout=30)
            resp = getattr(client, method)(path, body, format="json")
            results[index] = ((method, path), resp.status_code, resp.content[:300])
        except Exception as exc:  # recorded, asserted below
            results[index] = ((method, path), "exception", repr(exc))
        finally:
            connection.close()  # this thread's connection: the test database must be droppable

    threads = [threading.Thread(target=worker, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_concurrent_delete_patch_and_execute_never_answer_500(user, make_tree):
    token = token_for(user)
    seen = set()
    for _ in range(ROUNDS):
        tree, tasks = make_tree(
            [t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])]
        )
        results = race(token, requests_for(tree["id"], tasks))
        bad = [r for r in results if r is None or r[1] not in ALLOWED]
        assert not bad, bad
        seen.update(code for _, code, _ in results)
        # the JSON-RPC call is answered in JSON-RPC's shape, never -32603
        assert all(b"-32603" not in body for _, _, body in results)
    assert 404 in seen  # the race did happen: some requests lost to a delete
    # whatever won, nothing is left half-deleted
    assert not Task.objects.exclude(tree_id__in=Tree.objects.values("id")).exists()
