"""SEMANTICS.md through the services: readiness and order, failure, results flow, tree status."""

import pytest

from tasks_app.exceptions import (
    AlreadyRunning,
    DependencyCycle,
    InvalidTransition,
    TreeValidationError,
    UnknownExecutor,
)
from tasks_app.models import Attempt, Event, Task
from tasks_app.services import control
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def started_order(tree):
    return list(
        Attempt.objects.filter(tree=tree)
        .order_by("started_at", "task__position")
        .values_list("task__name", flat=True)
    )


# --- readiness and order -------------------------------------------------------------------------


def test_required_dependency_completes_first_and_results_flow(run_tree):
    tree, tasks = run_tree(
        [
            t("root", "aggregate_results", dependencies=["b"]),
            t("a", "echo", parent_id="root", inputs={"result": {"x": 1}}),
            t("b", "echo", parent_id="root", dependencies=["a"], inputs={"own": True}),
        ]
    )
    assert tree.status == "completed"
    assert started_order(tree) == ["a", "b", "root"]
    assert tasks["b"].result == {"own": True, "x": 1}
    assert tasks["root"].result["results"] == {"b": {"own": True, "x": 1}}


def test_optional_dependency_waits_for_terminal_and_does_not_block(run_tree):
    tree, tasks = run_tree(
        [
            t("root", "noop"),
            t("flaky", "fail", parent_id="root", inputs={"message": "boom"}),
            t("after", "echo", parent_id="root", dependencies=[{"id": "flaky", "required": False}]),
        ]
    )
    assert tasks["flaky"].status == "failed"
    assert tasks["after"].status == "completed"
    assert started_order(tree).index("flaky") < started_order(tree).index("after")
    assert "flaky" not in tasks["after"].result  # results of failed optional deps are absent
    # the leaves decide: the failure was handled by the optional dependency (was: failed)
    assert tree.status == "completed" and tree.handled_failures == 1


def test_dependency_with_null_result_counts_as_completed(run_tree, executor_grants):
    tree, tasks = run_tree(
        [
            t("root", "noop"),
            t(
                "nothing",
                "python_function",
                parent_id="root",
                inputs={"function": "tests.helpers.add", "kwargs": {"a": 1, "b": 2}},
            ),
            t("echo_none", "echo", parent_id="root", inputs={"result": None}),
            t("next", "echo", parent_id="root", dependencies=["echo_none"]),
        ]
    )
    assert tasks["echo_none"].status == "completed" and tasks["echo_none"].result is None
    assert tasks["next"].status == "completed"
    assert tasks["next"].result == {"echo_none": None}
    assert tasks["nothing"].result == {"sum": 3}


def test_priority_orders_ready_tasks_lower_first(run_tree):
    tree, tasks = run_tree(
        [
            t("root", "noop", priority=3),
            t("p3", parent_id="root", priority=3),
            t("p0", parent_id="root", priority=0),
            t("p2", parent_id="root", priority=2),
            t("p1", parent_id="root", priority=1),
        ]
    )
    # root and p3 tie on priority and ready time: creation order decides
    assert started_order(tree) == ["p0", "p1", "p2", "root", "p3"]


def test_priority_never_overrides_a_dependency(run_tree):
    tree, _ = run_tree(
        [
            t("root", "noop", priority=3),
            t("slow_dep", parent_id="root", priority=3),
            t("urgent", parent_id="root", priority=0, dependencies=["slow_dep"]),
        ]
    )
    order = started_order(tree)
    assert order.index("slow_dep") < order.index("urgent")


def test_parent_does_not_affect_order(run_tree):
    # a child can run before its parent; only dependencies order execution
    tree, _ = run_tree(
        [
            t("root", "noop", priority=3),
            t("child", parent_id="root", priority=0),
        ]
    )
    assert started_order(tree) == ["child", "root"]


def test_each_task_runs_once_per_run(run_tree):
    tree, tasks = run_tree(
        [t("root")]
        + [t(f"n{i}", parent_id="root", dependencies=[f"n{i - 1}"] if i else []) for i in range(20)]
    )
    assert tree.status == "completed"
    assert Attempt.objects.filter(tree=tree).count() == 21


@pytest.mark.parametrize(
    "tasks, error, fragment",
    [
        ([t("a", dependencies=["a"])], DependencyCycle, "depends on itself"),
        (
            [t("a"), t("b", parent_id="a", dependencies=["c"]), t("c", parent_id="a", dependencies=["b"])],
            DependencyCycle,
            "b",
        ),
        ([t("a"), t("b", parent_id="a", dependencies=["zzz"])], TreeValidationError, "zzz"),
        ([t("a"), {"name": "a", "executor": "noop", "parent_id": "a"}], TreeValidationError, "a"),
        ([t("a"), t("b")], TreeValidationError, "root"),
        ([t("a", executor="nope")], UnknownExecutor, "nope"),
        ([t("a", priority=7)], TreeValidationError, "priority"),
        ([t("a", status="completed")], TreeValidationError, "status must be 'pending' at creation"),
        ([t("a", result={"x": 1})], TreeValidationError, "read-only"),
    ],
)
def test_invalid_trees_are_rejected_naming_the_problem(tm, tasks, error, fragment):
    with pytest.raises(error) as exc:
        tm.create_tree(tasks)
    assert fragment in exc.value.message
    assert Task.objects.count() == 0


def test_cross_tree_dependency_is_an_unknown_reference(tm):
    other = tm.create_tree([t("x")])
    with pytest.raises(TreeValidationError):
        tm.create_tree([t("a"), t("b", parent_id="a", dependencies=[str(other.id)])])


# --- failure ------------------------------------------------------------------------------------


def test_required_failure_cascades_upstream_failed_and_siblings_continue(run_tree):
    tree, tasks = run_tree(
        [
            t("root", "noop"),
            t("a", "fail", parent_id="root", inputs={"message": "disk full"}),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root", dependencies=["b"]),
            t("d", parent_id="root"),
        ]
    )
    assert tasks["a"].status == "failed" and tasks["a"].error == "disk full"
    for name in ("b", "c"):
        assert tasks[name].status == "cancelled"
        assert tasks[name].error_type == "upstream_failed"
    assert "'a'" in tasks["b"].error and "'b'" in tasks["c"].error
    assert tasks["d"].status == "completed"
    assert tree.status == "failed"
    assert not Attempt.objects.filter(task__name__in=["b", "c"], tree=tree).exists()


def test_non_retryable_unknown_executor_fails_at_once(run_tree, settings):
    tree, tasks = run_tree([t("root", "fail", max_retries=3, inputs={"permanent": True})])
    assert tasks["root"].status == "failed"
    assert Attempt.objects.filter(task=tasks["root"]).count() == 1


def test_exception_retried_then_failed(run_tree, settings):
    settings.ARBOR_DEFAULT_RETRY_DELAY = 0
    tree, tasks = run_tree([t("root", "fail", max_retries=2, retry_delay=0)])
    outcomes = list(Attempt.objects.filter(task=tasks["root"]).values_list("outcome", flat=True))
    assert outcomes == ["failed", "failed", "failed"]
    assert tasks["root"].status == "failed"


def test_cancel_pending_task_cascades(tm, user):
    tree = tm.create_tree(
        [
            t("root"),
            t("a", "sleep", parent_id="root", inputs={"seconds": 5}),
            t("b", parent_id="root", dependencies=["a"]),
        ]
    )
    control.tree_execute(tree=tree, actor=user)
    a = Task.objects.get(tree=tree, name="a")
    control.task_cancel(task=a, actor=user)
    b = Task.objects.get(tree=tree, name="b")
    assert Task.objects.get(id=a.id).status == "cancelled"
    # the root cause is the user's cancel: upstream_cancelled, and the run is cancelled (was: failed)
    assert b.status == "cancelled" and b.error_type == "upstream_cancelled"
    assert b.error == "upstream task 'a' was cancelled"
    run_until_idle()
    tree.refresh_from_db()
    assert tree.status == "cancelled"
    with pytest.raises(InvalidTransition, match="already cancelled"):
        control.task_cancel(task=a, actor=user)


def test_cancel_tree_cancels_every_nonterminal_task(tm, user):
    tree = tm.create_tree([t("root")] + [t(f"c{i}", parent_id="root") for i in range(3)])
    control.tree_execute(tree=tree, actor=user)
    control.tree_cancel(tree=tree, actor=user)
    tree.refresh_from_db()
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"cancelled"}
    assert tree.status == "cancelled"


def test_execute_twice_is_refused(tm, user):
    tree = tm.create_tree([t("root")])
    control.tree_execute(tree=tree, actor=user)
    with pytest.raises(AlreadyRunning):
        control.tree_execute(tree=tree, actor=user)


# --- re-execution -------------------------------------------------------------------------------


def test_retry_in_place_reruns_failed_and_blocked_only(run_tree, user):
    tree, tasks = run_tree(
        [
            t("root", "noop"),
            t("ok", "echo", parent_id="root", inputs={"result": 1}),
            t("bad", "fail", parent_id="root"),
            t("after", parent_id="root", dependencies=["bad", "ok"]),
        ]
    )
    assert tree.status == "failed"
    Task.objects.filter(id=tasks["bad"].id).update(executor="noop")  # "fix" it
    control.task_retry(task=tasks["bad"], actor=user)
    run_until_idle()
    tree.refresh_from_db()
    assert tree.status == "completed"
    assert Attempt.objects.filter(task=tasks["ok"]).count() == 1  # completed tasks not re-run
    assert Attempt.objects.filter(task=tasks["bad"]).count() == 2  # history kept
    assert Task.objects.get(id=tasks["after"].id).status == "completed"


def test_rerun_from_a_task_clears_downstream(run_tree, user):
    tree, tasks = run_tree(
        [
            t("root", "noop"),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root", dependencies=["b"]),
        ]
    )
    control.task_rerun(task=tasks["b"], actor=user)
    run_until_idle()
    counts = {n: Attempt.objects.filter(task=tasks[n]).count() for n in "abc"}
    assert counts == {"a": 1, "b": 2, "c": 2}


# --- tree status and events -----------------------------------------------------------------------


def test_tree_status_lifecycle_and_event_sequence(tm, user):
    tree = tm.create_tree([t("root"), t("a", parent_id="root")])
    assert tree.status == "pending"
    control.tree_execute(tree=tree, actor=user)
    tree.refresh_from_db()
    assert tree.status == "in_progress"
    run_until_idle()
    tree.refresh_from_db()
    assert tree.status == "completed"
    seqs = list(Event.objects.filter(tree=tree).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert tree.last_seq == seqs[-1]
    kinds = list(Event.objects.filter(tree=tree).values_list("kind", flat=True))
    assert kinds[0] == "tree.created" and kinds[-1] == "tree.status"


def test_rolled_back_transaction_leaves_no_event(tm, user):
    from django.db import transaction

    tree = tm.create_tree([t("root")])
    before = Event.objects.filter(tree=tree).count()
    with pytest.raises(RuntimeError), transaction.atomic():
        control.tree_execute(tree=tree, actor=user)
        raise RuntimeError("boom")
    tree.refresh_from_db()
    assert Event.objects.filter(tree=tree).count() == before
    assert tree.last_seq == before and tree.status == "pending"


def test_execute_child_runs_only_its_upstream(run_tree, tm):
    tree, tasks = run_tree(
        [
            t("root", dependencies=["b"]),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
            t("unrelated", parent_id="root"),
        ],
        execute=False,
    )
    tm.execute(tasks["b"].id)
    run_until_idle()
    status = dict(Task.objects.filter(tree=tree).values_list("name", "status"))
    assert status == {"root": "pending", "a": "completed", "b": "completed", "unrelated": "pending"}
    tree.refresh_from_db()
    assert tree.status == "completed"
