"""services.control's "can I?" checks: one per action, used by the action itself and the admin."""

import pytest

from tasks_app.exceptions import AlreadyRunning, ArchivedTask, InvalidTransition, PermissionDenied
from tasks_app.models import AuditEvent, Task, Tree
from tasks_app.services import control
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def failed_tree(tm):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("a", "fail", parent_id="root", max_retries=0),
            t("b", "echo", parent_id="root", dependencies=["a"], inputs={"x": 1}),
        ]
    )
    control.tree_execute(tree=tree)
    run_until_idle(hard_kill=False, timeout=30)
    tree.refresh_from_db()
    return tree


def names(verdict):
    return [row["name"] for row in verdict.tasks]


def test_execute_check_lists_the_pending_tasks_in_creation_order(tm, user):
    tree = tm.create_tree([t("r"), t("a", parent_id="r"), t("b", parent_id="r")])
    verdict = control.execute_check(user, tree)
    assert verdict.allowed and names(verdict) == ["r", "a", "b"] and verdict.reason == ""
    assert verdict.as_dict()["allowed"] is True and verdict.as_dict()["code"] == ""
    assert Tree.objects.get(id=tree.id).status == "pending"  # a check writes nothing


def test_execute_check_refuses_what_tree_execute_refuses(tm, user):
    tree = tm.create_tree([t("r")])
    control.tree_execute(tree=tree, actor=user)
    tree.refresh_from_db()
    verdict = control.execute_check(user, tree)
    assert not verdict.allowed and isinstance(verdict.refusal, AlreadyRunning)
    assert (
        verdict.reason == "tree 'r' is already executing" and verdict.as_dict()["code"] == "already_executing"
    )
    with pytest.raises(AlreadyRunning, match=verdict.reason):
        control.tree_execute(tree=tree, actor=user)
    run_until_idle(hard_kill=False, timeout=30)
    tree.refresh_from_db()
    verdict = control.execute_check(user, tree)
    assert isinstance(verdict.refusal, InvalidTransition) and "nothing to run" in verdict.reason
    assert control.execute_check(user, tree, fresh=True).allowed  # a fresh run starts over


def test_execute_check_names_a_missing_executor_grant_without_auditing(tm, user, django_user_model):
    other = django_user_model.objects.create_user("bob", password="pw-bob-12345")
    tree = tm.create_tree([t("r")])
    Task.objects.filter(id=tree.id).update(executor="shell_command")
    verdict = control.execute_check(other, tree)
    assert isinstance(verdict.refusal, PermissionDenied) and "use_shell_command" in verdict.reason
    assert not AuditEvent.objects.filter(kind="permission_denied").exists()
    with pytest.raises(PermissionDenied, match="use_shell_command"):
        control.tree_execute(tree=tree, actor=other)
    assert AuditEvent.objects.filter(kind="permission_denied").count() == 1  # the action audits


def test_cancel_check(tm, user):
    tree = tm.create_tree([t("r"), t("a", parent_id="r")])
    assert names(control.cancel_check(user, tree)) == ["r", "a"]
    control.tree_cancel(tree=tree, actor=user)
    tree.refresh_from_db()
    verdict = control.cancel_check(user, tree)
    assert verdict.reason == "tree 'r' has nothing to cancel: every task is finished"
    with pytest.raises(InvalidTransition, match="nothing to cancel"):
        control.tree_cancel(tree=tree, actor=user)


def test_retry_check_lists_the_failed_task_and_what_it_blocked(tm, user):
    tree = failed_tree(tm)
    verdict = control.retry_check(user, tree)
    assert verdict.allowed and names(verdict) == ["a", "b", "root"]
    done = control.tree_retry(tree=tree, actor=user)
    assert done.status == "in_progress"
    pending = set(Task.objects.filter(tree=tree, status="pending").values_list("name", flat=True))
    assert pending == set(names(verdict))


def test_retry_check_refuses_a_tree_without_failures(tm, user):
    tree = tm.create_tree([t("r")])
    verdict = control.retry_check(user, tree)
    assert verdict.reason == "tree 'r' has no failed or cancelled task to retry"
    with pytest.raises(InvalidTransition, match=verdict.reason):
        verdict.check()


def test_every_check_refuses_an_archived_tree(tm, user):
    tree = tm.create_tree([t("r")])
    Tree.objects.filter(id=tree.id).update(archived=True)
    tree.refresh_from_db()
    for action in ("execute", "cancel", "retry"):
        verdict = control.tree_check(user, tree, action)
        assert isinstance(verdict.refusal, ArchivedTask), action
    assert isinstance(control.task_check(user, Task.objects.get(id=tree.id), "cancel").refusal, ArchivedTask)
    with pytest.raises(InvalidTransition, match="unknown action"):
        control.tree_check(user, tree, "explode")


def test_task_check_matches_the_preview_and_the_action(tm, user):
    tree = failed_tree(tm)
    a = Task.objects.get(tree=tree, name="a")
    verdict = control.task_check(user, a, "retry")
    assert names(verdict) == [r["name"] for r in control.preview(task=a, action="retry")["tasks"]]
    root = Task.objects.get(id=tree.id)
    refused = control.task_check(user, root, "retry")
    assert (
        not refused.allowed and refused.reason == "task 'root' cannot run until upstream task 'b' is retried"
    )
    assert control.task_check(user, a, "mark_success").allowed
