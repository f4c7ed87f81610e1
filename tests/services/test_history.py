"""Run records (docs/semantics.md "Run records") and the truthful tree status (SEMANTICS "Tree
status"): each way of starting a run makes one record, finished with the tree's outcome, holding
the attempts it made."""

import json
from pathlib import Path

import pytest

from tasks_app.models import Attempt, Run, Task
from tasks_app.services import control
from tasks_app.services.copying import task_copy
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db(transaction=False)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def drain():
    run_until_idle(hard_kill=False, timeout=30)


def runs_of(tree):
    return list(Run.objects.filter(tree=tree).order_by("number"))


def test_execute_makes_one_finished_run_with_its_attempts(tm, user):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("a", parent_id="root"),
            t("b", parent_id="root", dependencies=["a"]),
        ]
    )
    control.tree_execute(tree=tree, actor=user, source="api")
    (run,) = runs_of(tree)
    assert (run.number, run.trigger, run.source, run.started_by, run.status) == (
        1,
        "execute",
        "api",
        user,
        "in_progress",
    )
    assert run.scope == 3 and run.finished_at is None
    drain()
    run.refresh_from_db()
    tree.refresh_from_db()
    assert run.status == tree.status == "completed"
    assert run.finished_at == tree.finished_at and run.handled_failures == 0
    assert run.counts["tasks"] == {"completed": 3} and run.counts["attempts"] == 3
    assert Attempt.objects.filter(tree=tree, run=run).count() == 3


def test_retry_after_the_end_is_run_two_and_keeps_run_one(tm, user):
    tree = tm.create_tree(
        [t("root", dependencies=["flaky"]), t("flaky", "fail", parent_id="root", max_retries=0)]
    )
    control.tree_execute(tree=tree, actor=user)
    drain()
    tree.refresh_from_db()
    assert tree.status == "failed"
    Task.objects.filter(tree=tree, name="flaky").update(executor="noop")
    control.tree_retry(tree=tree, actor=user, source="ui")
    drain()
    one, two = runs_of(tree)
    assert (one.status, one.trigger) == ("failed", "execute")
    assert (two.number, two.status, two.trigger, two.source) == (2, "completed", "retry", "ui")
    assert one.counts["attempt_outcomes"] == {"failed": 1}
    # run 2 holds only what it ran: flaky's second attempt and root
    assert sorted(a.task.name for a in Attempt.objects.filter(run=two)) == ["flaky", "root"]
    assert [a.task.name for a in Attempt.objects.filter(run=one)] == ["flaky"]
    assert two.started_at >= one.finished_at


def test_rerun_from_here_makes_a_run_with_its_target(tm, user):
    tree = tm.create_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])])
    control.tree_execute(tree=tree, actor=user)
    drain()
    b = Task.objects.get(tree=tree, name="b")
    control.task_rerun(task=b, actor=user)
    drain()
    runs = runs_of(tree)
    assert [(r.number, r.trigger, r.status) for r in runs] == [
        (1, "execute", "completed"),
        (2, "rerun", "completed"),
    ]
    assert runs[1].target_task_id == b.id and runs[1].scope == 1
    assert [a.task.name for a in Attempt.objects.filter(run=runs[1])] == ["b"]


def test_copy_and_run_is_the_first_run_of_the_copy(tm, user):
    tree = tm.create_tree([t("root"), t("a", parent_id="root")])
    control.tree_execute(tree=tree, actor=user)
    drain()
    copy = task_copy(task=Task.objects.get(tree=tree, name="root"), mode="full", save=True, actor=user)
    copy_tree = copy if hasattr(copy, "run_count") else copy.tree
    control.tree_execute(tree=copy_tree, actor=user)
    drain()
    (run,) = runs_of(copy_tree)
    assert (run.number, run.trigger, run.status) == (1, "copy", "completed")
    assert len(runs_of(tree)) == 1  # the original keeps its one run
    # executing the copy again is an ordinary execute
    control.task_rerun(task=Task.objects.get(tree=copy_tree, name="root"), actor=user)
    drain()
    assert [r.trigger for r in runs_of(copy_tree)] == ["copy", "rerun"]


def test_retry_while_the_run_is_in_progress_joins_it(tm, user):
    tree = tm.create_tree(
        [
            t("root"),
            t("slow", "sleep", parent_id="root", inputs={"seconds": 30}),
            t("flaky", "fail", parent_id="root", max_retries=0),
        ]
    )
    control.tree_execute(tree=tree, actor=user)
    flaky = Task.objects.get(tree=tree, name="flaky")
    control.task_cancel(task=flaky, actor=user)
    control.task_retry(task=flaky, actor=user)  # slow is still pending: the run goes on
    assert len(runs_of(tree)) == 1


def test_cancelling_one_running_task_cancels_the_run_not_fails_it(tm, user):
    tree = tm.create_tree(
        [
            t("root", dependencies=["b"]),
            t("a", "sleep", parent_id="root", inputs={"seconds": 30}),
            t("b", parent_id="root", dependencies=["a"]),
        ]
    )
    control.tree_execute(tree=tree, actor=user)
    control.task_cancel(task=Task.objects.get(tree=tree, name="a"), actor=user)
    drain()
    tree.refresh_from_db()
    tasks = {x.name: x for x in Task.objects.filter(tree=tree)}
    assert tree.status == "cancelled"
    assert (tasks["b"].error_type, tasks["root"].error_type) == ("upstream_cancelled", "upstream_cancelled")
    assert runs_of(tree)[0].status == "cancelled"


def test_conditional_fallback_example_completes_with_one_handled_failure(tm, user):
    tree = tm.create_tree(json.loads((EXAMPLES / "conditional_fallback.json").read_text()))
    control.tree_execute(tree=tree, actor=user)
    drain()
    tree.refresh_from_db()
    tasks = {x.name: x.status for x in Task.objects.filter(tree=tree)}
    assert tasks == {
        "fetch_prices": "completed",
        "primary": "failed",
        "fallback": "completed",
        "final": "completed",
    }
    assert (tree.status, tree.handled_failures) == ("completed", 1)
    (run,) = runs_of(tree)
    assert (run.status, run.handled_failures) == ("completed", 1)
    # the tree.status event carries the count for live clients
    event = tree.events.filter(kind="tree.status").order_by("-seq").first()
    assert event.data == {"status": "completed", "handled_failures": 1}


def test_a_required_chain_failure_fails_the_run(run_tree):
    tree, tasks = run_tree(
        [
            t("root", dependencies=["c"]),
            t("a", "fail", parent_id="root", max_retries=0),
            t("b", parent_id="root", dependencies=["a"]),
            t("c", parent_id="root", dependencies=["b"]),
        ]
    )
    assert tree.status == "failed" and tree.handled_failures == 0
    assert {tasks[n].error_type for n in ("b", "c", "root")} == {"upstream_failed"}


def test_migration_gives_each_tree_that_ran_one_legacy_run_with_its_recorded_history(tm, user):
    import importlib

    from django.apps import apps

    from tasks_app.models import Tree

    migration = importlib.import_module("tasks_app.migrations.0009_run_records")
    ran = tm.create_tree([t("root"), t("flaky", "fail", parent_id="root", max_retries=0)])
    control.tree_execute(tree=ran, actor=user)
    drain()
    never = tm.create_tree([t("idle")])
    # as before run records: no runs, attempts without one, a status recorded by the old rule
    Attempt.objects.update(run=None)
    Run.objects.all().delete()
    Tree.objects.filter(id=ran.id).update(status="failed")
    migration.legacy_runs(apps, None)
    (run,) = runs_of(ran)
    ran.refresh_from_db()
    assert (run.number, run.trigger, run.status, run.finished_at) == (1, "legacy", "failed", ran.finished_at)
    assert Attempt.objects.filter(tree=ran, run=run).count() == Attempt.objects.filter(tree=ran).count() == 2
    assert ran.status == "failed"  # nothing recomputed: the recorded history stays
    assert runs_of(never) == []
    # the next run of that tree is run 2
    control.task_rerun(task=Task.objects.get(tree=ran, name="root"), actor=user)
    drain()
    assert [r.number for r in runs_of(ran)] == [1, 2]
