"""Attempts and events: a read-only, complete audit trail."""

import pytest

from tasks_app.models import Attempt, Event

from .utils import change, changelist, run_action

pytestmark = pytest.mark.django_db


def test_attempt_admin_lists_and_shows_attempts_read_only(client, operator, failed_tree):
    _tree, tasks = failed_tree
    attempt = Attempt.objects.get(task=tasks["side"])
    listing = client.get(changelist("attempt"))
    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 3  # root, flaky, side ran; after never did
    assert listing.context["action_form"] is None  # not even "delete selected"
    assert len(client.get(changelist("attempt") + "?outcome__exact=failed").context["cl"].result_list) == 1
    by_task = client.get(changelist("attempt"), {"task": str(tasks["side"].id)})
    assert [a.id for a in by_task.context["cl"].result_list] == [attempt.id]
    page = client.get(change("attempt", attempt.id))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    html = page.content.decode()
    assert "&quot;x&quot;: 1" in html  # effective inputs
    assert attempt.worker in html
    assert client.post(change("attempt", attempt.id), {"outcome": "completed"}).status_code == 403
    assert client.get(changelist("attempt") + "add/").status_code == 403
    assert client.get(change("attempt", attempt.id) + "delete/").status_code == 403
    assert client.post(change("attempt", attempt.id) + "delete/", {"post": "yes"}).status_code == 403
    assert Attempt.objects.filter(id=attempt.id).exists()


def test_event_admin_is_read_only(client, operator, failed_tree):
    tree, _tasks = failed_tree
    event = Event.objects.filter(tree=tree).first()
    listing = client.get(changelist("event"))
    assert listing.status_code == 200 and listing.context["action_form"] is None
    page = client.get(change("event", event.id))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.post(change("event", event.id), {"kind": "forged"}).status_code == 403
    assert client.get(changelist("event") + "add/").status_code == 403
    assert client.post(change("event", event.id) + "delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.get(id=event.id).kind == event.kind


def test_event_history_of_a_task_and_a_tree_with_actor_and_source(client, operator, failed_tree, user):
    tree, tasks = failed_tree
    run_action(client, "task", "retry_tasks", [tasks["flaky"]])
    of_task = client.get(changelist("event"), {"task": str(tasks["flaky"].id)})
    rows = of_task.context["cl"].result_list
    assert {e.task_id for e in rows} == {tasks["flaky"].id}
    kinds = [e.kind for e in rows]
    assert "task.retry" in kinds and "task.status" in kinds
    html = of_task.content.decode()
    assert f'href="{change("task", tasks["flaky"].id)}">flaky</a>' in html
    by_admin = client.get(changelist("event"), {"tree": str(tree.id), "source": "admin"})
    assert by_admin.context["cl"].result_list and all(
        e.source == "admin" and e.actor_id == operator.id for e in by_admin.context["cl"].result_list
    )
    by_creator = client.get(changelist("event"), {"tree": str(tree.id), "kind": "tree.created"})
    (created,) = by_creator.context["cl"].result_list
    assert created.actor_id == user.id and created.source == "python"
    searched = client.get(changelist("event"), {"q": operator.username})
    assert {e.actor_id for e in searched.context["cl"].result_list} == {operator.id}
    # the task page's history table and its link to the full list
    detail = client.get(change("task", tasks["flaky"].id)).content.decode()
    assert "task.retry" in detail and f"<td>{operator.username}</td><td>admin</td>" in detail
