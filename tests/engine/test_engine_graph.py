import dataclasses

import pytest

from tasks_app.engine import (
    Dep,
    Graph,
    Node,
    Status,
    ancestors,
    coerce_dep,
    dependency_path,
    depth,
    descendants,
    downstream_closure,
    find_cycle,
    parent_chain,
    subtree,
    topological_order,
    tree_root,
    upstream_closure,
)
from tasks_app.exceptions import DependencyCycle, NotFound, ValidationError


def n(node_id, *deps, **fields):
    """A node named like its id; ``"x?"`` is an optional dependency on ``x``."""
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


# -- snapshot -------------------------------------------------------------------------------------


def test_node_defaults_and_coercion():
    node = Node("a", "A", status="failed", deps=["x", ("y", False), {"id": "z", "required": False}, Dep("w")])
    assert node.status is Status.FAILED
    assert node.deps == (Dep("x"), Dep("y", False), Dep("z", False), Dep("w"))
    plain = Node("b", "B")
    assert (plain.priority, plain.parent, plain.created, plain.ready_at) == (2, None, 0, None)
    assert plain.inputs == {} and plain.result is None and plain.in_scope is True
    assert plain.terminal is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.status = Status.COMPLETED  # type: ignore[misc]


def test_coerce_dep():
    assert coerce_dep("a") == Dep("a", True)
    assert coerce_dep(Dep("a", False)) == Dep("a", False)
    assert coerce_dep(("a", 0)) == Dep("a", False)
    assert coerce_dep({"id": "a"}) == Dep("a", True)


def test_graph_indexes():
    g = build(
        n("root"), n("a", parent="root"), n("b", "a", "a", parent="root"), n("c", "a?", "b", parent="a")
    )
    assert g.roots() == ["root"]
    assert g.children("root") == ["a", "b"]
    assert g.children("a") == ["c"]
    assert g.dependents("a") == ["b", "c"]  # a repeated edge is indexed once
    assert g.dependents("c") == []
    assert g.upstream("c") == (Dep("a", False), Dep("b"))
    assert g.ordered_ids() == ["root", "a", "b", "c"]
    assert len(g) == 4 and "a" in g and "zz" not in g
    assert list(g) == ["root", "a", "b", "c"]
    assert repr(g) == "Graph(4 nodes)"
    assert g.name("a") == "a" and g.name("ghost") == "ghost"
    assert g.get("ghost") is None


def test_graph_rejects_duplicate_ids():
    with pytest.raises(ValidationError, match="duplicate task id 'a' in graph"):
        Graph([n("a"), n("a")])


@pytest.mark.parametrize("method", ["node", "upstream", "dependents", "children"])
def test_graph_unknown_id_is_not_found(method):
    with pytest.raises(NotFound, match="^task 'ghost' not found$"):
        getattr(build(n("a")), method)("ghost")


def test_graph_tolerates_dangling_references():
    g = build(n("a", "ghost"), n("b", parent="elsewhere"))
    assert g.roots() == ["a"]
    assert g.dependents("a") == []
    assert topological_order(g) == ["a", "b"]


def test_replace_returns_new_graph_and_keeps_original():
    g = build(n("a"), n("b", "a"))
    g2 = g.with_status("a", "completed", result=1)
    assert g.node("a").status is Status.PENDING
    assert g2.node("a").status is Status.COMPLETED and g2.node("a").result == 1
    assert g2.dependents("a") == ["b"]
    g3 = g.replace({"b": {"deps": ()}}, a={"priority": 0})
    assert g3.dependents("a") == []
    assert g3.node("a").priority == 0
    assert g.dependents("a") == ["b"]
    with pytest.raises(NotFound):
        g.replace({"ghost": {"priority": 1}})


# -- algorithms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({}, None),
        ({"a": []}, None),
        ({"a": ["b"], "b": ["c"], "c": []}, None),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, None),  # diamond
        ({"a": ["missing"]}, None),
    ],
)
def test_find_cycle(edges, expected):
    assert find_cycle(edges) == expected


def test_find_cycle_handles_long_chains_without_recursion():
    edges = {str(i): [str(i + 1)] for i in range(5000)}
    assert find_cycle(edges) is None
    edges["5000"] = ["0"]
    cycle = find_cycle(edges)
    assert cycle[0] == cycle[-1] == "0" and len(cycle) == 5002


def test_topological_order_puts_dependencies_first_and_ties_by_creation():
    g = build(n("z", "b"), n("a"), n("b"), n("c", "z", "a"))
    assert topological_order(g) == ["a", "b", "z", "c"]


def test_topological_order_uses_created_not_insertion_order():
    g = Graph([n("x", created=5), n("y", created=1), n("w", "x", created=0)])
    assert topological_order(g) == ["y", "x", "w"]


def test_topological_order_names_a_cycle():
    g = build(Node("1", "fetch", deps=("2",)), Node("2", "parse", deps=("1",)), Node("3", "ok"))
    with pytest.raises(DependencyCycle, match="circular dependency: fetch -> parse -> fetch") as info:
        topological_order(g)
    assert info.value.cycle == ["fetch", "parse", "fetch"]
    assert info.value.details["ids"] == ["1", "2", "1"]


def test_ancestors_descendants_and_closures():
    g = build(n("a"), n("b", "a"), n("c", "b"), n("d", "a?"), n("e"))
    assert ancestors(g, "c") == {"a", "b"}
    assert ancestors(g, "a") == set()
    assert descendants(g, "a") == {"b", "c", "d"}
    assert descendants(g, "c") == set()
    assert downstream_closure(g, ["b", "e"]) == {"b", "c", "e"}
    assert upstream_closure(g, ["c", "d"]) == {"a", "b", "c", "d"}


def test_ancestors_include_self_only_on_a_cycle():
    g = build(n("a", "b"), n("b", "a"))
    assert ancestors(g, "a") == {"a", "b"}


def test_subtree_parent_chain_root_and_depth():
    g = build(n("r"), n("a", parent="r"), n("b", parent="a"), n("c", parent="b"), n("d", parent="r"))
    assert subtree(g, "a") == {"a", "b", "c"}
    assert subtree(g, "c") == {"c"}
    assert parent_chain(g, "c") == ["b", "a", "r"]
    assert parent_chain(g, "r") == []
    assert tree_root(g, "c") == "r" and tree_root(g, "r") == "r"
    assert depth(g) == 4
    assert depth(build(n("r"))) == 1
    assert depth(Graph()) == 0


def test_parent_chain_stops_on_parent_cycle():
    g = build(n("a", parent="b"), n("b", parent="a"))
    assert parent_chain(g, "a") == ["b"]
    assert depth(g) == 0


def test_dependency_path():
    g = build(n("a"), n("b", "a"), n("c", "b", "a"))
    assert dependency_path(g, "c", "a") == ["c", "a"]
    assert dependency_path(g, "b", "a") == ["b", "a"]
    assert dependency_path(g, "a", "c") is None
    assert dependency_path(g, "a", "a") == ["a"]
