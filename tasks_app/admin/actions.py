"""Admin actions with a confirmation page, calling the same services as the API.

Every action is two requests, like Django's own "delete selected":

1. the changelist POST (``action`` + ``_selected_action``) renders a confirmation page that
   lists, for each selected object, the tasks the action will touch (or why it is refused);
2. the confirmation POST (the same fields plus ``post=yes``) calls the service once per
   object with ``actor=request.user, source="admin"``, so the Event rows it writes name the
   operator, and turns each domain refusal into an admin error message.

Archived trees are refused here before any service is called (the services refuse them too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme

from tasks_app import selectors
from tasks_app.engine.graph import subtree
from tasks_app.exceptions import OrchestratorError
from tasks_app.models import Task, Tree
from tasks_app.services import control

SOURCE = "admin"
MAX_SELECTED = 200
MAX_LISTED = 100
CONFIRMATION_TEMPLATE = "admin/tasks_app/action_confirmation.html"
COPYING_UNAVAILABLE = "copying is not available (tasks_app.services.copying is missing)"
TOO_MANY = "select at most {limit} objects for this action"

Preview = Callable[[Any, Any], list[dict]]  # (a Task or a Tree, the user)
Apply = Callable[[Any, Any], str]


class Refused(OrchestratorError):
    code = "refused"


@dataclass
class Plan:
    """What one action would do to one selected object."""

    obj: object
    tasks: list[dict] = field(default_factory=list)
    refusal: str = ""

    @property
    def listed(self) -> list[dict]:
        return self.tasks[:MAX_LISTED]

    @property
    def hidden(self) -> int:
        return max(0, len(self.tasks) - MAX_LISTED)


def _tree_of(obj) -> Tree:
    return obj if isinstance(obj, Tree) else obj.tree


def _check_not_archived(obj) -> None:
    refusal = control.archived_refusal(_tree_of(obj))
    if refusal is not None:
        raise refusal


def _label(obj) -> str:
    return f"{'Tree' if isinstance(obj, Tree) else 'Task'} '{obj.name}'"


def _return_to(request) -> str | None:
    target = request.POST.get("_return_to", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


def confirmed_action(
    *, name: str, description: str, verb: str, preview: Preview, apply: Apply, intro: str = ""
):
    """Build an admin action: a confirmation page from ``preview(obj, user)``, then ``apply(obj, user)``.

    ``preview`` returns ``[{id, name, status}]`` or raises an ``OrchestratorError`` whose message
    is shown as the refusal; ``apply`` returns the success message.
    """

    @admin.action(description=description, permissions=["change"])
    def action(modeladmin, request, queryset):
        queryset = queryset.select_related("tree") if queryset.model is Task else queryset
        objects = list(queryset[: MAX_SELECTED + 1])
        if len(objects) > MAX_SELECTED:
            modeladmin.message_user(request, TOO_MANY.format(limit=MAX_SELECTED), messages.ERROR)
            return None
        if request.POST.get("post") == "yes":
            _run(modeladmin, request, objects, apply)
            target = _return_to(request)
            return HttpResponseRedirect(target) if target else None
        plans = [_plan(obj, request.user, preview) for obj in objects]
        opts = modeladmin.model._meta
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"{description}: are you sure?",
            "action_name": name,
            "action_description": description,
            "verb": verb,
            "intro": intro,
            "plans": plans,
            "allowed": [p for p in plans if not p.refusal],
            "touched": sum(len(p.tasks) for p in plans if not p.refusal),
            "opts": opts,
            "app_label": opts.app_label,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "return_to": _return_to(request) or "",
            "media": modeladmin.media,
        }
        request.current_app = modeladmin.admin_site.name
        return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)

    action.__name__ = name
    return action


def _plan(obj, user, preview: Preview) -> Plan:
    try:
        _check_not_archived(obj)
        return Plan(obj=obj, tasks=[_row(t) for t in preview(obj, user)])
    except (OrchestratorError, DjangoValidationError) as exc:
        return Plan(obj=obj, refusal=_message(exc))


def _row(task: dict) -> dict:
    return {"id": str(task.get("id", "")), "name": task.get("name", ""), "status": task.get("status", "")}


def _message(exc) -> str:
    if isinstance(exc, DjangoValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def _run(modeladmin, request, objects, apply: Apply) -> None:
    for obj in objects:
        try:
            _check_not_archived(obj)
            # Django offers the action only with the model's change permission; the row rule of
            # every interface (selectors.check_access) applies here too, and audits staff access
            selectors.check_access(request.user, obj, "change", request=request, source=SOURCE)
            text = apply(obj, request.user)
        except (OrchestratorError, DjangoValidationError) as exc:
            modeladmin.message_user(request, f"{_label(obj)}: {_message(exc)}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{_label(obj)}: {text}", messages.SUCCESS)


# --- previews: the services' checks (``control.task_check`` / ``control.tree_check``) -----------


def _service_preview(action: str) -> Preview:
    def preview(task: Task, user) -> list[dict]:
        return list(control.task_check(user, task, action, source=SOURCE).check().tasks)

    return preview


def _tree_preview(action: str) -> Preview:
    def preview(tree: Tree, user) -> list[dict]:
        return list(control.tree_check(user, tree, action).check().tasks)

    return preview


def _subtree_rows(task: Task) -> list[dict]:
    """The task and its organisational subtree, in creation order."""
    graph = selectors.graph_snapshot(task.tree_id)
    keep = subtree(graph, str(task.id))
    return [
        {"id": n.id, "name": n.name, "status": n.status.value}
        for n in sorted(graph.nodes.values(), key=lambda n: n.created)
        if n.id in keep
    ]


def _copying():
    try:
        from tasks_app.services import copying
    except ImportError:
        raise Refused(COPYING_UNAVAILABLE) from None
    return copying


def _copy_preview(mode: str) -> Preview:
    def preview(obj, user) -> list[dict]:
        task = _root_task(obj)
        drafts = _copying().task_copy(task=task, mode=mode, save=False)
        return [
            {"id": "new", "name": d.get("name", ""), "status": d.get("status") or "new"}
            for d in _draft_list(drafts)
        ]

    return preview


def _draft_list(value) -> list[dict]:
    if isinstance(value, dict):
        value = value.get("tasks", [value])
    return [d for d in value if isinstance(d, dict)]


def _root_task(obj) -> Task:
    return Task.objects.select_related("tree").get(id=obj.id) if isinstance(obj, Tree) else obj


def _archive_preview(obj, user) -> list[dict]:
    return _subtree_rows(_root_task(obj))


# --- applies -----------------------------------------------------------------------------------


def _apply_retry(task: Task, user) -> str:
    before = len(control.preview(task=task, action="retry")["tasks"])
    control.task_retry(task=task, actor=user, source=SOURCE)
    return f"retried in place ({before} task(s) back to pending)"


def _apply_rerun(task: Task, user) -> str:
    before = len(control.preview(task=task, action="rerun")["tasks"])
    control.task_rerun(task=task, actor=user, source=SOURCE)
    return f"re-running from here ({before} task(s) back to pending)"


def _apply_mark(mark: str) -> Apply:
    def apply(task: Task, user) -> str:
        released = len(control.preview(task=task, action="mark_success")["tasks"]) - 1
        control.task_mark(task=task, mark=mark, actor=user, source=SOURCE)
        return f"marked {mark} ({released} blocked task(s) back to pending)"

    return apply


def _apply_cancel(task: Task, user) -> str:
    task = control.task_cancel(task=task, actor=user, source=SOURCE, reason=f"cancelled by {user} (admin)")
    return f"cancelled (now {task.status})"


def _copied_tree(result) -> Tree:
    """``task_copy`` returns the copy's root task or its tree; either way, return the tree."""
    if isinstance(result, Tree):
        return result
    if isinstance(result, Task):
        return result.tree
    if isinstance(result, dict) and "tree" in result:
        return _copied_tree(result["tree"])
    raise Refused(f"unexpected result from task_copy: {type(result).__name__}")


def _apply_copy_and_run(mode: str) -> Apply:
    def apply(obj, user) -> str:
        copy = _copied_tree(
            _copying().task_copy(task=_root_task(obj), mode=mode, save=True, actor=user, source=SOURCE)
        )
        control.tree_execute(tree=copy, actor=user, source=SOURCE, trigger="copy")
        return f"copied ({mode}) to tree '{copy.name}' ({copy.id}) and started it"

    return apply


def _apply_archive(obj, user) -> str:
    archive = _copied_tree(
        _copying().task_clone(task=_root_task(obj), origin_type="archive", actor=user, source=SOURCE)
    )
    return f"archived as tree '{archive.name}' ({archive.id})"


def _apply_tree_execute(tree: Tree, user) -> str:
    tree = control.tree_execute(tree=tree, actor=user, source=SOURCE)
    return f"started (run {tree.run_count})"


def _apply_tree_cancel(tree: Tree, user) -> str:
    tree = control.tree_cancel(
        tree=tree, actor=user, source=SOURCE, reason=f"tree cancelled by {user} (admin)"
    )
    return f"cancelled (now {tree.status})"


def _apply_tree_retry(tree: Tree, user) -> str:
    tree = control.tree_retry(tree=tree, actor=user, source=SOURCE)
    return f"retrying failed tasks (tree now {tree.status.replace('_', ' ')})"


# --- the actions -------------------------------------------------------------------------------

COPY_INTRO = "The original is never touched: a new tree is created and started."

retry_tasks = confirmed_action(
    name="retry_tasks",
    description="Retry in place",
    verb="Retry",
    intro="Each failed or cancelled task, and every task cancelled because of it, goes back to pending; "
    "completed tasks are not run again. Attempt history is kept.",
    preview=_service_preview("retry"),
    apply=_apply_retry,
)
rerun_tasks = confirmed_action(
    name="rerun_tasks",
    description="Re-run from here",
    verb="Re-run",
    intro="Each task and everything downstream of it go back to pending, whatever their status; "
    "earlier attempts stay as history.",
    preview=_service_preview("rerun"),
    apply=_apply_rerun,
)
mark_success_tasks = confirmed_action(
    name="mark_success_tasks",
    description="Mark success",
    verb="Mark success",
    intro="Each failed, cancelled or pending task becomes completed by your word (its result is "
    '{"marked": "success", "by": you} and feeds no inputs); the tasks it alone blocked go back to '
    "pending and the tree resumes. Running tasks are refused: cancel them first.",
    preview=_service_preview("mark_success"),
    apply=_apply_mark("success"),
)
skip_tasks = confirmed_action(
    name="skip_tasks",
    description="Skip",
    verb="Skip",
    intro="Each failed, cancelled or pending task becomes completed, marked skipped; its dependents run "
    "without its result. Running tasks are refused: cancel them first.",
    preview=_service_preview("skip"),
    apply=_apply_mark("skipped"),
)
cancel_tasks = confirmed_action(
    name="cancel_tasks",
    description="Cancel",
    verb="Cancel",
    intro="Pending tasks are cancelled; running ones are asked to stop. Dependents that can no longer run "
    "are cancelled as upstream_cancelled.",
    preview=_service_preview("cancel"),
    apply=_apply_cancel,
)
copy_run_minimal = confirmed_action(
    name="copy_run_minimal",
    description="Copy and run (minimal)",
    verb="Copy and run",
    intro=COPY_INTRO + " Minimal: the task's subtree plus every task that depends on it.",
    preview=_copy_preview("minimal"),
    apply=_apply_copy_and_run("minimal"),
)
copy_run_full = confirmed_action(
    name="copy_run_full",
    description="Copy and run (full)",
    verb="Copy and run",
    intro=COPY_INTRO + " Full: the whole tree; completed tasks that need not re-run are carried over.",
    preview=_copy_preview("full"),
    apply=_apply_copy_and_run("full"),
)
archive = confirmed_action(
    name="archive",
    description="Archive (read-only snapshot)",
    verb="Archive",
    intro="A frozen, read-only snapshot is made; the original is not changed.",
    preview=_archive_preview,
    apply=_apply_archive,
)
execute_trees = confirmed_action(
    name="execute_trees",
    description="Execute",
    verb="Execute",
    intro="Every pending task of each tree is scheduled to run.",
    preview=_tree_preview("execute"),
    apply=_apply_tree_execute,
)
cancel_trees = confirmed_action(
    name="cancel_trees",
    description="Cancel",
    verb="Cancel",
    intro="Every pending or running task of each tree is cancelled.",
    preview=_tree_preview("cancel"),
    apply=_apply_tree_cancel,
)
retry_trees = confirmed_action(
    name="retry_trees",
    description="Retry failed tasks",
    verb="Retry",
    intro="Every failed or cancelled task of each tree, and what it blocked, goes back to pending.",
    preview=_tree_preview("retry"),
    apply=_apply_tree_retry,
)

TASK_ACTIONS = [
    retry_tasks,
    rerun_tasks,
    mark_success_tasks,
    skip_tasks,
    cancel_tasks,
    copy_run_minimal,
    copy_run_full,
    archive,
]
TREE_ACTIONS = [execute_trees, cancel_trees, retry_trees, copy_run_full, archive]
