"""Every admin action, driven through the admin's own views: confirmation page, then the POST that
calls the service; each leaves Event rows naming the operator with source="admin"."""

import importlib.util

import pytest

from tasks_app.models import Event, Task, Tree
from tasks_app.worker.loop import run_until_idle

from .utils import admin_events, change, changelist, messages_of, run_action

pytestmark = pytest.mark.django_db

HAS_COPYING = importlib.util.find_spec("tasks_app.services.copying") is not None
needs_copying = pytest.mark.skipif(not HAS_COPYING, reason="tasks_app.services.copying is not written yet")


def names(page):
    return [row["name"] for plan in page.context["plans"] for row in plan.tasks]


# --- task actions --------------------------------------------------------------------------------


def test_retry_in_place_lists_tasks_then_retries_and_records_the_operator(client, operator, failed_tree):
    tree, tasks = failed_tree
    page, done = run_action(client, "task", "retry_tasks", [tasks["flaky"]])
    assert names(page) == ["flaky", "after"]
    assert b"Retry will touch 2 tasks" in page.content
    assert done.status_code == 200 and done.redirect_chain[-1][0] == changelist("task")
    assert any("retried in place (2 task(s) back to pending)" in m for m in messages_of(done))
    for name in ("flaky", "after"):
        assert Task.objects.get(id=tasks[name].id).status == "pending"
    assert Task.objects.get(id=tasks["side"].id).status == "completed"
    retry = admin_events(operator, kind="task.retry").get()
    assert retry.task_id == tasks["flaky"].id and retry.tree_id == tree.id
    assert admin_events(operator, kind="task.status", data__status="pending").count() == 2
    assert not Event.objects.filter(source="admin").exclude(actor=operator).exists()


def test_rerun_from_here_puts_the_task_and_its_downstream_back(client, operator, run_tree):
    from .utils import t

    tree, tasks = run_tree(
        [t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])]
    )
    assert tasks["a"].status == "completed"
    page, done = run_action(client, "task", "rerun_tasks", [tasks["a"]])
    assert names(page) == ["a", "b"]
    assert any("re-running from here" in m for m in messages_of(done))
    assert admin_events(operator, kind="task.rerun", task_id=tasks["a"].id).count() == 1
    run_until_idle(hard_kill=False, timeout=30)
    assert Task.objects.get(id=tasks["b"].id).attempt_count == 2


def test_cancel_pending_task_cascades_and_records_the_operator(client, operator, pending_tree, tm):
    tree, tasks = pending_tree
    tm.execute(tree.id)  # workers are not run: p1 stays pending (ready), p2 waits for it
    page, done = run_action(client, "task", "cancel_tasks", [tasks["p1"]])
    assert names(page) == ["p1", "p2"]
    assert Task.objects.get(id=tasks["p1"].id).status == "cancelled"
    assert Task.objects.get(id=tasks["p2"].id).error_type == "upstream_cancelled"  # a cancel is not a failure
    event = admin_events(operator, kind="task.status", task_id=tasks["p1"].id).get()
    assert event.data["status"] == "cancelled" and f"by {operator.username}" in event.data["error"]


def test_refusal_is_shown_on_the_confirmation_page_and_as_an_error_message(client, operator, failed_tree):
    _tree, tasks = failed_tree
    page, done = run_action(client, "task", "retry_tasks", [tasks["side"], tasks["flaky"]])
    plans = {p.obj.name: p for p in page.context["plans"]}
    assert "only failed or cancelled tasks can be retried" in plans["side"].refusal
    assert not plans["flaky"].refusal
    # the confirmation form only carries what was allowed
    assert page.content.count(b'name="_selected_action"') == 1
    # a stale confirmation (state changed in between) is an error message, never a 500
    stale = client.post(
        changelist("task"),
        {"action": "cancel_tasks", "_selected_action": [str(tasks["side"].id)], "post": "yes"},
        follow=True,
    )
    assert stale.status_code == 200
    assert any("Task 'side': task 'side' is already completed" in m for m in messages_of(stale))
    assert not admin_events(operator, kind="task.status", task_id=tasks["side"].id).exists()


def test_retry_of_a_task_blocked_upstream_is_refused(client, operator, failed_tree):
    _tree, tasks = failed_tree
    page, _done = run_action(client, "task", "retry_tasks", [tasks["after"]])
    assert "cannot run until upstream task 'flaky' is retried" in page.context["plans"][0].refusal


def test_object_buttons_post_to_the_action_and_return_to_the_object(client, operator, failed_tree):
    _tree, tasks = failed_tree
    url = change("task", tasks["flaky"].id)
    detail = client.get(url)
    assert ("retry_tasks", "Retry in place") in detail.context["arbor_object_actions"]
    data = {"action": "retry_tasks", "_selected_action": [str(tasks["flaky"].id)], "_return_to": url}
    page = client.post(changelist("task"), data)
    assert b'name="_return_to"' in page.content
    done = client.post(changelist("task"), {**data, "post": "yes"})
    assert done.status_code == 302 and done["Location"] == url
    # an off-site return target is ignored
    evil = client.post(changelist("task"), {**data, "_return_to": "https://evil.example/", "post": "yes"})
    assert evil["Location"] == changelist("task")


def test_actions_need_change_permission(client, django_user_model, failed_tree):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_task", content_type__app_label="tasks_app")
    )
    client.force_login(viewer)
    _tree, tasks = failed_tree
    listing = client.get(changelist("task"))
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action is offered without change permission
    client.post(
        changelist("task"),
        {"action": "retry_tasks", "_selected_action": [str(tasks["flaky"].id)], "post": "yes"},
    )
    assert Task.objects.get(id=tasks["flaky"].id).status == "failed"
    assert not Event.objects.filter(source="admin").exists()


# --- tree actions --------------------------------------------------------------------------------


def test_execute_tree(client, operator, pending_tree):
    tree, _tasks = pending_tree
    page, done = run_action(client, "tree", "execute_trees", [tree])
    assert names(page) == ["proot", "p1", "p2"]
    assert any("started (run 1)" in m for m in messages_of(done))
    assert Tree.objects.get(id=tree.id).status == "in_progress"
    assert admin_events(operator, kind="tree.status", tree=tree, data__status="in_progress").exists()
    run_until_idle(hard_kill=False, timeout=30)
    assert Tree.objects.get(id=tree.id).status == "completed"


def test_execute_running_tree_is_refused(client, operator, pending_tree, tm):
    tree, _tasks = pending_tree
    tm.execute(tree.id)
    page, done = run_action(client, "tree", "execute_trees", [tree])
    assert "already executing" in page.context["plans"][0].refusal
    assert any("already executing" in m for m in messages_of(done))


def test_cancel_tree(client, operator, pending_tree):
    tree, _tasks = pending_tree
    page, _done = run_action(client, "tree", "cancel_trees", [tree])
    assert names(page) == ["proot", "p1", "p2"]
    assert set(Task.objects.filter(tree=tree).values_list("status", flat=True)) == {"cancelled"}
    assert admin_events(operator, kind="task.status", tree=tree, data__status="cancelled").count() == 3


def test_retry_tree(client, operator, failed_tree):
    tree, tasks = failed_tree
    page, _done = run_action(client, "tree", "retry_trees", [tree])
    assert names(page) == ["flaky", "after"]
    assert admin_events(operator, kind="tree.retry", tree=tree).count() == 1
    assert Task.objects.get(id=tasks["flaky"].id).status == "pending"


@needs_copying
@pytest.mark.parametrize("mode", ["minimal", "full"])
def test_copy_and_run(client, operator, failed_tree, mode):
    tree, tasks = failed_tree
    before = set(Tree.objects.values_list("id", flat=True))
    page, done = run_action(client, "task", f"copy_run_{mode}", [tasks["flaky"]])
    assert "flaky" in names(page)
    assert any(f"copied ({mode})" in m for m in messages_of(done)), messages_of(done)
    (copy_id,) = set(Tree.objects.values_list("id", flat=True)) - before
    copy = Tree.objects.get(id=copy_id)
    assert copy.status == "in_progress"
    assert Task.objects.get(id=tasks["flaky"].id).status == "failed"  # the original is untouched
    assert admin_events(operator, tree=copy, kind="tree.status", data__status="in_progress").exists()
    copied = Task.objects.get(tree=copy, original_task=tasks["flaky"])
    assert copied.origin_type == "copy"
    # lineage both ways on the detail pages
    assert (
        f'href="{change("task", tasks["flaky"].id)}">flaky in tree'
        in client.get(change("task", copied.id)).content.decode()
    )
    assert (
        f'href="{change("task", copied.id)}">'
        in client.get(change("task", tasks["flaky"].id)).content.decode()
    )


@needs_copying
def test_copy_and_run_from_the_tree_list(client, operator, failed_tree):
    tree, _tasks = failed_tree
    _page, done = run_action(client, "tree", "copy_run_full", [tree])
    assert any("copied (full)" in m for m in messages_of(done)), messages_of(done)
    assert Tree.objects.filter(original_tree=tree).exists()


@needs_copying
def test_archive_makes_a_read_only_snapshot(client, operator, failed_tree):
    tree, tasks = failed_tree
    page, done = run_action(client, "tree", "archive", [tree])
    assert names(page) == ["root", "flaky", "after", "side"]
    assert any("archived as tree" in m for m in messages_of(done)), messages_of(done)
    archive = Tree.objects.get(original_tree=tree, archived=True)
    assert Task.objects.filter(tree=archive, origin_type="archive").count() == 4
    assert Event.objects.filter(tree=archive, source="admin", actor=operator).exists()
    # the archive itself is read-only in the admin
    page, done = run_action(client, "tree", "retry_trees", [archive])
    assert "archived and read-only" in page.context["plans"][0].refusal
    assert any("archived and read-only" in m for m in messages_of(done))


def test_copy_actions_fail_softly_without_the_copying_service(client, operator, failed_tree, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_copying(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "tasks_app.services" and fromlist and "copying" in fromlist:
            raise ImportError("copying")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_copying)
    _tree, tasks = failed_tree
    page, done = run_action(client, "task", "copy_run_minimal", [tasks["flaky"]])
    assert "copying is not available" in page.context["plans"][0].refusal
    assert any("copying is not available" in m for m in messages_of(done))


# --- archived trees ------------------------------------------------------------------------------


def test_archived_tree_refuses_every_action_and_has_no_buttons(client, operator, failed_tree):
    tree, tasks = failed_tree
    Tree.objects.filter(id=tree.id).update(archived=True)  # arrange: as an archive would be
    events_before = Event.objects.count()
    for action in ("retry_tasks", "rerun_tasks", "cancel_tasks"):
        page, done = run_action(client, "task", action, [tasks["flaky"]])
        assert "archived and read-only" in page.context["plans"][0].refusal
        assert any("archived and read-only" in m for m in messages_of(done))
    page, _done = run_action(client, "tree", "execute_trees", [tree])
    assert "archived and read-only" in page.context["plans"][0].refusal
    assert Event.objects.count() == events_before
    assert Task.objects.get(id=tasks["flaky"].id).status == "failed"
    detail = client.get(change("task", tasks["flaky"].id))
    assert detail.context["arbor_object_actions"] == []
    assert b"archived: read-only" in detail.content
    assert client.get(change("tree", tree.id)).context["arbor_object_actions"] == []


def test_too_many_selected_objects_are_refused(client, operator, failed_tree, monkeypatch):
    from tasks_app.admin import actions

    monkeypatch.setattr(actions, "MAX_SELECTED", 1)
    _tree, tasks = failed_tree
    response = client.post(
        changelist("task"),
        {"action": "retry_tasks", "_selected_action": [str(tasks["flaky"].id), str(tasks["after"].id)]},
        follow=True,
    )
    assert "select at most 1 objects for this action" in messages_of(response)
    assert not Event.objects.filter(source="admin").exists()


def test_mark_success_lists_what_it_releases_and_completes_the_tree(client, operator, failed_tree):
    tree, tasks = failed_tree
    page, done = run_action(client, "task", "mark_success_tasks", [tasks["flaky"]])
    assert names(page) == ["flaky", "after"]
    assert any("marked success (1 blocked task(s) back to pending)" in m for m in messages_of(done))
    flaky = Task.objects.get(id=tasks["flaky"].id)
    assert flaky.status == "completed" and flaky.result == {
        "marked": "success",
        "by": operator.get_username(),
    }
    assert admin_events(operator, kind="task.marked", task_id=flaky.id).count() == 1
    run_until_idle(hard_kill=False, timeout=30)
    tree.refresh_from_db()
    assert tree.status == "completed"


def test_skip_a_pending_task(client, operator, pending_tree):
    tree, tasks = pending_tree
    some = next(x for x in tasks.values() if x.id != tree.id)
    page, done = run_action(client, "task", "skip_tasks", [some])
    assert any("marked skipped" in m for m in messages_of(done))
    assert Task.objects.get(id=some.id).result["marked"] == "skipped"
