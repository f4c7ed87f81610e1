import dataclasses

import pytest

from tasks_app.engine import (
    Dep,
    Graph,
    Node,
    SpecTask,
    resolve_refs,
    validate_dependencies,
    validate_new_edge,
    validate_spec,
    validate_tree,
)
from tasks_app.exceptions import (
    DependencyCycle,
    InvalidReference,
    LimitExceeded,
    NotFound,
    TreeValidationError,
    ValidationError,
)


def t(key, parent=None, *deps, name=None):
    """A spec task; ``"x?"`` is an optional dependency."""
    return SpecTask(key, name or key, parent, tuple((d.rstrip("?"), not d.endswith("?")) for d in deps))


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


# -- validate_tree --------------------------------------------------------------------------------


def test_valid_tree_returns_dependencies_first_ties_in_input_order():
    tasks = [
        t("root", None, "c", "b"),
        t("a", "root"),
        t("b", "root", "a"),
        t("c", "root"),
        t("d", "b", "a?"),
    ]
    assert validate_tree(tasks) == ["a", "b", "c", "root", "d"]


def test_single_task_tree():
    assert validate_tree([t("only")]) == ["only"]


def test_empty_tree():
    with pytest.raises(TreeValidationError, match="^tree has no tasks$"):
        validate_tree([])


def test_too_many_tasks_is_refused_first():
    tasks = [t("a"), t("b", "zzz"), t("b")]
    with pytest.raises(LimitExceeded, match=r"^tree has 3 tasks; the limit is 2 \(max_tasks\)$") as info:
        validate_tree(tasks, max_tasks=2)
    assert info.value.limit == "max_tasks"
    assert validate_tree([t("a")], max_tasks=1) == ["a"]


@pytest.mark.parametrize(
    ("tasks", "error", "messages"),
    [
        (
            [t("a"), t("b", "a"), t("b", "a", name="b")],
            TreeValidationError,
            ["duplicate task name 'b'"],
        ),
        (
            [t("a"), t("x", "a", name="one"), t("x", "a", name="two")],
            TreeValidationError,
            ["duplicate task id 'x' (tasks 'one', 'two')"],
        ),
        (
            [t("a"), t("b", "zzz")],
            InvalidReference,
            ["task 'b' has unknown parent 'zzz'"],
        ),
        (
            [t("a", None, "zzz", "yyy", "zzz"), t("b", "a", "qqq")],
            InvalidReference,
            [
                "task 'a' depends on unknown task 'zzz'",
                "task 'a' depends on unknown task 'yyy'",
                "task 'b' depends on unknown task 'qqq'",
            ],
        ),
        (
            [t("a", None, "a")],
            DependencyCycle,
            ["task 'a' depends on itself"],
        ),
        (
            [t("r"), t("a", "r", "c"), t("b", "r", "a"), t("c", "r", "b")],
            DependencyCycle,
            ["circular dependency: a -> c -> b -> a"],
        ),
        (
            [t("a"), t("b")],
            TreeValidationError,
            ["tree has 2 roots: 'a', 'b'; exactly one task must have no parent"],
        ),
        (
            [t("a", "b"), t("b", "a")],
            TreeValidationError,
            ["tree has no root; exactly one task must have no parent", "parent cycle: a -> b -> a"],
        ),
        (
            [t("r"), t("a", "a")],
            TreeValidationError,
            ["task 'a' is its own parent"],
        ),
    ],
)
def test_structural_problems(tasks, error, messages):
    with pytest.raises(error) as info:
        validate_tree(tasks)
    assert type(info.value) is error
    assert info.value.errors == messages
    assert info.value.message == "; ".join(messages)


def test_cycle_names_tasks_by_name_not_key():
    tasks = [t("r"), t("1", "r", "2", name="fetch"), t("2", "r", "1", name="parse")]
    with pytest.raises(DependencyCycle, match="^circular dependency: fetch -> parse -> fetch$") as info:
        validate_tree(tasks)
    assert info.value.cycle == ["fetch", "parse", "fetch"]
    assert info.value.code == "circular_dependency"


def test_several_cycles_are_all_reported():
    tasks = [t("r"), t("a", "r", "b"), t("b", "r", "a"), t("c", "r", "d"), t("d", "r", "c"), t("e", "r", "e")]
    with pytest.raises(DependencyCycle) as info:
        validate_tree(tasks)
    assert info.value.errors == [
        "task 'e' depends on itself",
        "circular dependency: a -> b -> a",
        "circular dependency: c -> d -> c",
    ]
    assert info.value.details["cycles"] == [["e", "e"], ["a", "b", "a"], ["c", "d", "c"]]


def test_mixed_problems_are_collected_in_one_error():
    tasks = [t("a", None, "b"), t("b", "a", "a"), t("c", None, "zz"), t("c", "a")]
    with pytest.raises(TreeValidationError) as info:
        validate_tree(tasks)
    error = info.value
    assert type(error) is TreeValidationError
    assert error.errors == [
        "duplicate task name 'c'",
        "task 'c' depends on unknown task 'zz'",
        "circular dependency: a -> b -> a",
        "tree has 2 roots: 'a', 'c'; exactly one task must have no parent",
    ]
    assert error.details["codes"] == [
        "tree_validation",
        "invalid_reference",
        "circular_dependency",
        "tree_validation",
    ]


def test_max_deps_and_max_depth():
    tasks = [t("r"), t("a", "r"), t("b", "a"), t("c", "b", "r", "a", "b", "a")]
    assert validate_tree(tasks, max_deps=3, max_depth=4) == ["r", "a", "b", "c"]
    with pytest.raises(LimitExceeded) as info:
        validate_tree(tasks, max_deps=2, max_depth=3)
    assert info.value.limit == "max_deps"
    assert info.value.details["limits"] == ["max_deps", "max_depth"]
    assert info.value.message == (
        "task 'c' has 3 dependencies; the limit is 2 (max_deps); tree is 4 levels deep; the limit "
        "is 3 (max_depth)"
    )
    with pytest.raises(LimitExceeded, match=r"^tree is 4 levels deep; the limit is 1 \(max_depth\)$"):
        validate_tree(tasks, max_depth=1)


def test_limit_with_other_problems_is_a_tree_validation_error():
    with pytest.raises(TreeValidationError) as info:
        validate_tree([t("r", None, "zz"), t("a", "r", "r")], max_deps=0)
    assert info.value.details["codes"] == ["invalid_reference", "limit_exceeded", "limit_exceeded"]


# -- resolve_refs ---------------------------------------------------------------------------------


def test_resolve_refs_by_id_and_by_name():
    raw = [
        {"id": "r1", "name": "root", "dependencies": [{"id": "c1"}, "child2"]},
        {"id": "c1", "name": "child1", "parent_id": "root"},
        {"name": "child2", "parent_id": "r1", "dependencies": [{"name": "child1", "required": False}]},
    ]
    assert resolve_refs(raw) == [
        SpecTask("r1", "root", None, (("c1", True), ("child2", True))),
        SpecTask("c1", "child1", "r1", ()),
        SpecTask("child2", "child2", "r1", (("c1", False),)),
    ]


def test_resolve_refs_id_match_wins_over_name_match():
    raw = [
        {"id": "a", "name": "first"},
        {"id": "b", "name": "a", "parent_id": "first", "dependencies": ["a"]},
    ]
    assert resolve_refs(raw)[1] == SpecTask("b", "a", "a", (("a", True),))


def test_resolve_refs_collapses_duplicate_dependencies():
    raw = [
        {"id": "x", "name": "a"},
        {"name": "b"},
        {
            "name": "c",
            "parent_id": "a",
            "dependencies": [
                {"id": "b", "required": False},
                {"id": "x", "required": False},
                "a",
                {"name": "b"},
            ],
        },
    ]
    assert resolve_refs(raw)[2].deps == (("b", True), ("x", True))


def test_resolve_refs_accepts_int_ids_and_empty_values():
    raw = [
        {"id": 1, "name": "a", "parent_id": "", "dependencies": None},
        {"name": "b", "parent_id": 1, "dependencies": [1]},
    ]
    assert resolve_refs(raw) == [SpecTask("1", "a", None, ()), SpecTask("b", "b", "1", (("1", True),))]


def test_resolve_refs_reports_every_unknown_reference():
    raw = [
        {"name": "a", "dependencies": ["zzz"]},
        {"name": "b", "parent_id": "nope", "dependencies": ["zzz", "yyy"]},
    ]
    with pytest.raises(InvalidReference) as info:
        resolve_refs(raw)
    assert info.value.errors == [
        "task 'a' depends on unknown task 'zzz'",
        "task 'b' has unknown parent 'nope'",
        "task 'b' depends on unknown task 'zzz'",
        "task 'b' depends on unknown task 'yyy'",
    ]


def test_resolve_refs_non_strict_keeps_unknown_references():
    specs = resolve_refs([{"name": "a", "parent_id": "p", "dependencies": ["zzz"]}], strict=False)
    assert specs == [SpecTask("a", "a", "p", (("zzz", True),))]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["nope"], "task at index 0 is not an object"),
        ([{"name": ""}], "task at index 0 has no name"),
        ([{"id": "x"}], "task at index 0 has no name"),
        ([{"name": 5}], "task at index 0 has no name"),
        ([{"name": "a", "id": ["x"]}], "task 'a' has an id that is not a string"),
        ([{"name": "a", "parent_id": {"id": 1}}], "task 'a' has a parent_id that is not a string"),
        ([{"name": "a", "dependencies": "b"}], "task 'a' has dependencies that are not a list"),
        (
            [{"name": "a", "dependencies": [{"required": True}]}],
            "task 'a' has a dependency without an id or name",
        ),
        ([{"name": "a", "dependencies": [None]}], "task 'a' has a dependency without an id or name"),
        ([{"name": "a", "dependencies": [[1]]}], "task 'a' has a dependency without an id or name"),
        (
            [{"name": "a"}, {"name": "b", "dependencies": [{"id": "a", "required": "yes"}]}],
            "task 'b' has a dependency on 'a' whose 'required' is not true or false",
        ),
    ],
)
def test_resolve_refs_shape_errors(raw, message):
    with pytest.raises(TreeValidationError) as info:
        resolve_refs(raw)
    assert type(info.value) is TreeValidationError
    assert info.value.errors == [message]


def test_validate_spec_reports_references_and_structure_together():
    raw = [{"name": "a"}, {"name": "b", "dependencies": ["zzz", "b"]}, {"name": "a", "parent_id": "a"}]
    with pytest.raises(TreeValidationError) as info:
        validate_spec(raw)
    assert info.value.errors == [
        "duplicate task name 'a'",
        "task 'b' depends on unknown task 'zzz'",
        "task 'b' depends on itself",
        "tree has 2 roots: 'a', 'b'; exactly one task must have no parent",
    ]


def test_validate_spec_happy_path_and_limits():
    raw = [{"name": "root", "dependencies": ["leaf"]}, {"name": "leaf", "parent_id": "root"}]
    specs, order = validate_spec(raw, max_tasks=2, max_depth=2, max_deps=1)
    assert [s.key for s in specs] == ["root", "leaf"]
    assert order == ["leaf", "root"]
    with pytest.raises(LimitExceeded):
        validate_spec(raw, max_tasks=1)
    with pytest.raises(TreeValidationError, match="tree has no tasks"):
        validate_spec([])


# -- edits ----------------------------------------------------------------------------------------


@pytest.fixture
def chain():
    return build(
        n("r"), n("a", parent="r"), n("b", "a", parent="r"), n("c", "b", parent="r"), n("x", parent="r")
    )


def test_validate_new_edge_accepts_valid_and_existing_edges(chain):
    assert validate_new_edge(chain, "x", "c") is None
    assert validate_new_edge(chain, "a", "c") is None
    assert validate_new_edge(chain, "a", "b") is None  # already there


def test_validate_new_edge_refuses_self_dependency(chain):
    with pytest.raises(DependencyCycle, match="^task 'a' depends on itself$") as info:
        validate_new_edge(chain, "a", "a")
    assert info.value.cycle == ["a", "a"]


def test_validate_new_edge_refuses_cycle_and_names_the_path(chain):
    with pytest.raises(DependencyCycle, match="^circular dependency: a -> c -> b -> a$") as info:
        validate_new_edge(chain, "c", "a")
    assert info.value.details["ids"] == ["a", "c", "b", "a"]


def test_validate_new_edge_refuses_unknown_ids(chain):
    with pytest.raises(InvalidReference, match="^unknown task 'ghost'; unknown task 'other'$"):
        validate_new_edge(chain, "other", "ghost")
    with pytest.raises(ValidationError, match="unknown task 'ghost'"):
        validate_new_edge(chain, "ghost", "a")


def test_validate_dependencies_normalises(chain):
    deps = validate_dependencies(chain, "c", ["a", ("x", False), {"id": "a", "required": False}, Dep("x")])
    assert deps == (Dep("a", True), Dep("x", True))
    assert validate_dependencies(chain, "a", []) == ()


def test_validate_dependencies_replaces_the_old_list(chain):
    # a -> c would be a cycle with c's current deps, but here c's own list is being replaced.
    assert validate_dependencies(chain, "b", ["x"]) == (Dep("x"),)


def test_validate_dependencies_collects_problems(chain):
    with pytest.raises(TreeValidationError) as info:
        validate_dependencies(chain, "a", ["ghost", "a", "c"])
    assert info.value.errors == [
        "task 'a' depends on unknown task 'ghost'",
        "task 'a' depends on itself",
        "circular dependency: a -> c -> b -> a",
    ]
    with pytest.raises(DependencyCycle):
        validate_dependencies(chain, "a", ["c"])
    with pytest.raises(LimitExceeded, match=r"task 'c' has 2 dependencies; the limit is 1 \(max_deps\)"):
        validate_dependencies(chain, "c", ["a", "b"], max_deps=1)
    with pytest.raises(NotFound):
        validate_dependencies(chain, "ghost", [])
