import dataclasses
import math

import pytest

from tasks_app.engine import (
    Dep,
    Graph,
    Node,
    Status,
    blocking_upstream,
    deps_satisfied,
    is_ready,
    newly_ready,
    order_key,
    ready_ids,
    waiting_reason,
)
from tasks_app.exceptions import NotFound

P, R, C, F, X = Status.PENDING, Status.IN_PROGRESS, Status.COMPLETED, Status.FAILED, Status.CANCELLED


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


@pytest.mark.parametrize(
    ("dep_status", "required", "ready"),
    [
        (P, True, False),
        (R, True, False),
        (C, True, True),
        (F, True, False),
        (X, True, False),
        (P, False, False),
        (R, False, False),
        (C, False, True),
        (F, False, True),
        (X, False, True),
    ],
)
def test_rule_1_required_deps_complete_optional_deps_terminal(dep_status, required, ready):
    g = build(n("up", status=dep_status), Node("t", "t", deps=(Dep("up", required),)))
    assert is_ready(g, "t") is ready
    assert deps_satisfied(g, "t") is ready


def test_completed_dependency_with_null_result_counts():
    g = build(n("up", status=C, result=None), n("t", "up"))
    assert is_ready(g, "t") is True


def test_task_without_dependencies_is_ready():
    assert is_ready(build(n("t")), "t") is True


@pytest.mark.parametrize("status", [R, C, F, X])
def test_only_pending_tasks_are_ready(status):
    assert is_ready(build(n("t", status=status)), "t") is False


def test_out_of_scope_task_is_not_ready():
    assert is_ready(build(n("t", in_scope=False)), "t") is False


def test_dependency_outside_the_graph_is_never_satisfied():
    g = build(n("t", "ghost"), n("u", "ghost?"))
    assert is_ready(g, "t") is False
    assert is_ready(g, "u") is False
    assert blocking_upstream(g, "t") is None
    assert waiting_reason(g, "t") == "waiting for 'ghost'"


def test_all_dependencies_must_be_satisfied():
    g = build(n("a", status=C), n("b", status=P), n("c", status=F), n("t", "a", "b?", "c?"))
    assert is_ready(g, "t") is False
    assert is_ready(g.with_status("b", X), "t") is True


def test_backoff_delays_readiness_only_when_now_is_given():
    g = build(n("t", ready_at=100.0))
    assert is_ready(g, "t") is True
    assert is_ready(g, "t", now=99.0) is False
    assert is_ready(g, "t", now=100.0) is True
    assert ready_ids(g, now=50) == []
    assert waiting_reason(g, "t", now=50) == "waiting to retry"
    assert waiting_reason(g, "t", now=150) is None


def test_unknown_task_raises_not_found():
    with pytest.raises(NotFound):
        is_ready(build(n("a")), "ghost")


# -- rule 2: order --------------------------------------------------------------------------------


def test_order_key():
    assert order_key(n("a", priority=1, ready_at=5, created=3)) == (1, 5.0, 3, "a")
    assert order_key(n("a")) == (2, math.inf, 0, "a")


def test_rule_2_ready_tasks_start_by_priority_then_ready_time_then_creation():
    g = build(
        n("late_low", priority=3, ready_at=0),
        n("urgent", priority=0, ready_at=9),
        n("b_second", priority=1, ready_at=2),
        n("a_first", priority=1, ready_at=1),
        n("tie_created_1", priority=2, ready_at=4),
        n("tie_created_2", priority=2, ready_at=4),
        n("never_marked", priority=2),
    )
    assert ready_ids(g) == [
        "urgent",
        "a_first",
        "b_second",
        "tie_created_1",
        "tie_created_2",
        "never_marked",
        "late_low",
    ]


def test_ties_on_everything_fall_back_to_id():
    g = Graph([n("b"), n("a")])
    assert ready_ids(g) == ["a", "b"]


def test_priority_never_overrides_a_dependency():
    g = build(n("slow", priority=3), n("urgent", "slow", priority=0), n("other", priority=2))
    assert ready_ids(g) == ["other", "slow"]


def test_newly_ready_returns_released_dependents_in_queue_order():
    g = build(
        n("a", status=C),
        n("b", status=C),
        n("x", "a", priority=3),
        n("y", "a", "b", priority=1),
        n("z", "a", "w"),
        n("w"),
        n("v", "b", status=R),
    )
    assert newly_ready(g, ["a"]) == ["y", "x"]
    assert newly_ready(g, ["b", "a", "b"]) == ["y", "x"]
    assert newly_ready(g, []) == []


def test_newly_ready_respects_now():
    g = build(n("a", status=C), n("b", "a", ready_at=10))
    assert newly_ready(g, ["a"], now=5) == []
    assert newly_ready(g, ["a"], now=10) == ["b"]


# -- blocking and reasons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "deps", "expected"),
    [
        ({"a": C, "b": C}, ("a", "b"), None),
        ({"a": F, "b": C}, ("a", "b"), "a"),
        ({"a": C, "b": X}, ("a", "b"), "b"),
        ({"a": X, "b": F}, ("a", "b"), "a"),
        ({"a": F, "b": F}, ("a?", "b"), "b"),
        ({"a": F, "b": X}, ("a?", "b?"), None),
        ({"a": P, "b": R}, ("a", "b"), None),
    ],
)
def test_blocking_upstream(statuses, deps, expected):
    g = build(*(n(k, status=v) for k, v in statuses.items()), n("t", *deps))
    assert blocking_upstream(g, "t") == expected


@pytest.mark.parametrize(
    ("nodes", "reason"),
    [
        ([n("a"), n("b", status=R), n("t", "a", "b")], "waiting for 'a', 'b'"),
        ([n("a", status=C), n("b"), n("t", "a", "b?")], "waiting for 'b'"),
        ([n("a", status=F), n("b"), n("t", "b", "a")], "upstream task 'a' failed"),
        ([n("a", status=X), n("t", "a")], "upstream task 'a' was cancelled"),
        ([n("a", status=F), n("t", "a?")], None),
        ([n("a"), n("t", "a", in_scope=False)], "not part of the current run"),
        ([n("t")], None),
        ([n("t", status=R)], None),
        ([n("t", status=C)], None),
    ],
)
def test_waiting_reason(nodes, reason):
    assert waiting_reason(build(*nodes), "t") == reason


def test_waiting_reason_uses_names():
    g = build(Node("1", "fetch"), Node("2", "parse", deps=("1",)))
    assert waiting_reason(g, "2") == "waiting for 'fetch'"
