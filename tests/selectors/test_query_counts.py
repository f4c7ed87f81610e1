"""The list and detail selectors run a fixed number of queries whatever the size of the tree: each
test reads a small and a large executed tree (root + a chain of children, so tasks, dependencies,
attempts, runs and events all grow with it) and pins the same count for both. A selector that
fetches a related row per item (an N+1) makes the large case fail."""

import dataclasses

import pytest

from tasks_app import selectors
from tasks_app.models import Task

SIZES = [2, 25]


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


@pytest.fixture(params=SIZES, ids=lambda n: f"{n}-children")
def grown(request, run_tree):
    """An executed tree: root and ``n`` children, child i needing child i-1; returns (tree, tasks)."""
    n = request.param
    specs = [t("root")]
    for i in range(n):
        specs.append(t(f"c{i}", parent_id="root", dependencies=[f"c{i - 1}"] if i else []))
    tree, tasks = run_tree(specs)
    assert tree.status == "completed" and len(tasks) == n + 1
    return tree, list(Task.objects.filter(tree=tree).order_by("position"))


def test_graph_snapshot_reads_tasks_and_edges_once(grown, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(2):
        graph = selectors.graph_snapshot(tree.id)
    assert len(graph) == len(tasks)


def test_status_graph_is_the_snapshot_without_results(grown, django_assert_num_queries):
    """What the tree's final status is decided on: every node as in the full snapshot (status,
    dependencies, scope …) but no task results, in two light reads."""
    tree, tasks = grown
    full = selectors.graph_snapshot(tree.id)
    with django_assert_num_queries(2):
        light = selectors.status_graph(tree.id)
    assert list(light.nodes) == list(full.nodes)
    for node_id, node in full.nodes.items():
        assert light.nodes[node_id] == dataclasses.replace(node, result=None)


def test_tree_tasks_is_one_query(grown, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(1):
        assert [task.id for task in selectors.tree_tasks(tree.id)] == [task.id for task in tasks]


def test_partial_graph_reads_edges_then_tasks(grown, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(2):
        graph = selectors.partial_graph([task.id for task in tasks[1:]])
    assert len(graph) == len(tasks) - 1


def test_dependents_of_is_one_query(grown, django_assert_num_queries):
    _, tasks = grown
    with django_assert_num_queries(1):
        dependents = selectors.dependents_of([task.id for task in tasks])
    assert len(dependents) == len(tasks) - 2  # every child but the first needs one


def test_tree_and_task_detail_are_one_query_each(grown, user, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(1):
        assert selectors.tree_get(user, tree.id).id == tree.id
    with django_assert_num_queries(1):
        task = selectors.task_get(user, tasks[-1].id)
        assert task.tree.id == tree.id  # the tree comes with it


def test_event_log_is_one_query(grown, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(1):
        events = selectors.events_wire(selectors.tree_events(tree))
    assert len(events) > len(tasks)
    assert {e["task"] for e in events if e["task"]} == {str(task.id) for task in tasks}
    with django_assert_num_queries(1):
        assert selectors.events_wire(selectors.task_events(tasks[-1]))


def test_attempt_lists_bring_their_run_and_task(grown, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(1):
        rows = [(a.run.number, a.task_id) for a in selectors.tree_attempts(tree)]
    assert len(rows) == len(tasks) and {number for number, _ in rows} == {1}
    with django_assert_num_queries(1):
        assert [a.run.number for a in selectors.tree_attempts(tree, run=1)] == [1] * len(tasks)
    run = selectors.run_get(tree, 1)
    with django_assert_num_queries(1):
        assert sorted(a.task.name for a in selectors.run_attempts(run)) == sorted(t.name for t in tasks)
    with django_assert_num_queries(1):
        assert [a.run.number for a in selectors.task_attempts(tasks[-1])] == [1]


def test_run_list_brings_who_started_it(grown, user, django_assert_num_queries):
    tree, _ = grown
    with django_assert_num_queries(1):
        runs = [
            (r.number, r.started_by.username if r.started_by else None) for r in selectors.tree_runs(tree)
        ]
    assert runs == [(1, user.username)]


def test_statistics_are_aggregates_not_loops(grown, user, django_assert_num_queries):
    tree, tasks = grown
    with django_assert_num_queries(2):
        stats = selectors.execution_stats(user, tree_id=tree.id)
    assert stats["counts"]["completed"] == len(tasks) and stats["finished"] == len(tasks)
    with django_assert_num_queries(1):
        assert selectors.attempt_stats(user, tree_id=tree.id)["by_outcome"] == {"completed": len(tasks)}
    with django_assert_num_queries(1):
        assert selectors.throughput(user, tree_id=tree.id)["total"] == len(tasks)
