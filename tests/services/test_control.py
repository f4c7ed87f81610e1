"""Mark success and skip (docs/semantics.md "Mark success and skip"): a task completed by the
user's word releases what it blocked, feeds no inputs, and the run's record stays truthful."""

import pytest

from tasks_app.exceptions import ArchivedTask, InvalidTransition
from tasks_app.models import Attempt, Event, Run, Task, Tree
from tasks_app.services import control
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db(transaction=False)


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def drain():
    run_until_idle(hard_kill=False, timeout=30)


def tasks_of(tree):
    return {x.name: x for x in Task.objects.filter(tree=tree)}


def failed_tree(tm, user):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("a", "fail", parent_id="root", max_retries=0),
            t("b", "echo", parent_id="root", dependencies=["a"], inputs={"own": 1}),
        ]
    )
    control.tree_execute(tree=tree, actor=user)
    drain()
    tree.refresh_from_db()
    assert tree.status == "failed"
    assert tasks_of(tree)["b"].error_type == "upstream_failed"
    return tree


def test_mark_success_of_a_failed_task_runs_its_fallout_and_completes_the_tree(tm, user):
    tree = failed_tree(tm, user)
    a = tasks_of(tree)["a"]
    control.task_mark(task=a, mark="success", actor=user, source="api")
    drain()
    tree.refresh_from_db()
    tasks = tasks_of(tree)
    assert tree.status == "completed"
    assert {n: x.status for n, x in tasks.items()} == {
        "root": "completed",
        "a": "completed",
        "b": "completed",
    }
    assert tasks["a"].result == {"marked": "success", "by": user.get_username()}
    assert (
        tasks["a"].error_type is None
        and tasks["a"].progress_message == f"marked success by {user.get_username()}"
    )
    # the marked task feeds nothing: b got only its own inputs
    attempt = Attempt.objects.get(task=tasks["b"])
    assert attempt.effective_inputs == {"own": 1}
    runs = list(Run.objects.filter(tree=tree).order_by("number"))
    assert [(r.trigger, r.status) for r in runs] == [("execute", "failed"), ("mark", "completed")]
    assert runs[1].target_task_id == a.id
    assert Event.objects.filter(tree_id=tree.id, kind="task.marked").count() == 1


def test_mark_success_of_a_failed_leaf_recomputes_the_outcome(tm, user):
    tree = tm.create_tree([t("root"), t("a", "fail", parent_id="root", max_retries=0)])
    control.tree_execute(tree=tree, actor=user)
    drain()
    tree.refresh_from_db()
    assert tree.status == "failed"
    control.task_mark(task=tasks_of(tree)["a"], mark="success", actor=user)
    drain()
    tree.refresh_from_db()
    assert tree.status == "completed"
    assert [r.status for r in Run.objects.filter(tree=tree).order_by("number")] == ["failed", "completed"]


def test_skip_a_pending_task_lets_dependents_run_without_its_result(tm, user):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("a", "sleep", parent_id="root", inputs={"seconds": 30}),
            t("b", "echo", parent_id="root", dependencies=["a"], inputs={"own": 2}),
        ]
    )
    a = tasks_of(tree)["a"]
    control.task_mark(task=a, mark="skipped", actor=user)  # the tree has not run: only marked
    tree.refresh_from_db()
    assert tree.status == "pending" and not Run.objects.filter(tree=tree).exists()
    control.tree_execute(tree=tree, actor=user)
    drain()
    tree.refresh_from_db()
    tasks = tasks_of(tree)
    assert tree.status == "completed"
    assert tasks["a"].result == {"marked": "skipped", "by": user.get_username()}
    assert not Attempt.objects.filter(task=tasks["a"]).exists()
    assert Attempt.objects.get(task=tasks["b"]).effective_inputs == {"own": 2}


def test_skip_a_pending_task_of_a_running_tree_joins_the_run(tm, user):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("gate", "sleep", parent_id="root", inputs={"seconds": 30}),
            t("a", parent_id="root", dependencies=["gate"]),
            t("b", parent_id="root", dependencies=["a"]),
        ]
    )
    control.tree_execute(tree=tree, actor=user)
    control.task_mark(task=tasks_of(tree)["gate"], mark="skipped", actor=user)
    drain()
    tree.refresh_from_db()
    assert tree.status == "completed"
    assert Run.objects.filter(tree=tree).count() == 1


def test_refusals(tm, user):
    tree = tm.create_tree([t("root"), t("a", parent_id="root")])
    control.tree_execute(tree=tree, actor=user)
    drain()
    a = tasks_of(tree)["a"]
    with pytest.raises(InvalidTransition, match="only failed, cancelled or pending"):
        control.task_mark(task=a, mark="success", actor=user)
    Task.objects.filter(id=a.id).update(status="in_progress")
    with pytest.raises(InvalidTransition, match="cancel it first"):
        control.task_mark(task=a, mark="skipped", actor=user)
    Task.objects.filter(id=a.id).update(status="failed")
    Tree.objects.filter(id=tree.id).update(archived=True)
    with pytest.raises(ArchivedTask):
        control.task_mark(task=a, mark="success", actor=user)


def test_preview_lists_the_task_and_what_it_releases(tm, user):
    tree = failed_tree(tm, user)
    a = tasks_of(tree)["a"]
    for action in ("mark_success", "skip"):
        names = [x["name"] for x in control.preview(task=a, action=action)["tasks"]]
        assert names == ["a", "b", "root"]
