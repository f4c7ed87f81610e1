import dataclasses

import pytest

from tasks_app.engine import Dep, Graph, Node, Status, copy_order, plan_copy, remap
from tasks_app.exceptions import InvalidReference, NotFound, ValidationError

C, F, X = Status.COMPLETED, Status.FAILED, Status.CANCELLED


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


@pytest.fixture
def tree():
    r"""
    root
    |-- a
    |   |-- a1   (needs a)
    |   `-- a2
    |-- b        (needs a1, optional x)
    |   `-- b1   (needs b)
    |-- c
    |-- x
    `-- d        (needs a1, a2: a shared dependent)
    other        (a second tree in the same graph)
    """
    return build(
        n("root"),
        n("a", parent="root"),
        n("a1", "a", parent="a"),
        n("a2", parent="a"),
        n("b", "a1", "x?", parent="root"),
        n("b1", "b", parent="b"),
        n("c", parent="root"),
        n("x", parent="root"),
        n("d", "a1", "a2", parent="root"),
        n("other"),
    )


# -- minimal --------------------------------------------------------------------------------------


def test_minimal_copies_subtree_and_transitive_dependents_once(tree):
    plan = plan_copy(tree, "a")
    assert plan.ids == ["root", "a", "a1", "a2", "b", "b1", "d"]
    assert plan.root == "root"
    assert plan.connectors == {"root"}
    assert plan.carry == frozenset()
    assert plan.reset == plan.ids
    assert plan.mode == "minimal"


def test_minimal_without_outside_dependents_is_rooted_at_the_task(tree):
    plan = plan_copy(tree, "b")
    assert (plan.ids, plan.root, plan.connectors) == (["b", "b1"], "b", frozenset())
    assert plan_copy(tree, "c").ids == ["c"]


def test_minimal_joins_branches_at_the_lowest_common_ancestor():
    g = build(n("r"), n("p", parent="r"), n("q", parent="p"), n("s", "q", parent="p"), n("far", parent="r"))
    plan = plan_copy(g, "q")
    assert (plan.ids, plan.root, plan.connectors) == (["p", "q", "s"], "p", {"p"})


def test_minimal_follows_dependents_of_dependents_across_branches():
    g = build(
        n("r"), n("a", parent="r"), n("b", "a", parent="r"), n("c", "b", parent="r"), n("u", parent="r")
    )
    plan = plan_copy(g, "a")
    assert plan.ids == ["r", "a", "b", "c"]


def test_copy_children_adds_child_subtrees_which_minimal_already_has(tree):
    assert plan_copy(tree, "a", children=True) == plan_copy(tree, "a")


def test_copy_of_root_in_minimal_mode_is_the_whole_tree(tree):
    plan = plan_copy(tree, "root")
    assert set(plan.ids) == {"root", "a", "a1", "a2", "b", "b1", "c", "x", "d"}
    assert plan.connectors == frozenset()


# -- full -----------------------------------------------------------------------------------------


def test_full_copies_whole_tree_and_carries_unrelated_completed_tasks(tree):
    g = tree.replace(
        {
            "root": {"status": C},
            "a": {"status": C},
            "a1": {"status": C},
            "a2": {"status": F},
            "b": {"status": C},
            "c": {"status": C},
            "x": {"status": F},
            "d": {"status": X},
        }
    )
    plan = plan_copy(g, "a", mode="full")
    assert set(plan.ids) == {"root", "a", "a1", "a2", "b", "b1", "c", "x", "d"}
    assert plan.root == "root"
    assert plan.carry == {"root", "c"}
    assert set(plan.reset) == {"a", "a1", "a2", "b", "b1", "x", "d"}


def test_full_copy_of_a_leaf(tree):
    g = tree.replace({k: {"status": C} for k in ["root", "a", "a1", "a2", "b", "b1", "c", "x", "d"]})
    plan = plan_copy(g, "b1", mode="full")
    assert plan.reset == ["b1"]
    assert "other" not in plan.ids


# -- custom ---------------------------------------------------------------------------------------


def test_custom_adds_upstream_dependencies_and_connectors(tree):
    plan = plan_copy(tree, "root", mode="custom", custom_ids=["b1"])
    assert plan.ids == ["root", "a", "a1", "x", "b", "b1"]
    assert plan.root == "root"
    assert plan.connectors == {"root"}


def test_custom_optional_dependencies_are_upstream_too(tree):
    plan = plan_copy(tree, "root", mode="custom", custom_ids=["b"])
    assert set(plan.ids) == {"root", "a", "a1", "b", "x"}


def test_custom_include_children(tree):
    plan = plan_copy(tree, "root", mode="custom", custom_ids=["a"], custom_include_children=True)
    assert (plan.ids, plan.root, plan.connectors) == (["a", "a1", "a2"], "a", frozenset())
    without = plan_copy(tree, "root", mode="custom", custom_ids=["a"])
    assert (without.ids, without.root) == (["a"], "a")
    assert plan_copy(tree, "root", mode="custom", custom_ids=["a"], children=True) == plan


def test_custom_refuses_unknown_or_foreign_ids(tree):
    with pytest.raises(
        InvalidReference, match="^task 'ghost' is not in this tree; task 'other' is not in this tree$"
    ):
        plan_copy(tree, "a", mode="custom", custom_ids=["a1", "ghost", "other"])
    with pytest.raises(ValidationError, match="at least one task id"):
        plan_copy(tree, "a", mode="custom")


def test_bad_mode_and_unknown_task(tree):
    with pytest.raises(ValidationError, match="unknown copy mode 'weird'"):
        plan_copy(tree, "a", mode="weird")
    with pytest.raises(NotFound):
        plan_copy(tree, "ghost")


# -- remap ----------------------------------------------------------------------------------------


def new_ids(plan):
    return {old: f"new-{old}" for old in plan.ids}


def test_remap_minimal_copy(tree):
    plan = plan_copy(tree, "a")
    result = remap(plan, tree, new_ids(plan))
    assert result.parents == {
        "root": None,
        "a": "new-root",
        "a1": "new-a",
        "a2": "new-a",
        "b": "new-root",
        "b1": "new-b",
        "d": "new-root",
    }
    assert result.deps["a1"] == (Dep("new-a"),)
    assert result.deps["b"] == (Dep("new-a1"),)
    assert result.deps["d"] == (Dep("new-a1"), Dep("new-a2"))
    assert result.dropped == [("b", "x")]


def test_remap_root_of_copy_loses_its_parent(tree):
    plan = plan_copy(tree, "b")
    result = remap(plan, tree, new_ids(plan))
    assert result.parents == {"b": None, "b1": "new-b"}
    assert result.deps == {"b": (), "b1": (Dep("new-b"),)}
    assert result.dropped == [("b", "a1"), ("b", "x")]


def test_remap_skips_to_nearest_copied_ancestor(tree):
    from tasks_app.engine import CopyPlan

    plan = CopyPlan(["root", "a1"], frozenset(), "root")
    assert remap(plan, tree, new_ids(plan)).parents == {"root": None, "a1": "new-root"}
    orphan = CopyPlan(["a", "b1"], frozenset(), "a")
    assert remap(orphan, tree, new_ids(orphan)).parents == {"a": None, "b1": None}


def test_remap_requires_a_new_id_for_every_copied_task(tree):
    plan = plan_copy(tree, "b")
    with pytest.raises(ValidationError, match="no new id for copied task 'b1'"):
        remap(plan, tree, {"b": "new-b"})


def test_copy_order_puts_parents_first(tree):
    g = build(n("r", "kid"), n("kid", parent="r"))
    plan = plan_copy(g, "r")
    assert plan.ids == ["kid", "r"]
    assert list(copy_order(plan, g)) == ["r", "kid"]
