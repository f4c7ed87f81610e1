"""Task and tree admin pages: columns, filters, search, detail links, bounded query counts."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks_app.models import Task, Tree

from .utils import change, changelist, t

pytestmark = pytest.mark.django_db


def listed(response):
    return sorted(o.name for o in response.context["cl"].result_list)


# --- task changelist ------------------------------------------------------------------------------


def test_task_list_shows_status_text_tree_link_attempts_and_duration(client, operator, failed_tree):
    tree, tasks = failed_tree
    page = client.get(changelist("task"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "✖ failed" in html and "✔ completed" in html and "⊘ cancelled" in html
    assert f'href="{change("tree", tree.id)}"' in html
    row = next(o for o in page.context["cl"].result_list if o.name == "flaky")
    assert row.attempt_count == 1
    assert " s</td>" in html  # a duration column rendered from started/completed


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=failed", ["flaky"]),
        ("status__exact=cancelled", ["after"]),
        ("executor=echo", ["side"]),
        ("error_type=upstream_failed", ["after"]),
        ("origin_type__exact=create", ["after", "flaky", "root", "side"]),
        ("origin_type__exact=copy", []),
    ],
)
def test_task_list_filters(client, operator, failed_tree, query, expected):
    page = client.get(f"{changelist('task')}?{query}")
    assert page.status_code == 200
    assert listed(page) == expected


def test_task_list_filters_by_owner_date_and_tree(client, operator, failed_tree, other_user):
    from tasks_app.services import trees

    tree, _tasks = failed_tree
    other = trees.tree_create(owner=other_user, tasks=[t("theirs")], actor=other_user, source="api")
    assert listed(client.get(f"{changelist('task')}?owner__id__exact={other_user.id}")) == ["theirs"]
    assert listed(client.get(f"{changelist('task')}?tree={tree.id}")) == ["after", "flaky", "root", "side"]
    assert listed(client.get(f"{changelist('task')}?tree={other.id}")) == ["theirs"]
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = midnight + datetime.timedelta(days=1)
    assert listed(client.get(changelist("task"), {"created_at__gte": tomorrow.isoformat()})) == []
    today = client.get(
        changelist("task"), {"created_at__gte": midnight.isoformat(), "created_at__lt": tomorrow.isoformat()}
    )
    assert len(listed(today)) == 5
    # the tree filter shows the chosen tree by name
    assert b"theirs" in client.get(f"{changelist('task')}?tree={other.id}").content


@pytest.mark.parametrize(
    ("term", "expected"),
    [("flak", ["flaky"]), ("NIGHTLY", ["flaky"]), ("etl", ["flaky"]), ("nothing-like-this", [])],
)
def test_task_search_by_name_and_tags(client, operator, failed_tree, term, expected):
    assert listed(client.get(changelist("task"), {"q": term})) == expected


def test_task_search_by_exact_id_and_ref(client, operator, failed_tree):
    _tree, tasks = failed_tree
    assert listed(client.get(changelist("task"), {"q": str(tasks["side"].id)})) == ["side"]
    assert listed(client.get(changelist("task"), {"q": str(tasks["side"].id).upper()})) == ["side"]
    Task.objects.filter(id=tasks["root"].id).update(ref="client-ref-42")
    assert listed(client.get(changelist("task"), {"q": "client-ref-42"})) == ["root"]


def _changelist_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_changelists_run_a_bounded_number_of_queries(client, operator, tm):
    tm.create_tree([t("r0")] + [t(f"c{i}", parent_id="r0") for i in range(2)])
    few = {m: _changelist_queries(client, changelist(m)) for m in ("task", "tree", "event", "attempt")}
    for n in range(1, 6):
        tm.create_tree([t(f"r{n}")] + [t(f"c{i}", parent_id=f"r{n}") for i in range(6)])
    many = {m: _changelist_queries(client, changelist(m)) for m in ("task", "tree", "event", "attempt")}
    assert many == few  # no query per row
    assert max(few.values()) <= 12, few


# --- task detail -------------------------------------------------------------------------------


def test_task_detail_links_tree_parent_children_dependencies_and_events(client, operator, failed_tree):
    tree, tasks = failed_tree
    page = client.get(change("task", tasks["flaky"].id))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{change("tree", tree.id)}"' in html
    assert f'href="{change("task", tasks["root"].id)}">root</a>' in html  # parent
    assert f'href="{change("task", tasks["after"].id)}">after (cancelled)</a>' in html  # dependent
    assert "All events of this task" in html and f"?task={tasks['flaky'].id}" in html
    assert "task.status" in html  # recent events table
    assert "boom" in html  # error
    root = client.get(change("task", tasks["root"].id)).content.decode()
    for child in ("flaky", "after", "side"):
        assert f'href="{change("task", tasks[child].id)}">{child}</a>' in root
    after = client.get(change("task", tasks["after"].id)).content.decode()
    assert f'href="{change("task", tasks["flaky"].id)}">flaky (failed)</a>' in after  # upstream


def test_task_detail_shows_lineage_both_ways(client, operator, failed_tree, tm):
    _tree, tasks = failed_tree
    copy_tree = tm.create_tree([t("flaky")])
    Task.objects.filter(id=copy_tree.id).update(original_task=tasks["flaky"], origin_type="copy")
    Tree.objects.filter(id=copy_tree.id).update(original_tree=tasks["flaky"].tree)
    original = client.get(change("task", tasks["flaky"].id)).content.decode()
    assert f'href="{change("task", copy_tree.id)}">flaky in tree &#x27;flaky&#x27; (copy)</a>' in original
    copy = client.get(change("task", copy_tree.id)).content.decode()
    assert f'href="{change("task", tasks["flaky"].id)}">flaky in tree &#x27;root&#x27;</a>' in copy
    tree_page = client.get(change("tree", tasks["flaky"].tree_id)).content.decode()
    assert f'href="{change("tree", copy_tree.id)}">flaky</a>' in tree_page
    assert (
        f'href="{change("tree", tasks["flaky"].tree_id)}">root</a>'
        in client.get(change("tree", copy_tree.id)).content.decode()
    )
    assert listed(client.get(changelist("task") + "?origin_type__exact=copy")) == ["flaky"]


def test_task_detail_shows_attempts_inline(client, operator, failed_tree):
    _tree, tasks = failed_tree
    page = client.get(change("task", tasks["flaky"].id))
    (inline,) = page.context["inline_admin_formsets"]
    assert inline.opts.model._meta.model_name == "attempt"
    assert [f.form.instance.number for f in inline] == [1]
    html = page.content.decode()
    assert "✖ failed" in html and "boom" in html


def test_task_and_tree_change_views_are_read_only(client, operator, failed_tree):
    tree, tasks = failed_tree
    page = client.get(change("task", tasks["flaky"].id))
    assert page.context["has_change_permission"] is False
    assert b'name="_save"' not in page.content
    posted = client.post(change("task", tasks["flaky"].id), {"name": "renamed", "priority": 0})
    assert posted.status_code == 403
    assert Task.objects.get(id=tasks["flaky"].id).name == "flaky"
    assert client.post(change("tree", tree.id), {"name": "x"}).status_code == 403
    assert client.get(changelist("task") + "add/").status_code == 403
    assert client.get(change("task", tasks["flaky"].id) + "delete/").status_code == 403
    assert client.get(change("tree", tree.id) + "delete/").status_code == 403


# --- tree admin ------------------------------------------------------------------------------------


def test_tree_list_filters_search_and_detail(client, operator, failed_tree, pending_tree):
    tree, tasks = failed_tree
    ptree, _ = pending_tree
    page = client.get(changelist("tree"))
    html = page.content.decode()
    assert "✖ failed" in html and "○ pending" in html
    assert f'href="{change("task", tree.id)}">root task</a>' in html
    assert listed(client.get(changelist("tree") + "?status__exact=failed")) == ["root"]
    assert listed(client.get(changelist("tree") + "?archived__exact=0")) == ["proot", "root"]
    assert listed(client.get(changelist("tree"), {"q": str(ptree.id)})) == ["proot"]
    assert listed(client.get(changelist("tree"), {"q": "proo"})) == ["proot"]
    detail = client.get(change("tree", tree.id)).content.decode()
    assert f"?tree={tree.id}" in detail and "All 4 tasks of this tree" in detail
    assert "All events of this tree" in detail and "tree.status" in detail
    assert f'<td><a href="{change("task", tasks["flaky"].id)}">flaky</a></td>' in detail  # event's task


# --- editing through task_update --------------------------------------------------------------------


def test_pending_task_is_edited_through_task_update(client, operator, pending_tree):
    from tasks_app.models import Event

    from .utils import change_form_data

    _tree, tasks = pending_tree
    url = change("task", tasks["p2"].id)
    page = client.get(url)
    assert page.context["has_change_permission"] is True
    assert {"name", "priority", "inputs", "tags"} <= set(page.context["adminform"].form.fields)
    assert "status" not in page.context["adminform"].form.fields
    response = client.post(url, change_form_data(page, priority="0", tags='["urgent"]', inputs='{"n": 3}'))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    task = Task.objects.get(id=tasks["p2"].id)
    assert (task.priority, task.tags, task.inputs, task.name) == (0, ["urgent"], {"n": 3}, "p2")
    event = Event.objects.get(kind="task.updated", task_id=task.id)
    assert (event.actor, event.source, sorted(event.data["fields"])) == (
        operator,
        "admin",
        ["inputs", "priority", "tags"],
    )


def test_edit_refused_by_the_service_is_an_error_message(client, operator, pending_tree):
    from tasks_app.models import Event

    from .utils import change_form_data, messages_of

    _tree, tasks = pending_tree
    url = change("task", tasks["p1"].id)
    page = client.get(url)
    response = client.post(url, change_form_data(page, executor="no-such-executor"), follow=True)
    assert response.redirect_chain[-1][0] == url
    assert any(
        "was not changed: task 'p1': unknown executor 'no-such-executor'" in m for m in messages_of(response)
    )
    assert Task.objects.get(id=tasks["p1"].id).executor == "noop"
    assert not Event.objects.filter(kind="task.updated").exists()
    duplicate = client.post(url, change_form_data(page, name="p2"), follow=True)
    assert any("duplicate task name 'p2'" in m for m in messages_of(duplicate))
    bad_json = client.post(url, change_form_data(page, inputs="{not json"))
    assert bad_json.status_code == 200 and "inputs" in bad_json.context["adminform"].form.errors
    assert Task.objects.get(id=tasks["p1"].id).name == "p1"


def test_task_in_a_running_tree_is_read_only(client, operator, pending_tree, tm):
    tree, tasks = pending_tree
    tm.execute(tree.id)
    page = client.get(change("task", tasks["p2"].id))
    assert page.context["has_change_permission"] is False
    assert client.post(change("task", tasks["p2"].id), {"priority": "0"}).status_code == 403


def test_tree_detail_shows_runs_inline_and_handled_failures(client, operator, run_tree):
    tree, _ = run_tree(
        [
            t("root", dependencies=["final"]),
            t("primary", "fail", parent_id="root", max_retries=0),
            t("final", parent_id="root", dependencies=[{"id": "primary", "required": False}]),
        ]
    )
    page = client.get(change("tree", tree.id))
    (inline,) = page.context["inline_admin_formsets"]
    assert inline.opts.model._meta.model_name == "run"
    assert [(f.form.instance.number, f.form.instance.trigger) for f in inline] == [(1, "execute")]
    html = page.content.decode()
    assert "✔ completed</span> · 1 failure handled" in html
