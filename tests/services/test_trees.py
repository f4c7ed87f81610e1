"""services.trees: parsing a create request into drafts (every problem named at once, executors
resolved from apflow's fields too) and creating the tree in one transaction."""

import pytest
from django.db.models import Q
from django.utils import timezone

from tasks_app.exceptions import InvalidTransition, LimitExceeded, TreeValidationError, UnknownExecutor
from tasks_app.models import Dependency, Event, Run, Task, Tree
from tasks_app.services import control, task_fields, trees


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def test_json_depth_counts_nesting_and_stops_past_the_limit():
    assert task_fields.json_depth(1, 5) == 0
    assert task_fields.json_depth({}, 5) == 1 and task_fields.json_depth([], 5) == 1
    assert task_fields.json_depth({"a": [{"b": 1}]}, 5) == 3
    deep = current = []
    for _ in range(1000):
        current.append([])
        current = current[0]
    assert task_fields.json_depth(deep, 5) == 6  # stops just past the limit, whatever the real depth


def test_resolve_executor_reads_apflow_fields_and_aliases():
    assert trees.resolve_executor({"executor": "echo"}) == "echo"
    assert trees.resolve_executor({"params": {"executor_id": "command_executor"}}) == "shell_command"
    assert trees.resolve_executor({"schemas": {"method": "rest_executor"}}) == "http_request"
    assert trees.resolve_executor({"params": "x", "executor": None}) == ""
    assert trees.resolve_executor({"executor": 7}) == ""


def test_parse_tree_orders_drafts_parents_and_dependencies_first():
    drafts = trees.parse_tree(
        [t("b", parent_id="root", dependencies=["a"]), t("root"), t("a", parent_id="root")]
    )
    keys = [d.key for d in drafts]
    assert keys.index("root") < keys.index("a") < keys.index("b")
    b = next(d for d in drafts if d.key == "b")
    assert b.parent_key == "root" and b.ref == "b" and b.executor == "noop"


def test_parse_tree_names_every_problem_at_once():
    with pytest.raises(TreeValidationError) as refused:
        trees.parse_tree([{"name": ""}, "x", {"name": "ok", "executor": "noop"}])
    assert refused.value.errors == ["task #1: name is required", "task #2: must be an object"]
    with pytest.raises(TreeValidationError) as refused:
        trees.parse_tree([t("root", executor=""), t("a", parent_id="root", dependencies="root")])
    assert refused.value.errors == [
        "task 'root': executor is required",
        "task 'a': dependencies must be a list",
    ]
    with pytest.raises(TreeValidationError, match="non-empty array"):
        trees.parse_tree([])


def test_parse_tree_refuses_unknown_executors_and_oversized_trees(settings):
    with pytest.raises(UnknownExecutor) as unknown:
        trees.parse_tree([t("root", executor="teleport")])
    assert unknown.value.details["executor"] == "teleport" and "noop" in unknown.value.details["available"]
    settings.ARBOR_LIMITS = {**settings.ARBOR_LIMITS, "max_tasks_per_tree": 2}
    with pytest.raises(LimitExceeded, match="max_tasks_per_tree"):
        trees.parse_tree([t("root"), t("a", parent_id="root"), t("b", parent_id="root")])


@pytest.mark.django_db
def test_tree_create_writes_tasks_edges_and_one_event_in_one_transaction(user, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):  # set-based inserts: no query per task
        tree = trees.tree_create(
            owner=user,
            actor=user,
            tasks=[t("root")]
            + [t(f"c{i}", parent_id="root", dependencies=[f"c{i - 1}"] if i else []) for i in range(30)],
        )
    assert tree.task_count == 31 and Task.objects.filter(tree=tree).count() == 31
    assert Dependency.objects.filter(tree=tree).count() == 29
    assert list(Event.objects.filter(tree=tree).values_list("kind", flat=True)) == ["tree.created"]
    assert set(tree.key_map) == {"root", *(f"c{i}" for i in range(30))}


# tree_create(execute=True) / token_issue and token_revoke: the one path for each interface
TASKS = [
    {"id": "r", "name": "r", "executor": "noop"},
    {"id": "a", "name": "a", "executor": "noop", "parent_id": "r"},
]


@pytest.mark.django_db
def test_create_and_execute_start_the_run(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True)
    assert tree.status == "in_progress" and tree.run_count == 1
    assert set(tree.key_map) == {"r", "a"} and tree.written_rows is None
    assert Run.objects.filter(tree=tree, number=1, trigger="execute").exists()
    kinds = list(Event.objects.filter(tree_id=tree.id).order_by("seq").values_list("kind", flat=True))
    assert kinds[0] == "tree.created" and "tree.status" in kinds


@pytest.mark.django_db
def test_create_without_execute_leaves_the_tree_pending(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user)
    assert tree.status == "pending" and tree.run_count == 0 and tree.written_rows


@pytest.mark.django_db
def test_demo_flag_reaches_the_run(user):
    tree = trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True, demo=True)
    assert all(t.params.get("use_demo") for t in Task.objects.filter(tree=tree))


@pytest.mark.django_db(transaction=True)
def test_a_refused_execute_rolls_the_creation_back(user, monkeypatch):
    def refuse(**kwargs):
        raise InvalidTransition("refused for the test")

    monkeypatch.setattr(control, "tree_execute", refuse)
    with pytest.raises(InvalidTransition):
        trees.tree_create(owner=user, tasks=TASKS, actor=user, execute=True)
    assert not Tree.objects.exists() and not Task.objects.exists() and not Event.objects.exists()


@pytest.mark.django_db
def test_a_new_tasks_null_references_are_not_indexed_but_searches_by_them_are():
    """``current_attempt`` and ``original_task`` are indexed only where set (two index writes fewer
    per created task, docs/performance.md round 4); every search by them is by value (Django's
    SET_NULL when an attempt or a task is deleted, PostgreSQL's foreign-key checks), which the
    partial indexes serve."""
    from django.db import connection

    indexes = {index.name: index for index in Task._meta.indexes}
    for name, field in (("task_current_attempt", "current_attempt"), ("task_original_task", "original_task")):
        assert indexes[name].fields == [field]
        assert indexes[name].condition == Q(**{f"{field}__isnull": False})
        assert Task._meta.get_field(field).db_index is False  # no second, full index
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for column, index in (
            ("current_attempt_id", "task_current_attempt"),
            ("original_task_id", "task_original_task"),
        ):
            # the statement PostgreSQL runs for a foreign-key check when the referenced row goes
            cursor.execute(
                f"PREPARE fk_{column}(uuid) AS "
                f"SELECT 1 FROM ONLY tasks_app_task x WHERE {column} = $1 FOR KEY SHARE OF x"
            )
            cursor.execute(f"EXPLAIN EXECUTE fk_{column}('00000000-0000-0000-0000-000000000001')")
            assert index in " ".join(row[0] for row in cursor.fetchall())
            cursor.execute(f"DEALLOCATE fk_{column}")


@pytest.mark.django_db
def test_deleting_an_original_or_an_attempt_still_clears_the_reference(user):
    from tasks_app.models import Attempt
    from tasks_app.services.copying import task_copy

    tree = trees.tree_create(owner=user, actor=user, tasks=[t("root")])
    root = Task.objects.get(tree=tree)
    copied = Task.objects.get(tree=task_copy(task=root, actor=user, source="api"))
    assert copied.original_task_id == root.id
    attempt = Attempt.objects.create(
        task=copied, tree=copied.tree, number=1, executor="noop", started_at=timezone.now()
    )
    Task.objects.filter(pk=copied.pk).update(current_attempt=attempt)
    attempt.delete()
    Tree.objects.filter(pk=tree.pk).delete()
    copied.refresh_from_db()
    assert copied.original_task_id is None and copied.current_attempt_id is None


def test_parse_tree_edge_cases_of_its_fast_path():
    """parse_tree reads the usual task (a string executor, a list of dependencies, no other field)
    without the general checks; every other spelling still takes them (round 4 of issue 18)."""
    drafts = trees.parse_tree(
        [
            t("root", dependencies=None),
            {"name": "a", "parent_id": "root", "params": {"executor_id": "noop"}, "dependencies": []},
            {"name": "b", "parent_id": "root", "schemas": {"method": "noop"}},
            t("c", parent_id="root", dependencies=["a"]),
        ]
    )
    assert [(d.name, d.executor, d.deps) for d in drafts] == [
        ("root", "noop", ()),
        ("a", "noop", ()),
        ("b", "noop", ()),
        ("c", "noop", (("a", True),)),
    ]
    with pytest.raises(TreeValidationError) as refused:
        trees.parse_tree(
            [
                t("root", executor=5),
                t("a", parent_id="root", dependencies={"x": 1}),
                t("b", parent_id="root", executor="echo", inputs=[1]),
            ]
        )
    assert refused.value.errors == [
        "task 'root': executor is required",
        "task 'a': dependencies must be a list",
        "task 'b': inputs must be an object",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_answer_is_built_on_a_helper_thread_while_the_create_commits(user, monkeypatch):
    """tree_create(answer=...) builds the caller's answer from the rows written on a helper thread
    during its commit (PostgreSQL runs the deferred foreign-key checks then, with the GIL free)."""
    import threading

    from django.db import connection

    seen = {}
    real_commit = connection.commit

    def commit():
        seen["commit_thread"] = threading.current_thread()
        return real_commit()

    def answer(rows, edges):
        seen["answer_thread"] = threading.current_thread()
        return [row[trees.TASK_COLUMN_INDEX["name"]] for row in rows], len(edges)

    monkeypatch.setattr(connection, "commit", commit)
    tree = trees.tree_create(
        owner=user,
        actor=user,
        tasks=[t("root"), t("a", parent_id="root", dependencies=["root"])],
        answer=answer,
    )
    assert tree.answer == (["root", "a"], 1)
    assert seen["answer_thread"] is not seen["commit_thread"] is threading.current_thread()
    assert Task.objects.filter(tree=tree).count() == 2  # committed


@pytest.mark.django_db
def test_inside_an_outer_transaction_the_answer_is_built_after_the_writes(user):
    import threading

    threads = []
    tree = trees.tree_create(
        owner=user,
        actor=user,
        tasks=[t("root")],
        answer=lambda rows, edges: threads.append(threading.current_thread()),
    )
    assert threads == [threading.current_thread()] and tree.answer is None
