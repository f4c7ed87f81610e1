import dataclasses

import pytest

from tasks_app.engine import (
    UPSTREAM_CANCELLED,
    UPSTREAM_FAILED,
    Dep,
    Graph,
    Node,
    Status,
    progress,
    run_outcome,
    status_counts,
    tree_status,
)

P, R, C, F, X = Status.PENDING, Status.IN_PROGRESS, Status.COMPLETED, Status.FAILED, Status.CANCELLED


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


def up(node_id, *deps):
    return n(node_id, *deps, status=X, error_type=UPSTREAM_FAILED)


def upc(node_id, *deps):
    return n(node_id, *deps, status=X, error_type=UPSTREAM_CANCELLED)


def user_x(node_id, *deps):
    return n(node_id, *deps, status=X, error_type="cancelled")


@pytest.mark.parametrize(
    ("nodes", "started", "by_user", "expected"),
    [
        ([n("a"), n("b", "a")], False, False, P),
        ([n("a"), n("b", "a")], True, False, R),
        ([n("a", status=R), n("b", "a")], False, False, R),
        ([n("a", status=C), n("b", "a")], True, False, R),
        ([n("a", status=C), n("b", "a", status=C)], True, False, C),
        ([n("a", status=C), n("b", "a", status=C)], False, False, C),
        ([n("a", status=F), n("b", status=C)], True, False, F),
        ([n("a", status=F), up("b", "a")], True, False, F),
        # the recorded error_type decides: a leaf cancelled as upstream_failed fails the run (trees
        # that ran before upstream_cancelled existed keep that), one cancelled as
        # upstream_cancelled cancels it
        ([n("a", status=X), up("b", "a")], True, False, F),
        ([user_x("a"), upc("b", "a")], True, False, X),
        ([n("a", status=X), n("b", status=C)], True, False, X),
        ([n("a", status=C), n("b", status=C)], True, True, X),
        ([n("a", status=F), n("b", status=X)], True, True, F),
        # a task still running keeps the tree in progress, even after a cancel request
        ([n("a", status=R), n("b", status=X)], True, True, R),
        # pending tasks that can no longer run (fallout not applied yet) do not keep it in progress
        ([n("a", status=F), n("b", "a"), n("c", "b")], True, False, F),
        # a user's cancel whose dependent is a leaf: cancelled, never failed (the fallout is
        # upstream_cancelled)
        ([user_x("a"), n("b", "a")], True, False, X),
        ([user_x("a"), n("b", "a"), n("c", "b")], True, False, X),
        # a failure and a cancel both block the leaf: the failure decides
        ([n("a", status=F), user_x("b"), n("c", "b", "a")], True, False, F),
        # pending with only an optional failed dependency can still run
        ([n("a", status=F), n("b", "a?")], True, False, R),
        # out-of-scope pending tasks do not count
        ([n("a", status=C), n("b", in_scope=False)], True, False, C),
        ([n("a", status=F), n("b", in_scope=False)], True, False, F),
        # only the leaves decide: a failure absorbed by an optional dependency is handled
        ([n("a", status=F), n("b", "a?", status=C), n("c", "a?", "b", status=C)], True, False, C),
        ([n("a", status=F), up("b", "a"), n("c", "b?", status=C)], True, False, C),
        # a task cancelled by a user whose dependents went on without it
        ([n("a", status=C), user_x("b"), n("c", "b?", status=C)], True, False, C),
        # ... but a cancel of the whole run is cancelled
        ([n("a", status=C), user_x("b"), n("c", "b?", status=C)], True, True, X),
        # a required chain a -> b -> c where a fails
        ([n("a", status=F), n("b", "a"), n("c", "b")], True, False, F),
        ([n("a", status=F), up("b", "a"), up("c", "b")], True, False, F),
        # tasks outside the run do not decide
        ([n("a", status=F, in_scope=False), n("b", status=C)], True, False, C),
        # a snapshot without any scope: every task is of the run
        ([n("a", status=F, in_scope=False), n("b", "a?", status=C, in_scope=False)], True, False, C),
        ([n("a", status=F, in_scope=False), n("b", status=C, in_scope=False)], True, False, F),
        ([], False, False, P),
        ([], True, False, C),
    ],
)
def test_tree_status(nodes, started, by_user, expected):
    assert tree_status(build(*nodes), started=started, cancelled_by_user=by_user) is expected


def test_fallback_pattern_counts_one_handled_failure():
    # examples/conditional_fallback.json: primary fails, fallback and final use it optionally
    g = build(
        n("root", "final", status=C),
        n("primary", status=F),
        n("fallback", "primary?", status=C),
        n("final", "primary?", "fallback", status=C),
    )
    outcome = run_outcome(g, started=True)
    assert outcome.status is C
    assert outcome.handled == ("primary",) and outcome.handled_failures == 1
    assert outcome.unhandled == () and outcome.leaves == ("root",)


def test_unhandled_failure_is_not_counted_as_handled():
    g = build(n("a", status=F), n("b", "a"), n("c", "a?", status=C))
    outcome = run_outcome(g, started=True)
    assert outcome.status is F
    assert outcome.handled == () and outcome.unhandled == ("a",)
    assert outcome.leaves == ("b", "c")


def test_status_counts_and_progress():
    g = build(
        n("a", status=C), n("b", status=F), n("c"), n("d", status=R), n("e", status=X), n("f", status=C)
    )
    assert status_counts(g) == {"pending": 1, "in_progress": 1, "completed": 2, "failed": 1, "cancelled": 1}
    assert progress(g) == pytest.approx(4 / 6)
    assert status_counts(Graph()) == {
        "pending": 0,
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert progress(Graph()) == 0.0
    assert progress(build(n("a", status=C))) == 1.0
