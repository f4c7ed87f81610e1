"""Copies, links and archives (SEMANTICS "Re-execution and copies") through services.copying,
on the trees of apflow's copy examples (reference apflow.md §3.2)."""

import pytest
from django.forms.models import model_to_dict

from tasks_app.exceptions import ArchivedTask, InvalidReference, InvalidTransition, ValidationError
from tasks_app.models import Attempt, Dependency, Event, Task, Tree
from tasks_app.services import control, copying, trees
from tasks_app.services import tasks as task_services
from tasks_app.worker.loop import run_until_idle

pytestmark = pytest.mark.django_db


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


# root
# |-- a
# |   |-- a1   (needs a)
# |   `-- a2
# |-- b        (needs a1, optional x)
# |   `-- b1   (needs b)
# |-- c
# |-- x
# `-- d        (needs a1 and a2: a dependent shared by two copied tasks)
EXAMPLE = [
    t("root"),
    t("a", "echo", parent_id="root", inputs={"from": "a"}),
    t("a1", "echo", parent_id="a", dependencies=["a"], inputs={"from": "a1"}),
    t("a2", "echo", parent_id="a", inputs={"from": "a2"}),
    t("b", "echo", parent_id="root", dependencies=["a1", {"id": "x", "required": False}], priority=1),
    t("b1", "echo", parent_id="b", dependencies=["b"]),
    t("c", "echo", parent_id="root", inputs={"from": "c"}, tags=["keep"]),
    t("x", "echo", parent_id="root"),
    t("d", "echo", parent_id="root", dependencies=["a1", "a2"]),
]


def by_name(tree):
    return {task.name: task for task in Task.objects.filter(tree=tree)}


def deps_of(task):
    return [
        (d.upstream.name, d.required) for d in Dependency.objects.filter(downstream=task).order_by("position")
    ]


def snapshot(tree):
    """Every row of a tree, as plain dicts: to prove a copy never touches its original."""
    return {
        "tree": model_to_dict(Tree.objects.get(id=tree.id))
        | {"updated": Tree.objects.get(id=tree.id).updated_at},
        "tasks": sorted(
            (model_to_dict(task) | {"updated": task.updated_at} for task in Task.objects.filter(tree=tree)),
            key=lambda row: row["name"],
        ),
        "deps": sorted(
            Dependency.objects.filter(tree=tree).values_list("upstream_id", "downstream_id", "required")
        ),
        "events": list(Event.objects.filter(tree=tree).order_by("seq").values_list("seq", "kind")),
        "attempts": sorted(Attempt.objects.filter(tree=tree).values_list("id", "outcome")),
    }


@pytest.fixture
def example(tm):
    return tm.create_tree(EXAMPLE)


@pytest.fixture
def completed_example(run_tree):
    tree, tasks = run_tree(EXAMPLE)
    assert tree.status == "completed"
    return tree


# --- minimal -------------------------------------------------------------------------------------


def test_minimal_copies_subtree_and_dependents_once_with_remapped_dependencies(example, user):
    original = by_name(example)
    copy = copying.task_copy(task=original["a"], actor=user)
    tasks = by_name(copy)
    assert sorted(tasks) == ["a", "a1", "a2", "b", "b1", "d", "root"]  # d and b once, c and x left out
    assert Task.objects.filter(tree=copy).count() == 7
    assert copy.id == tasks["root"].id and copy.id != example.id
    assert tasks["a1"].parent == tasks["a"] and tasks["b1"].parent == tasks["b"]
    assert deps_of(tasks["d"]) == [("a1", True), ("a2", True)]
    assert deps_of(tasks["b"]) == [("a1", True)]  # the optional edge to x (not copied) is dropped
    assert {d.upstream.tree_id for d in Dependency.objects.filter(tree=copy)} == {copy.id}
    for name, task in tasks.items():
        assert task.origin_type == "copy"
        assert task.original_task == original[name]
        assert (task.status, task.result, task.progress, task.started_at) == ("pending", None, 0.0, None)
        assert task.owner == user
    assert tasks["b"].priority == 1 and tasks["a"].inputs == {"from": "a"}
    assert copy.original_tree_id == example.id
    assert Event.objects.filter(tree=copy, kind="tree.copied").get().data["mode"] == "minimal"


def test_minimal_copy_without_outside_dependents_is_rooted_at_the_task(example):
    copy = copying.task_copy(task=by_name(example)["b"])
    assert sorted(by_name(copy)) == ["b", "b1"]
    assert by_name(copy)["b"].parent is None
    assert copy.name == "b"


def test_copy_children_is_accepted_and_copies_each_shared_dependent_once(example):
    copy = copying.task_copy(task=by_name(example)["a"], children=True)
    names = list(Task.objects.filter(tree=copy).values_list("name", flat=True))
    assert sorted(names) == ["a", "a1", "a2", "b", "b1", "d", "root"]


def test_copy_never_touches_the_original(completed_example, user):
    before = snapshot(completed_example)
    original = by_name(completed_example)
    copying.task_copy(task=original["a"], actor=user)
    copying.task_copy(task=original["a"], mode="full", actor=user)
    copying.task_copy(task=original["root"], mode="custom", custom_task_ids=[str(original["b1"].id)])
    copying.task_copy(task=original["a"], save=False)
    for origin_type in ("copy", "link", "archive"):
        copying.task_clone(task=original["root"], origin_type=origin_type)
    copying.task_clone(task=original["root"], origin_type="mixed", link_task_ids=[str(original["c"].id)])
    assert snapshot(completed_example) == before


def test_lineage_is_queryable_both_ways(example):
    a = by_name(example)["a"]
    first = copying.task_copy(task=a)
    second = copying.task_copy(task=a)
    copies = set(a.copies.values_list("tree_id", flat=True))
    assert copies == {first.id, second.id}
    assert by_name(first)["a"].original_task == a
    assert set(example.copies.values_list("id", flat=True)) == {first.id, second.id}
    copy_of_copy = copying.task_copy(task=by_name(first)["a"])
    assert by_name(copy_of_copy)["a"].original_task == by_name(first)["a"]  # the direct counterpart


# --- full ----------------------------------------------------------------------------------------


def test_full_copy_resets_what_must_rerun_and_carries_unrelated_completed_tasks(completed_example, user):
    original = by_name(completed_example)
    copy = copying.task_copy(task=original["a"], mode="full", actor=user)
    tasks = by_name(copy)
    assert sorted(tasks) == sorted(original)
    rerun = {"a", "a1", "a2", "b", "b1", "d"}
    for name in rerun:
        assert (tasks[name].status, tasks[name].result, tasks[name].completed_at) == ("pending", None, None)
    for name in ("root", "c", "x"):  # unrelated completed tasks keep their outcome
        assert tasks[name].status == "completed"
        assert tasks[name].result == original[name].result
        assert tasks[name].completed_at == original[name].completed_at
        assert tasks[name].progress == original[name].progress
    assert tasks["c"].result == {"from": "c"}

    control.tree_execute(tree=copy, actor=user)
    run_until_idle(hard_kill=False, timeout=30)
    copy.refresh_from_db()
    tasks = by_name(copy)
    assert copy.status == "completed"
    assert not Attempt.objects.filter(task__in=[tasks["c"], tasks["x"], tasks["root"]]).exists()
    assert set(Attempt.objects.filter(tree=copy).values_list("task__name", flat=True)) == rerun
    assert tasks["b"].result == original["b"].result  # rebuilt from the re-run a1, same inputs


def test_full_copy_resets_unrelated_tasks_that_did_not_complete(run_tree):
    tree, _ = run_tree([t("root"), t("a", parent_id="root"), t("boom", "fail", parent_id="root")])
    assert tree.status == "failed"
    copy = copying.task_copy(task=by_name(tree)["a"], mode="full")
    tasks = by_name(copy)
    assert (tasks["boom"].status, tasks["boom"].error) == ("pending", None)
    assert tasks["root"].status == "completed"


# --- custom --------------------------------------------------------------------------------------


def test_custom_adds_the_upstream_closure_and_connectors(example):
    original = by_name(example)
    copy = copying.task_copy(task=original["root"], mode="custom", custom_task_ids=[str(original["b1"].id)])
    tasks = by_name(copy)
    assert sorted(tasks) == ["a", "a1", "b", "b1", "root", "x"]
    assert deps_of(tasks["b"]) == [("a1", True), ("x", False)]
    assert deps_of(tasks["b1"]) == [("b", True)]
    assert tasks["a1"].parent == tasks["a"]


def test_custom_accepts_client_ids_and_names_and_include_children(example):
    copy = copying.task_copy(
        task=by_name(example)["root"], mode="custom", custom_task_ids=["a"], custom_include_children=True
    )
    assert sorted(by_name(copy)) == ["a", "a1", "a2"]


def test_custom_refuses_ids_outside_the_tree_foreign_or_missing_alike(example, other_user):
    foreign_tree = trees.tree_create(owner=other_user, tasks=[t("theirs")])
    for bad in (str(foreign_tree.id), "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(InvalidReference, match=r"^task '[0-9a-f-]+' is not in this tree$"):
            copying.task_copy(task=by_name(example)["root"], mode="custom", custom_task_ids=[bad])


# --- reset_fields --------------------------------------------------------------------------------


def test_reset_fields_narrows_what_is_reset(completed_example):
    a = by_name(completed_example)["a"]
    only_status = by_name(copying.task_copy(task=a, reset_fields=["status"]))
    assert only_status["a"].status == "pending"
    assert only_status["a"].result == {"from": "a"}  # result not listed: kept
    assert only_status["a"].completed_at == a.completed_at

    nothing = by_name(copying.task_copy(task=a, reset_fields=[]))
    assert nothing["a"].status == "completed" and nothing["a"].result == {"from": "a"}

    # a kept terminal status keeps the whole outcome, even if result was listed
    kept = by_name(copying.task_copy(task=a, reset_fields=["result", "updated_at"]))
    assert (kept["a"].status, kept["a"].result) == ("completed", {"from": "a"})


def test_a_running_task_is_never_copied_as_running(example):
    Task.objects.filter(tree=example, name="a").update(status="in_progress", progress=0.5)
    copy = by_name(copying.task_copy(task=by_name(example)["a"], reset_fields=[]))
    assert (copy["a"].status, copy["a"].progress) == ("pending", 0.0)


def test_bad_reset_fields_and_modes_are_refused(example):
    a = by_name(example)["a"]
    with pytest.raises(ValidationError, match="'inputs' cannot be reset"):
        copying.task_copy(task=a, reset_fields=["inputs"])
    with pytest.raises(ValidationError, match="must be a list"):
        copying.task_copy(task=a, reset_fields="status")
    with pytest.raises(ValidationError, match="unknown copy mode 'weird'"):
        copying.task_copy(task=a, mode="weird")


# --- save=false ----------------------------------------------------------------------------------


def test_save_false_returns_an_array_that_create_accepts_and_writes_nothing(example, user):
    counts = (Tree.objects.count(), Task.objects.count(), Event.objects.count())
    array = copying.task_copy(task=by_name(example)["a"], save=False)
    assert (Tree.objects.count(), Task.objects.count(), Event.objects.count()) == counts
    assert [item["name"] for item in array][0] == "root"
    ids = {item["id"] for item in array}
    assert not ids & {str(i) for i in Task.objects.values_list("id", flat=True)}
    by = {item["name"]: item for item in array}
    assert by["d"]["dependencies"] == [
        {"id": by["a1"]["id"], "required": True},
        {"id": by["a2"]["id"], "required": True},
    ]
    assert by["a1"]["parent_id"] == by["a"]["id"] and "parent_id" not in by["root"]
    created = trees.tree_create(owner=user, tasks=array)
    tasks = by_name(created)
    assert sorted(tasks) == sorted(by)
    assert deps_of(tasks["d"]) == [("a1", True), ("a2", True)]
    assert str(created.id) == by["root"]["id"]


def test_clone_save_false_copy_array_is_create_ready(example, user):
    array = copying.task_clone(task=by_name(example)["a"], save=False)
    created = trees.tree_create(owner=user, tasks=array)
    assert sorted(by_name(created)) == ["a", "a1", "a2"]


# --- clone: copy ---------------------------------------------------------------------------------


def test_clone_copy_takes_the_subtree_plus_needed_upstream_tasks_reset(completed_example):
    b = by_name(completed_example)["b"]
    tree = copying.task_clone(task=b)
    tasks = by_name(tree)
    assert sorted(tasks) == ["a", "a1", "b", "b1", "root", "x"]
    assert all(task.status == "pending" and task.result is None for task in tasks.values())
    assert deps_of(tasks["b"]) == [("a1", True), ("x", False)]


def test_clone_not_recursive_is_a_standalone_root(example):
    tree = copying.task_clone(task=by_name(example)["b"], recursive=False)
    tasks = by_name(tree)
    assert list(tasks) == ["b"] and tasks["b"].parent is None and deps_of(tasks["b"]) == []


def test_clone_overrides(example, user):
    a = by_name(example)["a"]
    tree = copying.task_clone(
        task=a,
        reset_fields={
            "status": "pending",
            "result": None,
            "priority": 0,
            "inputs": {"v": 1},
            "name": "a again",
            "tags": ["t"],
            "user_id": user.username,
        },
    )
    tasks = by_name(tree)
    assert sorted(tasks) == ["a again", "a1", "a2"]
    assert {task.priority for task in tasks.values()} == {0}
    assert tasks["a1"].inputs == {"v": 1} and tasks["a1"].tags == ["t"]
    assert tree.name == "a again"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "completed"}, "only be set to 'pending'"),
        ({"executor": "fail"}, "'executor' cannot be set on a clone"),
        ({"priority": 9}, "priority must be an integer 0..3"),
        ({"progress": 2}, "progress must be a number between 0 and 1"),
        ({"user_id": "mallory"}, "^links never cross users"),
        ("status", "must be an object"),
    ],
)
def test_clone_refuses_unsafe_overrides(example, other_user, overrides, message):
    with pytest.raises(ValidationError, match=message):
        copying.task_clone(task=by_name(example)["a"], reset_fields=overrides)


# --- clone: link ---------------------------------------------------------------------------------


def test_link_shares_the_completed_results_and_never_runs(completed_example, user):
    original = by_name(completed_example)
    tree = copying.task_clone(task=original["a"], origin_type="link", actor=user)
    tasks = by_name(tree)
    assert sorted(tasks) == ["a", "a1", "a2"]
    for name, task in tasks.items():
        assert (task.origin_type, task.status, task.result) == ("link", "completed", original[name].result)
        assert task.original_task == original[name]
    assert deps_of(tasks["a1"]) == [("a", True)]
    tree.refresh_from_db()
    assert tree.status == "completed" and not tree.archived
    with pytest.raises(InvalidTransition, match="nothing to run"):
        control.tree_execute(tree=tree)
    # a link of a link references the real original
    relinked = by_name(copying.task_clone(task=tasks["a"], origin_type="link"))
    assert relinked["a1"].original_task == original["a1"]


def test_link_needs_a_fully_completed_subtree(run_tree):
    tree, _ = run_tree([t("root"), t("ok", parent_id="root"), t("boom", "fail", parent_id="root")])
    with pytest.raises(
        InvalidTransition,
        match=r"^only a fully completed tree can be linked; not completed: "
        r"'boom' \(failed\)$",
    ):
        copying.task_clone(task=by_name(tree)["root"], origin_type="link")
    with pytest.raises(ValidationError, match="only user_id may be given"):
        copying.task_clone(task=by_name(tree)["ok"], origin_type="link", reset_fields={"priority": 1})


def test_linked_originals_cannot_be_deleted(completed_example):
    copying.task_clone(task=by_name(completed_example)["c"], origin_type="link")
    from tasks_app.exceptions import CannotDelete

    with pytest.raises(CannotDelete, match="linked by"):
        task_services.tree_delete(tree=completed_example)


# --- clone: archive ------------------------------------------------------------------------------


def test_archive_is_a_new_frozen_snapshot(completed_example, user):
    original = by_name(completed_example)
    tree = copying.task_clone(task=original["root"], origin_type="archive", actor=user)
    tree.refresh_from_db()
    assert tree.archived and tree.status == "completed" and tree.id != completed_example.id
    tasks = by_name(tree)
    assert sorted(tasks) == sorted(original)
    for name, task in tasks.items():
        assert (task.origin_type, task.status, task.result) == (
            "archive",
            original[name].status,
            original[name].result,
        )
    assert set(Task.objects.filter(tree=completed_example).values_list("origin_type", flat=True)) == {
        "create"
    }
    root = tasks["root"]
    for write in (
        lambda: control.tree_execute(tree=tree),
        lambda: control.task_rerun(task=root),
        lambda: control.task_cancel(task=root),
        lambda: task_services.task_update(task=root, data={"priority": 0}),
        lambda: task_services.task_delete(task=tasks["c"]),
        lambda: task_services.tree_delete(tree=tree),
    ):
        with pytest.raises(ArchivedTask, match="is archived and read-only"):
            write()


def test_archive_of_a_failed_run_keeps_its_failure_and_running_trees_are_refused(run_tree, tm):
    tree, _ = run_tree([t("root"), t("boom", "fail", parent_id="root")])
    archive = copying.task_clone(task=by_name(tree)["root"], origin_type="archive")
    archive.refresh_from_db()
    assert archive.status == "failed"
    assert by_name(archive)["boom"].error == by_name(tree)["boom"].error
    running = tm.create_tree([t("r"), t("s", parent_id="r")])
    Task.objects.filter(tree=running, name="s").update(status="in_progress")
    with pytest.raises(InvalidTransition, match="cannot archive while tasks are running: 's'"):
        copying.task_clone(task=by_name(running)["r"], origin_type="archive")


# --- clone: mixed --------------------------------------------------------------------------------


def test_mixed_links_the_chosen_tasks_and_copies_the_rest(completed_example, user):
    original = by_name(completed_example)
    tree = copying.task_clone(task=original["a"], origin_type="mixed", link_task_ids=[str(original["a"].id)])
    tasks = by_name(tree)
    assert (tasks["a"].origin_type, tasks["a"].status) == ("link", "completed")
    assert {tasks["a1"].origin_type, tasks["a2"].origin_type} == {"copy"}
    assert tasks["a1"].status == "pending"
    control.tree_execute(tree=tree, actor=user)
    run_until_idle(hard_kill=False, timeout=30)
    tasks = by_name(tree)
    assert tasks["a1"].status == "completed"
    assert not Attempt.objects.filter(task=tasks["a"]).exists()  # the link never ran
    # the linked a's result flowed into the copied a1 (dependency results win over own inputs)
    assert Attempt.objects.get(task=tasks["a1"]).effective_inputs == {"from": "a"}


def test_mixed_needs_link_ids_inside_the_clone(completed_example):
    original = by_name(completed_example)
    with pytest.raises(ValidationError, match="needs link_task_ids"):
        copying.task_clone(task=original["a"], origin_type="mixed")
    with pytest.raises(InvalidReference, match="is not among the cloned tasks"):
        copying.task_clone(task=original["a"], origin_type="mixed", link_task_ids=[str(original["c"].id)])
    with pytest.raises(ValidationError, match="origin_type must be one of"):
        copying.task_clone(task=original["a"], origin_type="fork")


def test_copy_belongs_to_the_original_owner_even_when_staff_copies_it(example, staff_user, user):
    copy = copying.task_copy(task=by_name(example)["a"], actor=staff_user)
    assert copy.owner == user
    assert set(Task.objects.filter(tree=copy).values_list("owner", flat=True)) == {user.pk}
    assert Event.objects.get(tree=copy, kind="tree.copied").actor_id == staff_user.pk
