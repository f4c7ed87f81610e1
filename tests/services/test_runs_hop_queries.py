"""The worker's hop (``runs.finish_and_claim``: record an outcome and claim the dependent it made
ready, one transaction) in round trips to the database: what W2 and W6 of the benchmark pay per
task (docs/performance.md, "What bounds W2 and W6"). On PostgreSQL, statements that need nothing
from each other's results go out together (``sql.RoundTrip``); on SQLite each is a local call.

Counted: every ``execute`` inside the transaction (BEGIN and COMMIT come on top, the SAVEPOINTs of
the test's own transaction are left out)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import Attempt, Task
from tasks_app.services import runs

pytestmark = pytest.mark.django_db

# round trips per hop inside the transaction (before sql.RoundTrip: 12 on PostgreSQL; 5 before the
# edges were read with the row lock; 4 before the completion went with the fence). On SQLite every
# statement is a local call: the completion's compare-and-set reads what it matched first (15).
MAX_ROUND_TRIPS = {"postgresql": 3, "sqlite": 15}


def chain(n: int, **extra) -> list[dict]:
    tasks = [{"id": "n0", "name": "n0", **extra}]
    tasks += [
        {"id": f"n{i}", "name": f"n{i}", "parent_id": "n0", "dependencies": [f"n{i - 1}"], **extra}
        for i in range(1, n)
    ]
    return tasks


def statements(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.mark.parametrize(
    "task,slow_limit",
    [({"executor": "noop"}, 32), ({"executor": "sleep", "inputs": {"seconds": 0.005}}, 31)],
    ids=["W2-noop", "W6-sleep"],
)
def test_a_hop_of_a_chain_costs_a_bounded_number_of_round_trips(tm, task, slow_limit):
    tree = tm.create_tree(chain(6, **task))
    tm.execute(tree.id)
    (claim,) = runs.claim_batch(worker="w", limit=64, slow_limit=32)
    for hop in range(1, 5):
        finish = runs.Finish(
            attempt_id=claim.attempt_id,
            task_id=claim.task_id,
            outcome="completed",
            result={"hop": hop},
            has_locks=claim.has_locks,
        )
        with CaptureQueriesContext(connection) as ctx:
            ready, claims = runs.finish_and_claim([finish], worker="w", limit=64, slow_limit=slow_limit)
        sent = statements(ctx)
        assert len(sent) <= MAX_ROUND_TRIPS[connection.vendor], "\n".join(s[:160] for s in sent)
        # the hop did its work: the finished task completed, its dependent claimed with its input
        assert Task.objects.get(id=finish.task_id).status == "completed"
        (claim,) = claims
        assert claim.name == f"n{hop}" and [str(i) for i in ready] == [str(claim.task_id)]
        assert claim.dependency_results == {f"n{hop - 1}": {"hop": hop}}
        attempt = Attempt.objects.get(id=claim.attempt_id)
        assert attempt.outcome == "running" and attempt.run_id is not None
    assert Task.objects.get(id=claim.task_id).status == "in_progress"


@pytest.mark.django_db(transaction=True)
def test_the_hop_sends_its_commit_with_its_last_writes(tm, monkeypatch):
    """On PostgreSQL the hop's ``COMMIT`` goes in the round trip of its last writes (the attempt,
    the claimed task, the events): Django's commit at the end of the block finds the connection
    out of its transaction and sends nothing. What was written is committed (another connection
    sees it) and the after-commit delivery of the events still runs."""
    import psycopg
    from psycopg.pq import TransactionStatus

    from tasks_app.live import events as live_events

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no round trips to save")
    tree = tm.create_tree(chain(3, executor="noop"))
    tm.execute(tree.id)
    (claim,) = runs.claim_batch(worker="w", limit=64, slow_limit=32)
    left_to_commit: list = []
    real_commit = psycopg.Connection.commit

    def commit(self):
        left_to_commit.append(self.pgconn.transaction_status != TransactionStatus.IDLE)
        return real_commit(self)

    delivered: list = []
    monkeypatch.setattr(psycopg.Connection, "commit", commit)
    monkeypatch.setattr(live_events, "_deliver", lambda payloads: delivered.extend(payloads))
    finish = runs.Finish(
        attempt_id=claim.attempt_id, task_id=claim.task_id, outcome="completed", result={"hop": 1}
    )
    ready, claims = runs.finish_and_claim([finish], worker="w", limit=64, slow_limit=32)
    assert left_to_commit == [False]  # the COMMIT had already gone out
    assert not connection.in_atomic_block and connection.connection.info.transaction_status == (
        TransactionStatus.IDLE
    )
    (next_claim,) = claims
    # committed: a second connection sees the completion and the new attempt
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT status FROM tasks_app_task WHERE id = %s", [finish.task_id])
            status = cursor.fetchone()
            cursor.execute("SELECT outcome FROM tasks_app_attempt WHERE id = %s", [next_claim.attempt_id])
            outcome = cursor.fetchone()
    finally:
        other.close()
    assert status == ("completed",) and outcome == ("running",)
    assert {p["kind"] for p in delivered} >= {"task.status", "task.ready"}


@pytest.mark.django_db(transaction=True)
def test_a_hop_inside_an_outer_transaction_leaves_the_commit_to_it(tm):
    """Called inside someone else's transaction, the hop never commits it (a savepoint is no
    place for COMMIT): the outer block can still roll everything back."""
    from django.db import transaction

    tree = tm.create_tree(chain(3, executor="noop"))
    tm.execute(tree.id)
    (claim,) = runs.claim_batch(worker="w", limit=64, slow_limit=32)
    finish = runs.Finish(attempt_id=claim.attempt_id, task_id=claim.task_id, outcome="completed")

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        runs.finish_and_claim([finish], worker="w", limit=64, slow_limit=32)
        assert Task.objects.get(id=finish.task_id).status == "completed"
        raise Undo
    assert Task.objects.get(id=finish.task_id).status == "in_progress"
    assert Attempt.objects.get(id=claim.attempt_id).outcome == "running"
