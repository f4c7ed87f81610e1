import dataclasses

import pytest

from tasks_app.engine import (
    UPSTREAM_FAILED,
    Dep,
    Graph,
    Node,
    Status,
    cancel_set,
    failure_fallout,
    mark_set,
    newly_ready,
    rerun_set,
    retry_set,
    run_scope,
    tree_cancel_set,
)
from tasks_app.exceptions import InvalidTransition, NotFound

P, R, C, F, X = Status.PENDING, Status.IN_PROGRESS, Status.COMPLETED, Status.FAILED, Status.CANCELLED


def n(node_id, *deps, **fields):
    return Node(node_id, node_id, deps=tuple(Dep(d.rstrip("?"), not d.endswith("?")) for d in deps), **fields)


def up(node_id, *deps, **fields):
    """A task already cancelled as upstream_failed."""
    return n(node_id, *deps, status=X, error_type=UPSTREAM_FAILED, **fields)


def build(*nodes):
    return Graph(dataclasses.replace(node, created=i) for i, node in enumerate(nodes))


# -- failure_fallout ------------------------------------------------------------------------------


def test_required_dependent_of_failed_task_is_cancelled():
    g = build(n("fetch", status=F), n("parse", "fetch"))
    assert failure_fallout(g, ["fetch"]) == {"parse": "upstream task 'fetch' failed"}


def test_required_dependent_of_cancelled_task_is_cancelled():
    g = build(n("fetch", status=X), n("parse", "fetch"))
    assert failure_fallout(g, ["fetch"]) == {"parse": "upstream task 'fetch' was cancelled"}


def test_fallout_cascades_in_one_call():
    g = build(n("a", status=F), n("b", "a"), n("c", "b"), n("d", "c"))
    assert failure_fallout(g, ["a"]) == {
        "b": "upstream task 'a' failed",
        "c": "upstream task 'b' was cancelled",
        "d": "upstream task 'c' was cancelled",
    }


def test_fallout_handles_diamonds_once():
    g = build(n("a", status=F), n("b", "a"), n("c", "a"), n("d", "c", "b"))
    fallout = failure_fallout(g, ["a"])
    assert list(fallout) == ["b", "c", "d"]
    assert fallout["d"] == "upstream task 'c' was cancelled"  # first blocking dependency in declared order


def test_message_names_first_blocker_in_declared_order_regardless_of_discovery():
    g = build(n("a", status=F), n("b", "a"), n("d", "b", "a"))
    assert failure_fallout(g, ["a"])["d"] == "upstream task 'b' was cancelled"
    g = build(n("a", status=F), n("b", "a"), n("d", "a", "b"))
    assert failure_fallout(g, ["a"])["d"] == "upstream task 'a' failed"


def test_optional_dependency_never_blocks():
    g = build(n("a", status=F), n("b", "a?"), n("c", "b"))
    assert failure_fallout(g, ["a"]) == {}


def test_optional_dependency_cancelled_as_upstream_failed_does_not_block():
    g = build(n("a", status=F), n("b", "a"), n("c", "b?"), n("d", "c"))
    assert failure_fallout(g, ["a"]) == {"b": "upstream task 'a' failed"}


def test_siblings_and_independent_branches_continue():
    g = build(
        n("root"),
        n("a", status=F, parent="root"),
        n("b", "a", parent="root"),
        n("s", parent="root"),
        n("t", "s", parent="root"),
        n("m", "a?", "s", parent="root"),
    )
    assert failure_fallout(g, ["a"]) == {"b": "upstream task 'a' failed"}


def test_only_pending_in_scope_tasks_are_cancelled():
    g = build(
        n("a", status=F),
        n("done", "a", status=C),
        n("running", "a", status=R),
        n("gone", "a", status=X),
        n("outside", "a", in_scope=False),
        n("after_outside", "outside"),
    )
    assert failure_fallout(g, ["a"]) == {}


def test_fallout_of_a_successful_finish_is_empty():
    g = build(n("a", status=C), n("b", "a"))
    assert failure_fallout(g, ["a"]) == {}
    assert failure_fallout(g, ["ghost"]) == {}


def test_fallout_without_finished_ids_scans_the_whole_graph():
    g = build(n("a", status=F), n("b", "a"), n("x", status=X), n("y", "x"), n("z"))
    assert failure_fallout(g) == {"b": "upstream task 'a' failed", "y": "upstream task 'x' was cancelled"}


def test_applying_fallout_can_release_a_task_with_optional_dependency():
    g = build(n("a", status=F), n("b", "a"), n("c", "b?"))
    fallout = failure_fallout(g, ["a"])
    g = g.replace({k: {"status": X, "error_type": UPSTREAM_FAILED} for k in fallout})
    assert newly_ready(g, ["a", *fallout]) == ["c"]


def test_fallout_names_tasks_by_name():
    g = build(Node("1", "fetch", status=F), Node("2", "parse", deps=("1",)))
    assert failure_fallout(g, ["1"]) == {"2": "upstream task 'fetch' failed"}


# -- retry ----------------------------------------------------------------------------------------


def test_retry_resets_failed_task_and_its_upstream_failed_chain():
    g = build(n("a", status=F), up("b", "a"), up("c", "b"), n("d", "a?", status=C), n("e"))
    assert retry_set(g, "a") == ["a", "b", "c"]


def test_retry_of_cancelled_task():
    g = build(n("a", status=X), up("b", "a"))
    assert retry_set(g, "a") == ["a", "b"]


@pytest.mark.parametrize("status", [P, R, C])
def test_retry_refuses_non_failed_tasks(status):
    g = build(n("a", status=status))
    with pytest.raises(InvalidTransition, match=f"^task 'a' is {status.value}; only failed or cancelled"):
        retry_set(g, "a")


def test_retry_leaves_tasks_cancelled_by_user_and_completed_ones():
    g = build(n("a", status=F), n("b", "a", status=X), up("c", "b"), n("d", "a?", status=C), up("e", "d"))
    assert retry_set(g, "a") == ["a"]


def test_retry_skips_tasks_also_blocked_by_another_failure():
    g = build(n("a", status=F), n("z", status=F), up("b", "a", "z"), up("c", "a"))
    assert retry_set(g, "a") == ["a", "c"]
    assert retry_set(g, "z") == ["z"]


def test_retry_includes_diamond_join():
    g = build(n("a", status=F), up("b", "a"), up("c", "a"), up("d", "b", "c"))
    assert retry_set(g, "a") == ["a", "b", "c", "d"]


def test_retry_of_upstream_failed_task_requires_retrying_the_cause():
    g = build(n("a", status=F), up("b", "a"), up("c", "b"))
    with pytest.raises(InvalidTransition, match="^task 'c' cannot run until upstream task 'b' is retried$"):
        retry_set(g, "c")
    g = g.with_status("a", P).with_status("b", P, error_type=None)
    assert retry_set(g, "c") == ["c"]


def test_retry_unknown_task():
    with pytest.raises(NotFound):
        retry_set(build(n("a")), "ghost")


# -- re-run, cancel -------------------------------------------------------------------------------


def test_rerun_set_is_task_and_everything_downstream():
    g = build(
        n("a", status=C),
        n("b", "a", status=C),
        n("c", "b", status=F),
        n("d", "a?", status=X),
        n("e", status=C),
    )
    assert rerun_set(g, "a") == ["a", "b", "c", "d"]
    assert rerun_set(g, "c") == ["c"]


def test_rerun_refuses_when_a_task_in_the_set_is_running():
    g = build(n("a", status=C), n("b", "a", status=R))
    with pytest.raises(InvalidTransition, match="^task 'b' is running$"):
        rerun_set(g, "a")
    with pytest.raises(InvalidTransition, match="^task 'b' is running$"):
        rerun_set(g, "b")


@pytest.mark.parametrize("status", [P, R])
def test_cancel_non_terminal_task(status):
    assert cancel_set(build(n("a", status=status), n("b", "a")), "a") == ["a"]


@pytest.mark.parametrize("status", [C, F, X])
def test_cancel_terminal_task_is_refused(status):
    with pytest.raises(InvalidTransition, match=f"^task 'a' is already {status.value}$"):
        cancel_set(build(n("a", status=status)), "a")


def test_tree_cancel_set_is_every_non_terminal_task():
    g = build(
        n("a", status=C), n("b", status=R), n("c"), n("d", status=F), n("e", status=X), n("f", in_scope=False)
    )
    assert tree_cancel_set(g) == ["b", "c", "f"]


# -- run scope ------------------------------------------------------------------------------------


def test_run_scope_of_root_is_the_whole_tree():
    g = build(n("r", status=C), n("a", parent="r"), n("b", "a", parent="a"), n("other"))
    assert run_scope(g, "r") == {"r", "a", "b"}


def test_run_scope_of_child_is_target_and_unfinished_upstream():
    g = build(
        n("r"),
        n("a", status=C, parent="r"),
        n("b", "a", parent="r"),
        n("c", "b", "x?", parent="r"),
        n("x", "a", status=F, parent="r"),
        n("y", parent="r"),
        n("d", "c", parent="r"),
    )
    assert run_scope(g, "c") == {"c", "b", "x"}
    assert run_scope(g, "b") == {"b"}


# -- mark_set (mark success / skip) ---------------------------------------------------------------


def test_mark_failed_task_releases_its_upstream_failed_chain():
    g = build(n("a", status=F), up("b", "a"), up("c", "b"), n("d", status=C))
    assert mark_set(g, "a") == ["a", "b", "c"]


def test_mark_leaves_tasks_also_blocked_by_another_failure():
    g = build(n("a", status=F), n("x", status=F), up("b", "a", "x"), up("c", "a"))
    assert mark_set(g, "a") == ["a", "c"]


def test_mark_upstream_cancelled_task_is_allowed_and_releases_below():
    g = build(n("a", status=F), up("b", "a"), up("c", "b"))
    assert mark_set(g, "b") == ["b", "c"]


def test_mark_pending_task_touches_only_itself():
    g = build(n("a"), n("b", "a"))
    assert mark_set(g, "a") == ["a"]


@pytest.mark.parametrize("status", [R, C])
def test_mark_refuses_running_and_completed(status):
    g = build(n("a", status=status), n("b", "a"))
    with pytest.raises(InvalidTransition, match="cancel it first" if status is R else "already|completed"):
        mark_set(g, "a")
