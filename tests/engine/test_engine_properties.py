"""Hypothesis properties of the engine over random task trees."""

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks_app.engine import (
    MODES,
    TERMINAL,
    UPSTREAM_CANCELLED,
    UPSTREAM_ERROR_TYPES,
    UPSTREAM_FAILED,
    Dep,
    Graph,
    Lock,
    Node,
    SpecTask,
    Status,
    compatible,
    descendants,
    failure_fallout,
    fallout_causes,
    find_cycle,
    is_ready,
    mark_set,
    plan_copy,
    ready_ids,
    remap,
    retry_set,
    run_scope,
    simulate,
    subtree,
    topological_order,
    tree_status,
    validate_tree,
)
from tasks_app.engine.propagation import upstream_kind
from tasks_app.exceptions import DependencyCycle, InvalidTransition

PROPERTY = settings(max_examples=200, deadline=None)


@st.composite
def trees(draw, *, max_size=12, forest=False, statuses=False):
    """A random tree (or forest): parents point to earlier tasks, dependencies too (so no
    cycles), creation order is a random permutation, priorities and required flags random."""
    size = draw(st.integers(min_value=1, max_value=max_size))
    created = draw(st.permutations(range(size)))
    nodes = []
    for i in range(size):
        if i == 0:
            parent = None
        elif forest:
            parent = draw(st.one_of(st.none(), st.integers(0, i - 1)))
        else:
            parent = draw(st.integers(0, i - 1))
        targets = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        deps = tuple(Dep(f"t{j}", draw(st.booleans())) for j in targets)
        status = draw(st.sampled_from(list(Status))) if statuses else Status.PENDING
        error_type = UPSTREAM_FAILED if status is Status.CANCELLED and draw(st.booleans()) else None
        nodes.append(
            Node(
                f"t{i}",
                f"name{i}",
                status=status,
                priority=draw(st.integers(0, 3)),
                deps=deps,
                parent=None if parent is None else f"t{parent}",
                created=created[i],
                error_type=error_type,
                in_scope=draw(st.booleans()) if statuses else True,
            )
        )
    return Graph(nodes)


# -- graph algorithms -----------------------------------------------------------------------------


def _reaches(edges, start, goal):
    seen, stack = set(), list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return False


@PROPERTY
@given(st.dictionaries(st.integers(0, 7), st.lists(st.integers(0, 7), max_size=3), max_size=8))
def test_find_cycle_finds_a_real_cycle_exactly_when_one_exists(raw):
    edges = {str(k): [str(v) for v in vs] for k, vs in raw.items()}
    cycle = find_cycle(edges)
    has_cycle = any(_reaches(edges, node, node) for node in edges)
    assert (cycle is not None) is has_cycle
    if cycle:
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1
        assert all(b in edges[a] for a, b in zip(cycle, cycle[1:], strict=False))


@PROPERTY
@given(trees(forest=True))
def test_topological_order_is_a_permutation_with_dependencies_first(graph):
    order = topological_order(graph)
    assert sorted(order) == sorted(graph.nodes)
    position = {node_id: i for i, node_id in enumerate(order)}
    for node in graph.nodes.values():
        assert all(position[dep.id] < position[node.id] for dep in node.deps)


# -- validation -----------------------------------------------------------------------------------


def _specs(graph):
    return [
        SpecTask(node.id, node.name, node.parent, tuple((dep.id, dep.required) for dep in node.deps))
        for node in graph.nodes.values()
    ]


@PROPERTY
@given(trees(), st.data())
def test_validate_tree_accepts_random_trees_and_rejects_closing_cycles(graph, data):
    specs = _specs(graph)
    order = validate_tree(specs)
    position = {key: i for i, key in enumerate(order)}
    assert sorted(order) == sorted(graph.nodes)
    assert all(position[dep] < position[spec.key] for spec in specs for dep, _ in spec.deps)

    # add one edge from an early task to a later one (which may close a cycle)
    source = data.draw(st.integers(0, len(specs) - 1))
    target = data.draw(st.integers(0, len(specs) - 1))
    changed = list(specs)
    spec = changed[source]
    changed[source] = SpecTask(spec.key, spec.name, spec.parent, (*spec.deps, (f"t{target}", True)))
    edges = {s.key: [dep for dep, _ in s.deps] for s in changed}
    try:
        validate_tree(changed)
    except DependencyCycle as error:
        assert _reaches(edges, f"t{source}", f"t{source}")
        names = {s.name: s.key for s in changed}
        path = [names[name] for name in error.cycle]
        assert path[0] == path[-1]
        assert all(b in edges[a] for a, b in zip(path, path[1:], strict=False))
    else:
        assert not _reaches(edges, f"t{source}", f"t{source}")


# -- readiness and fallout ------------------------------------------------------------------------


@PROPERTY
@given(trees(forest=True, statuses=True))
def test_ready_tasks_have_every_dependency_satisfied(graph):
    for node_id in ready_ids(graph):
        node = graph.nodes[node_id]
        assert node.status is Status.PENDING and node.in_scope
        for dep in node.deps:
            upstream = graph.nodes[dep.id].status
            assert upstream is Status.COMPLETED if dep.required else upstream in TERMINAL


@PROPERTY
@given(trees(forest=True, statuses=True))
def test_failure_fallout_is_exactly_the_blocked_closure(graph):
    fallout = failure_fallout(graph)
    blocked = {
        node_id for node_id, node in graph.nodes.items() if node.status in (Status.FAILED, Status.CANCELLED)
    }
    blocked |= set(fallout)
    for node_id, node in graph.nodes.items():
        has_blocked_required = any(dep.required and dep.id in blocked for dep in node.deps)
        candidate = node.status is Status.PENDING and node.in_scope
        assert (node_id in fallout) is (candidate and has_blocked_required)
    causes = fallout_causes(graph)
    for node_id, message in fallout.items():
        # the message names the first blocking required dependency of the root-cause kind: a
        # failure wins over a cancel (SEMANTICS "Failure, cancellation, retries")
        blockers = [dep.id for dep in graph.nodes[node_id].deps if dep.required and dep.id in blocked]

        def kind(b):
            return (
                causes[b][1]
                if b in causes
                else upstream_kind(graph.nodes[b].status, graph.nodes[b].error_type)
            )

        failed = [b for b in blockers if kind(b) == UPSTREAM_FAILED]
        first = failed[0] if failed else blockers[0]
        assert f"'{graph.name(first)}'" in message
        assert causes[node_id] == (message, UPSTREAM_FAILED if failed else UPSTREAM_CANCELLED)
    # incremental: seeding with the failed/cancelled tasks gives the same answer
    assert failure_fallout(graph, sorted(blocked - set(fallout))) == fallout


@PROPERTY
@given(trees(forest=True, statuses=True), st.data())
def test_retry_set_is_the_task_and_its_upstream_failed_descendants(graph, data):
    node_id = data.draw(st.sampled_from(sorted(graph.nodes)))
    node = graph.nodes[node_id]
    try:
        selected = retry_set(graph, node_id)
    except InvalidTransition:
        assert node.status not in (Status.FAILED, Status.CANCELLED) or node.error_type == UPSTREAM_FAILED
        return
    assert selected[0] == node_id
    below = descendants(graph, node_id)
    for other in selected[1:]:
        assert other in below
        assert graph.nodes[other].status is Status.CANCELLED
        assert graph.nodes[other].error_type == UPSTREAM_FAILED


@PROPERTY
@given(trees(forest=True, statuses=True), st.data())
def test_mark_set_releases_exactly_what_the_task_alone_blocked(graph, data):
    node_id = data.draw(st.sampled_from(sorted(graph.nodes)))
    node = graph.nodes[node_id]
    try:
        selected = mark_set(graph, node_id)
    except InvalidTransition:
        assert node.status in (Status.IN_PROGRESS, Status.COMPLETED)
        return
    assert node.status in (Status.PENDING, Status.FAILED, Status.CANCELLED)
    assert selected[0] == node_id and len(set(selected)) == len(selected)
    released = set(selected[1:])
    below = descendants(graph, node_id)
    for other in released:
        assert other in below
        assert graph.nodes[other].status is Status.CANCELLED
        assert graph.nodes[other].error_type in UPSTREAM_ERROR_TYPES
    after = graph.replace(
        {
            node_id: {"status": Status.COMPLETED, "error_type": None},
            **{i: {"status": Status.PENDING, "error_type": None} for i in released},
        }
    )
    blocking = (Status.FAILED, Status.CANCELLED)

    def blockers(g, i):
        return [
            d.id for d in g.nodes[i].deps if d.required and d.id in g and g.nodes[d.id].status in blocking
        ]

    for other in released:  # nothing failed or cancelled still blocks a released task
        assert not blockers(after, other)
    for other in below - released:  # an upstream-cancelled task left alone is still blocked
        current = graph.nodes[other]
        if (
            current.status is Status.CANCELLED
            and current.error_type in UPSTREAM_ERROR_TYPES
            and blockers(graph, other)
        ):
            assert blockers(after, other)


# -- the scheduler loop ---------------------------------------------------------------------------


def _check_run(graph, result, workers, fail, locks=None, capacity=None):
    events = result.events
    final = result.graph
    start, end = {}, {}
    for event in events:
        if event[0] == "start":
            # (2) each task starts at most once
            assert event[2] not in start
            start[event[2]] = event[1]
        else:
            end[event[2]] = event[1]

    # (1) no task starts before its required deps completed and optional deps are terminal
    for node_id, t in start.items():
        for dep in graph.nodes[node_id].deps:
            assert dep.id in end and end[dep.id] <= t
            if dep.required:
                assert final.nodes[dep.id].status is Status.COMPLETED

    # (3) the run terminates with every in-scope task terminal and a terminal tree status;
    # tasks outside the run's scope are never touched
    for node in final.nodes.values():
        assert node.status in TERMINAL if node.in_scope else node.status is Status.PENDING
    assert tree_status(final, started=True) in TERMINAL

    # (4) at each moment, the tasks started have the lowest order keys among the ready ones, and a
    # ready task is left waiting only while every worker is busy (without locks)
    def was_ready(node_id, t):
        node = graph.nodes[node_id]
        not_started_before = start.get(node_id, t) >= t
        not_cancelled = node_id in start or end.get(node_id, t + 1) > t
        deps_done = all(dep.id in end and end[dep.id] <= t for dep in node.deps)
        required_ok = all(final.nodes[dep.id].status is Status.COMPLETED for dep in node.deps if dep.required)
        return node.in_scope and not_started_before and not_cancelled and deps_done and required_ok

    def key(node_id):
        node = graph.nodes[node_id]
        return (node.priority, max((end[dep.id] for dep in node.deps), default=0), node.created, node_id)

    moments = sorted(set(start.values()))
    for t in moments:
        ready_now = {node_id for node_id in graph.nodes if was_ready(node_id, t)}
        started_now = {node_id for node_id, s in start.items() if s == t}
        assert started_now <= ready_now
        waiting = ready_now - started_now
        if waiting and not locks:
            busy = sum(1 for node_id, s in start.items() if s <= t < end[node_id])
            assert busy == workers
            assert max(map(key, started_now)) < min(map(key, waiting))

    # (5) only tasks with a failed/cancelled required path are cancelled; failures are exactly `fail`
    for node_id, node in final.nodes.items():
        if not node.in_scope:
            continue
        blocked = any(
            dep.required and final.nodes[dep.id].status in (Status.FAILED, Status.CANCELLED)
            for dep in graph.nodes[node_id].deps
        )
        if blocked:
            assert node.status is Status.CANCELLED and node.error_type == UPSTREAM_FAILED
            assert node_id not in start
        else:
            assert node.status is (Status.FAILED if node_id in fail else Status.COMPLETED)

    # locks: holders of a resource are pairwise compatible and within capacity at every moment
    if locks:
        for t in moments:
            holding = defaultdict(list)
            for node_id, s in start.items():
                if s <= t < end[node_id]:
                    for key, mode in dict(locks.get(node_id, ())).items():
                        holding[key].append(mode)
            for key, modes in holding.items():
                for i, a in enumerate(modes):
                    assert all(compatible(a, b) for b in modes[i + 1 :])
                assert len(modes) <= (capacity or {}).get(key, len(modes))


@PROPERTY
@given(trees(max_size=14), st.data())
def test_simulated_runs_obey_the_contract(graph, data):
    target = data.draw(st.sampled_from(sorted(graph.nodes)))
    scope = run_scope(graph, target)
    graph = graph.replace({node_id: {"in_scope": node_id in scope} for node_id in graph.nodes})
    fail = set(data.draw(st.lists(st.sampled_from(sorted(graph.nodes)), max_size=4)))
    workers = data.draw(st.integers(1, 4))
    result = simulate(graph, workers=workers, fail=fail, seed=data.draw(st.integers(0, 1000)))
    _check_run(graph, result, workers, fail)


@PROPERTY
@given(trees(max_size=10), st.data())
def test_simulated_runs_with_locks_never_share_conflicting_resources(graph, data):
    keys = ["db:a", "db:b"]
    locks = {
        node_id: [
            Lock(key, data.draw(st.sampled_from(MODES)))
            for key in data.draw(st.lists(st.sampled_from(keys), max_size=2))
        ]
        for node_id in graph.nodes
    }
    capacity = {"db:a": data.draw(st.integers(1, 3))}
    fail = set(data.draw(st.lists(st.sampled_from(sorted(graph.nodes)), max_size=2)))
    result = simulate(
        graph, workers=3, fail=fail, locks=locks, capacity=capacity, seed=data.draw(st.integers(0, 99))
    )
    _check_run(graph, result, 3, fail, locks=locks, capacity=capacity)


# -- copies ---------------------------------------------------------------------------------------


@PROPERTY
@given(trees(max_size=12, statuses=True), st.data())
def test_copy_plans_are_one_consistent_tree(graph, data):
    task_id = data.draw(st.sampled_from(sorted(graph.nodes)))
    mode = data.draw(st.sampled_from(["minimal", "full", "custom"]))
    custom = data.draw(st.lists(st.sampled_from(sorted(graph.nodes)), min_size=1, max_size=3))
    plan = plan_copy(
        graph, task_id, mode=mode, custom_ids=custom, custom_include_children=data.draw(st.booleans())
    )
    ids = set(plan.ids)
    assert len(ids) == len(plan.ids)
    assert plan.root in ids

    # dependencies before dependents, as far as both are copied
    position = {node_id: i for i, node_id in enumerate(plan.ids)}
    for node_id in plan.ids:
        assert all(position[dep.id] < position[node_id] for dep in graph.nodes[node_id].deps if dep.id in ids)

    if mode == "minimal":
        must = subtree(graph, task_id)
        for node_id in list(must):
            must |= descendants(graph, node_id)
        assert must <= ids
        if ids <= subtree(graph, task_id):
            assert plan.root == task_id
    if mode == "full":
        assert ids == set(graph.nodes)
        rerun = subtree(graph, task_id)
        for node_id in list(rerun):
            rerun |= descendants(graph, node_id)
        assert plan.carry.isdisjoint(rerun)
        assert all(graph.nodes[node_id].status is Status.COMPLETED for node_id in plan.carry)
    else:
        assert plan.carry == frozenset()
    if mode == "custom":
        assert set(custom) <= ids
        for node_id in ids - plan.connectors:
            assert all(dep.id in ids for dep in graph.nodes[node_id].deps)

    new_ids = {old: f"copy-{old}" for old in plan.ids}
    result = remap(plan, graph, new_ids)
    copied_new = set(new_ids.values())
    # the copy is one tree: only the root lacks a parent, and every parent is a copied task
    assert [old for old, parent in result.parents.items() if parent is None] == [plan.root]
    assert all(parent in copied_new for parent in result.parents.values() if parent is not None)
    for old in plan.ids:
        original = graph.nodes[old].deps
        kept = result.deps[old]
        assert all(dep.id in copied_new for dep in kept)
        assert len(kept) + sum(1 for downstream, _ in result.dropped if downstream == old) == len(original)
    assert all(upstream not in ids for _, upstream in result.dropped)


@PROPERTY
@given(trees(forest=True, statuses=True), st.data())
def test_is_ready_never_lets_priority_override_a_dependency(graph, data):
    node_id = data.draw(st.sampled_from(sorted(graph.nodes)))
    urgent = graph.replace({node_id: {"priority": 0}})
    assert is_ready(urgent, node_id) is is_ready(graph, node_id)
