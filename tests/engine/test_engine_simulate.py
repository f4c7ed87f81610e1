import dataclasses

from tasks_app.engine import UPSTREAM_FAILED, Dep, Graph, Lock, Node, Status, simulate, tree_status

C, F, X = Status.COMPLETED, Status.FAILED, Status.CANCELLED


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


def starts(events):
    return [e[2] for e in events if e[0] == "start"]


def test_simulation_runs_a_tree_to_completion():
    g = build(n("root", "a", "b"), n("a", parent="root"), n("b", "a", parent="root"), n("c", parent="root"))
    result = simulate(g, workers=1, max_duration=1)
    assert starts(result.events) == ["a", "c", "b", "root"]
    assert [e[1] for e in result.events if e[0] == "start"] == [0, 1, 2, 3]
    assert all(node.status is C for node in result.graph.nodes.values())
    assert tree_status(result.graph, started=True) is C


def test_simulation_orders_by_priority_and_ready_time():
    g = build(
        n("low", priority=3), n("high", priority=0), n("mid", priority=1), n("after_high", "high", priority=3)
    )
    result = simulate(g, workers=1, max_duration=1)
    # after_high became ready at t=1, low has been ready since t=0: same priority, earlier ready time first.
    assert starts(result.events) == ["high", "mid", "low", "after_high"]


def test_simulation_applies_failure_fallout():
    g = build(n("a"), n("b", "a"), n("c", "b?"), n("d", "b"), n("e"))
    result = simulate(g, workers=2, fail={"a"}, max_duration=1)
    final = result.graph.nodes
    assert final["a"].status is F
    assert (final["b"].status, final["b"].error_type) == (X, UPSTREAM_FAILED)
    assert final["d"].status is X
    assert final["c"].status is C
    assert final["e"].status is C
    assert ("cancel", 1, "b", "upstream task 'a' failed") in result.events
    assert ("cancel", 1, "d", "upstream task 'b' was cancelled") in result.events
    assert tree_status(result.graph, started=True) is F


def test_simulation_cancels_tasks_blocked_from_the_start():
    g = build(n("a", status=F), n("b", "a"))
    result = simulate(g)
    assert result.events == [("cancel", 0, "b", "upstream task 'a' failed")]


def test_simulation_respects_locks_and_scope():
    g = build(n("w1"), n("w2"), n("r"), n("skip", in_scope=False))
    locks = {"w1": [Lock("db", "write")], "w2": [Lock("db", "write")], "r": [Lock("db", "read")]}
    result = simulate(g, workers=3, locks=locks, max_duration=1)
    assert [e[1:] for e in result.events if e[0] == "start"] == [(0, "w1"), (0, "r"), (1, "w2")]
    assert result.graph.nodes["skip"].status is Status.PENDING


def test_simulation_is_deterministic_per_seed():
    g = build(*(n(f"t{i}") for i in range(6)))
    assert simulate(g, seed=3).events == simulate(g, seed=3).events
