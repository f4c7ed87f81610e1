import pytest

from tasks_app.engine import Status, aggregate_results, effective_inputs, unwrap_result

C, F, X = Status.COMPLETED, Status.FAILED, Status.CANCELLED


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"result": {"y": 2}}, {"y": 2}),
        ({"result": 5, "meta": 1}, 5),
        ({"result": None}, None),
        ({"x": 1}, {"x": 1}),
        ([1, 2], [1, 2]),
        ("text", "text"),
        (None, None),
    ],
)
def test_unwrap_result(result, expected):
    assert unwrap_result(result) == expected


def test_apflow_example_own_keys_lose_to_dependencies_later_deps_win():
    own = {"own": "keep", "shared": "own"}
    deps = [("A", C, {"x": 1, "shared": "fromA"}), ("B", C, {"result": {"y": 2}}), ("C", C, "scalar")]
    assert effective_inputs(own, deps) == {"own": "keep", "shared": "fromA", "x": 1, "y": 2, "C": "scalar"}


def test_later_dependency_wins_over_earlier():
    deps = [("a", C, {"k": 1}), ("b", C, {"k": 2})]
    assert effective_inputs({"k": 0}, deps) == {"k": 2}
    assert effective_inputs({"k": 0}, deps[::-1]) == {"k": 1}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, {"dep": None}),
        (0, {"dep": 0}),
        ([1, 2], {"dep": [1, 2]}),
        ({"result": [3]}, {"dep": [3]}),
        ({"result": None}, {"dep": None}),
        ({}, {}),
    ],
)
def test_non_dict_results_are_stored_under_the_dependency_name(result, expected):
    assert effective_inputs({}, [("dep", C, result)]) == expected


def test_scalar_result_overwrites_own_key_of_same_name():
    assert effective_inputs({"dep": "own"}, [("dep", C, 7)]) == {"dep": 7}


@pytest.mark.parametrize("status", [F, X, "pending", "in_progress"])
def test_dependencies_that_did_not_complete_are_absent(status):
    assert effective_inputs({"a": 1}, [("dep", status, {"b": 2}), ("ok", "completed", 3)]) == {
        "a": 1,
        "ok": 3,
    }


def test_own_inputs_are_never_modified_and_nothing_is_shared():
    own = {"nested": {"x": 1}}
    dep_result = {"deep": {"y": 2}}
    inputs = effective_inputs(own, [("d", C, dep_result)])
    inputs["nested"]["x"] = 99
    inputs["deep"]["y"] = 99
    assert own == {"nested": {"x": 1}}
    assert dep_result == {"deep": {"y": 2}}


def test_aggregate_mode_keys_results_by_name():
    deps = [("a", C, {"result": {"x": 1}}), ("b", F, "lost"), ("c", C, None), ("d", C, [1])]
    assert effective_inputs({"own": 1, "results": "replaced"}, deps, aggregate=True) == {
        "own": 1,
        "results": {"a": {"x": 1}, "c": None, "d": [1]},
    }
    assert aggregate_results(deps) == {"a": {"x": 1}, "c": None, "d": [1]}
    assert aggregate_results([]) == {}


def test_marked_dependencies_contribute_nothing():
    from tasks_app.engine.inputs import mark_result, marker

    deps = [
        ("a", "completed", mark_result("skipped", "alice")),
        ("b", "completed", mark_result("success", "bob")),
        ("c", "completed", {"x": 1}),
    ]
    assert effective_inputs({"k": 0}, deps) == {"k": 0, "x": 1}
    assert effective_inputs({}, deps, aggregate=True) == {"results": {"c": {"x": 1}}}
    assert marker(mark_result("skipped", "alice")) == "skipped"
    assert marker({"marked": "success", "by": "a", "extra": 1}) is None
