"""Hypothesis properties of the run status rule (SEMANTICS "Tree status"): the run's leaves
decide, a user's cancel never fails a run, and a failure absorbed by an optional dependency is a
handled failure.

The oracle is written from the contract's words, independently of ``run_outcome``: tasks are
played in dependency order (a task with a failed or cancelled required dependency never runs;
the rest complete, fail or are cancelled by a user as drawn), then

- the run is ``failed`` iff some failed task reaches a leaf through required edges only,
- else ``cancelled`` iff the tree was cancelled, or some user-cancelled task reaches a leaf
  through required edges only,
- else ``completed``; and the handled failures are the failed tasks that reach no leaf.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks_app.engine import (
    UPSTREAM_CANCELLED,
    UPSTREAM_FAILED,
    Dep,
    Graph,
    Node,
    Status,
    fallout_causes,
    run_outcome,
    topological_order,
)

PROPERTY = settings(max_examples=300, deadline=None)


@st.composite
def played_runs(draw, max_size=12):
    size = draw(st.integers(min_value=1, max_value=max_size))
    outcome_of = {}
    nodes = []
    for i in range(size):
        targets = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        deps = tuple(Dep(f"t{j}", draw(st.booleans())) for j in targets)
        outcome_of[f"t{i}"] = draw(st.sampled_from(["ok", "ok", "fail", "cancel"]))
        nodes.append(Node(f"t{i}", f"t{i}", deps=deps, parent=None if i == 0 else "t0", created=i))
    graph = Graph(nodes)
    # play the run: blocked tasks stay pending (the fallout cancels them), the others end as drawn
    changes = {}
    final = {}
    for node_id in topological_order(graph):
        node = graph.nodes[node_id]
        if any(dep.required and final[dep.id] != Status.COMPLETED for dep in node.deps):
            final[node_id] = Status.CANCELLED  # never ran
            continue
        drawn = outcome_of[node_id]
        status = {"ok": Status.COMPLETED, "fail": Status.FAILED, "cancel": Status.CANCELLED}[drawn]
        final[node_id] = status
        changes[node_id] = {"status": status, "error_type": "cancelled" if drawn == "cancel" else None}
    apply_fallout = draw(st.booleans())  # before or after the services applied the fallout
    played = graph.replace(changes)
    if apply_fallout:
        causes = fallout_causes(played)
        played = played.replace(
            {i: {"status": Status.CANCELLED, "error_type": kind} for i, (_, kind) in causes.items()}
        )
    return played, changes, draw(st.booleans())


def _required_path_to_leaf(graph: Graph, start: str, ran: set[str]) -> bool:
    """Whether a required-edges-only path leads from ``start`` to a leaf, through tasks that
    never ran."""
    stack, seen = [start], {start}
    while stack:
        current = stack.pop()
        if not graph.dependents(current):
            return True
        for dependent in graph.dependents(current):
            required = any(d.id == current and d.required for d in graph.nodes[dependent].deps)
            if required and dependent not in ran and dependent not in seen:
                seen.add(dependent)
                stack.append(dependent)
    return False


@PROPERTY
@given(played_runs())
def test_leaves_decide_and_a_cancel_never_fails_a_run(run):
    graph, changes, cancelled_by_user = run
    ran = set(changes)
    failed = [i for i in graph.ordered_ids() if i in changes and changes[i]["status"] is Status.FAILED]
    user_cancelled = [
        i for i in graph.ordered_ids() if i in changes and changes[i]["status"] is Status.CANCELLED
    ]
    reaching = {i for i in failed if _required_path_to_leaf(graph, i, ran)}
    if reaching:
        expected = Status.FAILED
    elif cancelled_by_user or any(_required_path_to_leaf(graph, i, ran) for i in user_cancelled):
        expected = Status.CANCELLED
    else:
        expected = Status.COMPLETED
    outcome = run_outcome(graph, started=True, cancelled_by_user=cancelled_by_user)
    assert outcome.status is expected
    assert set(outcome.handled) == set(failed) - reaching
    assert set(outcome.unhandled) == reaching
    assert outcome.handled_failures == len(failed) - len(reaching)


@PROPERTY
@given(played_runs())
def test_without_failures_the_run_is_never_failed(run):
    graph, changes, cancelled_by_user = run
    if any(c["status"] is Status.FAILED for c in changes.values()):
        return
    assert run_outcome(graph, started=True, cancelled_by_user=cancelled_by_user).status is not Status.FAILED
    # and every task the cancel blocked is upstream_cancelled, never upstream_failed
    assert all(kind == UPSTREAM_CANCELLED for _, kind in fallout_causes(graph).values())


@PROPERTY
@given(played_runs())
def test_fallout_kind_follows_the_root_cause(run):
    graph, changes, _ = run
    for node_id, (_, kind) in fallout_causes(graph).items():
        # upstream_failed exactly when a failed task reaches it through required edges
        failed_above = _failed_required_ancestor(graph, node_id)
        assert kind == (UPSTREAM_FAILED if failed_above else UPSTREAM_CANCELLED)


def _failed_required_ancestor(graph: Graph, node_id: str) -> bool:
    stack, seen = [node_id], {node_id}
    while stack:
        current = graph.nodes[stack.pop()]
        for dep in current.deps:
            if not dep.required or dep.id in seen:
                continue
            upstream = graph.nodes[dep.id]
            if upstream.status is Status.FAILED:
                return True
            if upstream.status is Status.PENDING or upstream.error_type in (
                UPSTREAM_FAILED,
                UPSTREAM_CANCELLED,
            ):
                seen.add(dep.id)
                stack.append(dep.id)
    return False
