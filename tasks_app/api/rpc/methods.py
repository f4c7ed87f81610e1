"""The methods: apflow's names and params, each a thin call to one selector or service."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from tasks_app import exceptions as domain
from tasks_app import selectors
from tasks_app.api.serializers import RunSerializer
from tasks_app.engine.states import TERMINAL, Status
from tasks_app.models import Task
from tasks_app.services import control, copying, notifications, task_fields, trees

from . import scheduled
from .protocol import (
    INVALID_PARAMS,
    JSONRPC,
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
    MAX_OFFSET,
    MSG_TYPE,
    SOURCE,
    WAIT_DEFAULT_TIMEOUT,
    WAIT_MAX_TIMEOUT,
    RpcError,
    id_list,
    param,
    param_bool,
    param_int,
    param_number,
    rpc_error_for,
    statuses_param,
)
from .render import attempt_dict, iso, output_list, task_dict, task_dicts, tree_dict, written_answer

# --- calls -------------------------------------------------------------------------------------------


@dataclass
class Call:
    request: Any
    user: Any
    rpc_id: Any
    batch: bool = False


@dataclass
class Streaming:
    """A handler's answer that replaces the JSON envelope (``use_streaming``)."""

    response: Any
    result: dict


@dataclass(frozen=True)
class Method:
    name: str
    handler: Callable[[Call, Any], Any]
    category: str
    description: str
    params: tuple = ()
    array_params: bool = False


def _task(call: Call, params: dict, *names: str, action: str = "view") -> Task:
    return selectors.task_get(call.user, param(params, *names), action, request=call.request, source=SOURCE)


def _filters_owner(call: Call) -> bool:
    """``user_id`` is honoured for those who see other users' tasks (staff with view_task)."""
    return selectors.sees_all(call.user, Task)


def _owner_filter(call: Call, params: dict, qs):
    """``user_id`` narrows lists to one owner for staff who may see others' tasks; it is ignored
    for everybody else (their lists are their own tasks anyway)."""
    user_id = params.get("user_id")
    if user_id is None or not _filters_owner(call):
        return qs
    text = str(user_id)
    if text.isdigit() and int(text) <= MAX_OFFSET:
        return qs.filter(owner_id=int(text))
    return qs.filter(owner__username=text)


def _check_user_ids(call: Call, tasks) -> None:
    """apflow's ``user_id`` is accepted when it names the caller (username or id): the owner is
    always the authenticated user, so another value is refused rather than silently ignored."""
    mine = {call.user.get_username(), str(call.user.pk)}
    for raw in tasks if isinstance(tasks, list) else [tasks]:
        if isinstance(raw, dict) and raw.get("user_id") is not None and str(raw["user_id"]) not in mine:
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: task '{raw.get('name')}': user_id "
                f"{raw['user_id']!r} is not you ({call.user.get_username()!r}); "
                "tasks belong to the authenticated caller: omit user_id",
                type_="validation",
                details={"user_id": raw["user_id"]},
            )


def rpc_create(call: Call, params):
    if isinstance(params, dict) and isinstance(params.get("tasks"), list) and "name" not in params:
        params = params["tasks"]
    _check_user_ids(call, params)
    tasks, schedule_fields = scheduled.split_schedule(params)
    if schedule_fields is not None:
        return scheduled.create_with_schedule(call, params)
    # the answer is built from the rows written, during the commit (trees.tree_create)
    tree = trees.tree_create(
        owner=call.user,
        tasks=tasks,
        actor=call.user,
        source=SOURCE,
        answer=written_answer(call.user.username),
    )
    return output_list(tree)


def rpc_get(call: Call, params):
    task = _task(call, params, "task_id", "id")
    data = task_dict(task)
    data["attempts"] = [attempt_dict(a) for a in selectors.task_attempts(task)]
    return data


def rpc_tree(call: Call, params):
    task = _task(call, params, "task_id", "root_id")
    return tree_dict(selectors.tree_tasks(task.tree_id), task.id)


def rpc_runs(call: Call, params):
    """The runs of the task's tree, newest first (the REST RunSerializer's shape)."""
    task = _task(call, params, "task_id", "root_id", "tree_id")
    tree = selectors.tree_get(call.user, task.tree_id)
    return [dict(r) for r in RunSerializer(selectors.tree_runs(tree)[:100], many=True).data]


def rpc_children(call: Call, params):
    task = _task(call, params, "parent_id", "task_id")
    return task_dicts(list(Task.objects.filter(parent_id=task.id).order_by("priority", "position")))


def rpc_list(call: Call, params):
    qs = _owner_filter(call, params, selectors.task_queryset(call.user))
    statuses = statuses_param(params.get("status"), "status")
    if statuses:
        qs = qs.filter(status__in=statuses)
    if param_bool(params, "root_only", True):
        qs = qs.filter(parent__isnull=True)
    limit = min(param_int(params, "limit", LIST_DEFAULT_LIMIT, minimum=1), LIST_MAX_LIMIT)
    offset = param_int(params, "offset", 0)
    return task_dicts(list(qs.order_by("-created_at", "-position")[offset : offset + limit]))


def rpc_count(call: Call, params):
    qs = _owner_filter(call, params, selectors.task_queryset(call.user))
    root_only = param_bool(params, "root_only", False)
    if root_only:
        qs = qs.filter(parent__isnull=True)
    statuses = statuses_param(params.get("statuses", params.get("status")), "statuses")
    if statuses:
        qs = qs.filter(status__in=statuses)
    counts = {s.value: 0 for s in Status}
    for status, n in qs.values_list("status").annotate(n=Count("id")).order_by():
        counts[status] = n
    counts["total"] = sum(counts.values())
    if params.get("user_id") is not None and _filters_owner(call):
        counts["user_id"] = params["user_id"]
    counts["root_only"] = root_only
    return counts


def rpc_update(call: Call, params):
    from tasks_app.services import tasks as task_services

    task = _task(call, params, "task_id", "id", action="change")
    data = {k: v for k, v in params.items() if k not in ("task_id", "id")}
    updated = task_services.task_update(task=task, data=data, actor=call.user, source=SOURCE)
    return task_dict(updated) if isinstance(updated, Task) else updated


def rpc_delete(call: Call, params):
    from tasks_app.services import tasks as task_services

    task = _task(call, params, "task_id", "id", action="delete")
    outcome = task_services.task_delete(task=task, actor=call.user, source=SOURCE)
    deleted = outcome.get("deleted", [])
    return {
        "success": True,
        "task_id": str(task.id),
        "deleted_count": len(deleted),
        "children_deleted": max(0, len(deleted) - 1),
        **outcome,
    }


def rpc_execute(call: Call, params):
    if isinstance(params, list):
        params = {"tasks": params}
    webhook_config = params.get("webhook_config")
    if webhook_config is not None:  # refused before anything is created
        notifications.clean_rule(notifications.rule_data_from_webhook_config(webhook_config)["data"])
    copy_execution = param_bool(params, "copy_execution", False)
    copy_children = param_bool(params, "copy_children", False)
    use_streaming = param_bool(params, "use_streaming", False)
    wait = param_bool(params, "wait", False)
    timeout = param_number(params, "timeout", WAIT_DEFAULT_TIMEOUT, maximum=WAIT_MAX_TIMEOUT)
    use_demo = params.get("use_demo")
    if use_demo is not None and not isinstance(use_demo, bool):
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name="use_demo", kind="a boolean"))
    apflow = _apflow_events(call, params) if use_streaming and not call.batch else False
    original = rule = None
    creating = params.get("tasks") is not None
    if creating and not copy_execution and webhook_config is None:
        # create and run in one transaction: never a created tree that is not running
        _check_user_ids(call, params["tasks"])
        tree = trees.tree_create(
            owner=call.user,
            tasks=params["tasks"],
            actor=call.user,
            source=SOURCE,
            execute=True,
            demo=use_demo,
        )
        task = Task.objects.select_related("tree").get(id=tree.id)
    else:
        # a tree created here (tasks=...) is rolled back if its copy or run is refused; an existing
        # tree's execute keeps its own transaction (and its retry after a deadlock)
        with transaction.atomic() if creating else nullcontext():
            if creating:
                _check_user_ids(call, params["tasks"])
                created = trees.tree_create(
                    owner=call.user, tasks=params["tasks"], actor=call.user, source=SOURCE
                )
                task = Task.objects.select_related("tree").get(id=created.id)
            else:
                task = _task(call, params, "task_id", "id", action="change")
            if copy_execution:
                original = task
                tree = copying.task_copy(
                    task=task, mode="minimal", children=copy_children, actor=call.user, source=SOURCE
                )
                task = Task.objects.select_related("tree").get(tree=tree, original_task=original)
                run_target = None
            else:
                tree = task.tree
                run_target = None if task.id == tree.id else task
            if webhook_config is not None:
                tree, rule = notifications.execute_with_webhook(
                    tree=tree,
                    task=run_target,
                    actor=call.user,
                    source=SOURCE,
                    webhook_config=webhook_config,
                    demo=use_demo,
                )
            else:
                tree = control.tree_execute(
                    tree=tree, task=run_target, actor=call.user, source=SOURCE, demo=use_demo
                )
    result = {
        "success": True,
        "protocol": "jsonrpc",
        "root_task_id": str(tree.id),
        "task_id": str(task.id),
        "status": tree.status,
        "message": "execution started",
    }
    if original is not None:
        result["original_task_id"] = str(original.id)
    if rule is not None:  # apflow: the run goes on in the background, its end is POSTed to the URL
        result.update(webhook_url=rule.url, notification_id=str(rule.id))
    if use_streaming and not call.batch:
        try:
            from tasks_app.live.sse import stream_tree_events
        except ImportError:
            result["streaming"] = False
            result["message"] = "execution started; streaming is unavailable on this server"
        else:
            result["streaming"] = True
            if apflow:  # apflow's first message says "started"; the tree's own status stays alongside
                result["tree_status"], result["status"] = result["status"], "started"
            response = stream_tree_events(
                request=call.request, tree=tree, rpc_id=call.rpc_id, first_result=result, apflow=apflow
            )
            return Streaming(response, result)
    if wait:
        status = _wait_for(tree.id, timeout)
        result["status"] = status
        result["final"] = Status(status) in TERMINAL
        result["message"] = "execution finished" if result["final"] else f"still {status} after {timeout:g}s"
        root = Task.objects.filter(id=tree.id).first()  # None: deleted while we waited
        result["result"] = root.result if root is not None else None
        result["error"] = root.error if root is not None else None
    return result


def _apflow_events(call: Call, params: dict) -> bool:
    """Events in apflow's shape: asked by ``event_format: "apflow"`` or, as apflow's clients do,
    by ``Accept: text/event-stream``; ``event_format: "arbor"`` keeps Arbor's event form."""
    fmt = params.get("event_format")
    if fmt is not None:
        if fmt not in ("apflow", "arbor"):
            raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name="event_format", kind="'apflow' or 'arbor'"))
        return fmt == "apflow"
    accept = call.request.META.get("HTTP_ACCEPT", "") if call.request is not None else ""
    return "text/event-stream" in accept


def _wait_for(tree_id, timeout: float) -> str:
    """Block until the tree is terminal or ``timeout`` seconds have passed, woken by the tree's
    status events (``live.waiters``), not by a polling back-off."""
    from tasks_app.live import waiters

    status, _ = waiters.wait_terminal(tree_id, timeout)
    return status or Status.CANCELLED.value


def rpc_cancel(call: Call, params):
    raw = params.get("task_ids")
    if raw is None:
        raw = params.get("context_ids")
    ids = id_list(raw, "task_ids")
    force = param_bool(params, "force", False)
    message = params.get("error_message")
    if message is not None and not isinstance(message, str):
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name="error_message", kind="a string"))
    results = []
    first_missing = None
    for raw_id in ids:
        try:
            task = selectors.task_get(call.user, raw_id, "change", request=call.request, source=SOURCE)
        except (domain.NotFound, domain.PermissionDenied) as exc:
            first_missing = first_missing or exc
            error = rpc_error_for(exc)
            results.append(
                {
                    "task_id": raw_id,
                    "status": "error",
                    "message": exc.message,
                    "force": force,
                    "error": error.body(),
                }
            )
            continue
        try:
            if task.id == task.tree_id:
                control.tree_cancel(
                    tree=task.tree, actor=call.user, source=SOURCE, reason=message or "tree cancelled by user"
                )
            else:
                control.task_cancel(
                    task=task, actor=call.user, source=SOURCE, reason=message or "cancelled by user"
                )
        except (domain.InvalidTransition, domain.ArchivedTask) as exc:
            results.append(
                {"task_id": str(task.id), "status": "failed", "message": exc.message, "force": force}
            )
            continue
        task.refresh_from_db()
        results.append(
            {
                "task_id": str(task.id),
                "status": task.status,
                "message": "cancelled",
                "force": force,
                "error": task.error,
                "result": task.result,
            }
        )
    if first_missing is not None and all(r["status"] == "error" for r in results):
        raise first_missing
    return results


def _rpc_mark(mark: str):
    def handler(call: Call, params):
        task = _task(call, params, "task_id", "id", action="change")
        control.task_mark(task=task, mark=mark, actor=call.user, source=SOURCE)
        task.refresh_from_db()
        return task_dict(task)

    return handler


rpc_mark_success = _rpc_mark("success")
rpc_skip = _rpc_mark("skipped")


def _visible_ids(call: Call, value, name: str):
    """Task ids given to copy or link are looked up like any id (another user's task is simply not
    found, -32001); client ids and names pass through for the service to resolve in the tree."""
    if value is None:
        return None
    out = []
    for ref in id_list(value, name):
        try:
            selectors.parse_uuid(ref)
        except domain.NotFound:
            out.append(ref)
        else:
            out.append(str(selectors.task_get(call.user, ref, request=call.request, source=SOURCE).id))
    return out


def _copy_source(call: Call, params: dict, save: bool) -> Task:
    """A copy belongs to the source's owner: saving one of another user's rows is changing them."""
    return _task(call, params, "task_id", "id", action="change" if save else "view")


def rpc_copy(call: Call, params):
    save = param_bool(params, "save", True)
    task = _copy_source(call, params, save)
    outcome = copying.task_copy(
        task=task,
        mode=params.get("copy_mode") or "minimal",
        children=param_bool(params, "children", False),
        custom_task_ids=_visible_ids(call, params.get("custom_task_ids"), "custom_task_ids"),
        custom_include_children=param_bool(params, "custom_include_children", False),
        reset_fields=params.get("reset_fields"),
        save=save,
        actor=call.user,
        source=SOURCE,
    )
    if not save:
        return {"tasks": outcome, "saved": False}
    return tree_dict(selectors.tree_tasks(outcome.id), outcome.id)


def rpc_clone(call: Call, params):
    save = param_bool(params, "save", True)
    task = _copy_source(call, params, save)
    outcome = copying.task_clone(
        task=task,
        origin_type=params.get("origin_type") or "copy",
        recursive=param_bool(params, "recursive", True),
        reset_fields=params.get("reset_fields"),
        save=save,
        link_task_ids=_visible_ids(call, params.get("link_task_ids"), "link_task_ids"),
        actor=call.user,
        source=SOURCE,
    )
    if not save:  # apflow's list (its CLI's --dry-run reads a list, even of one task); nothing written
        return list(outcome)
    return output_list(outcome)


def _running_trees(call: Call, params):
    qs = selectors.tree_queryset(call.user).filter(status=Status.IN_PROGRESS.value)
    return _owner_filter(call, params, qs)


def rpc_running_list(call: Call, params):
    limit = min(param_int(params, "limit", LIST_DEFAULT_LIMIT, minimum=1), LIST_MAX_LIMIT)
    tree_ids = list(
        _running_trees(call, params)
        .order_by("-started_at", "-created_at")
        .values_list("id", flat=True)[:limit]
    )
    roots = {t.id: t for t in Task.objects.filter(id__in=tree_ids)}
    return task_dicts([roots[i] for i in tree_ids if i in roots])


def rpc_running_status(call: Call, params):
    raw = params.get("task_ids")
    if raw is None:
        raw = params.get("context_ids")
    ids = id_list(raw, "task_ids")
    out: list[dict[str, Any]] = []
    first_missing = None
    for raw_id in ids:
        try:
            task = selectors.task_get(call.user, raw_id, request=call.request, source=SOURCE)
        except domain.NotFound as exc:
            first_missing = first_missing or exc
            out.append({"task_id": raw_id, "status": "not_found", "message": exc.message})
            continue
        tree_running = task.tree.status == Status.IN_PROGRESS.value
        out.append(
            {
                "task_id": str(task.id),
                "context_id": str(task.tree_id),
                "name": task.name,
                "status": task.status,
                "tree_status": task.tree.status,
                "progress": task.progress,
                "error": task.error,
                "is_running": tree_running and Status(task.status) not in TERMINAL,
                "started_at": iso(task.started_at),
                "updated_at": iso(task.updated_at),
            }
        )
    if first_missing is not None and all(r["status"] == "not_found" for r in out):
        raise first_missing
    return out


def rpc_running_count(call: Call, params):
    out = {"count": _running_trees(call, params).count()}
    if params.get("user_id") is not None and _filters_owner(call):
        out["user_id"] = params["user_id"]
    return out


def _p(name: str, kind: str, description: str, *, required: bool = False, default=None) -> dict:
    spec = {"name": name, "type": kind, "required": required, "description": description}
    if default is not None:
        spec["default"] = default
    return spec


TASK_ID = _p("task_id", "string", "task id (apflow also accepts 'id')", required=True)
FILTER_USER = _p(
    "user_id",
    "string",
    "staff with tasks_app.view_task only: one owner's tasks (username or user id); ignored otherwise",
)


def rpc_webhook_trigger(call: Call, params):
    """apflow's ``tasks.webhook.trigger``, on Arbor's per-tree triggers: the caller (who may change
    the trigger's tree) fires it without its secret; the run starts as the tree's owner."""
    from tasks_app.services import triggers as trigger_services

    trigger = selectors.trigger_get(
        call.user, param(params, "trigger_id"), "change", request=call.request, source=SOURCE
    )
    inputs = params.get("inputs", {})
    if not isinstance(inputs, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'inputs' must be an object")
    tree = trigger_services.trigger_fire(trigger=trigger, inputs=inputs)
    return {
        "success": True,
        "status": "triggered",
        "root_task_id": str(tree.id),
        "task_id": str(tree.id),
        "trigger_id": str(trigger.id),
        "run": tree.run_count,
        "tree_status": tree.status,
    }


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "tasks.create",
            rpc_create,
            "crud",
            "Create a tree from a task dict, a task array, or params given as an array; returns the task "
            "dict (one task) or the list in pre-order.",
            (
                _p(
                    "tasks",
                    "array",
                    "the task array (or pass params itself as an array, or one task dict); each task's "
                    "fields: task_fields",
                ),
            ),
            array_params=True,
        ),
        Method("tasks.get", rpc_get, "crud", "One task with its attempts.", (TASK_ID,)),
        Method("tasks.detail", rpc_get, "crud", "Same as tasks.get.", (TASK_ID,)),
        Method(
            "tasks.tree",
            rpc_tree,
            "crud",
            "{task, children} of the subtree rooted at the task.",
            (_p("task_id", "string", "task id (or 'root_id')", required=True),),
        ),
        Method(
            "tasks.runs",
            rpc_runs,
            "monitoring",
            "The runs of the task's tree, newest first (at most 100): number, trigger, who, status, "
            "handled_failures, times, counts.",
            (TASK_ID,),
        ),
        Method(
            "tasks.children",
            rpc_children,
            "crud",
            "Direct children, by priority (0 first).",
            (_p("parent_id", "string", "parent task id (or 'task_id')", required=True),),
        ),
        Method(
            "tasks.list",
            rpc_list,
            "crud",
            "Tasks, newest first.",
            (
                FILTER_USER,
                _p("status", "string|array", "only these statuses"),
                _p("root_only", "boolean", "only roots (trees)", default=True),
                _p("limit", "integer", f"page size, at most {LIST_MAX_LIMIT}", default=LIST_DEFAULT_LIMIT),
                _p("offset", "integer", "skip this many", default=0),
            ),
        ),
        Method(
            "tasks.count",
            rpc_count,
            "crud",
            "Number of tasks by status.",
            (
                FILTER_USER,
                _p("root_only", "boolean", "count roots only", default=False),
                _p("statuses", "array", "only these statuses"),
            ),
        ),
        Method(
            "tasks.update",
            rpc_update,
            "crud",
            "Change editable fields of a pending task outside an active run (status and results are "
            "read-only: use execute, cancel, retry).",
            (
                TASK_ID,
                _p(
                    ", ".join(f.name for f in task_fields.FIELDS if f.updatable),
                    "any",
                    "fields to change (task_fields: their types and limits)",
                ),
            ),
        ),
        Method(
            "tasks.delete",
            rpc_delete,
            "crud",
            "Delete a task and its subtree (the root: the whole tree) when nothing depends on it.",
            (TASK_ID,),
        ),
        Method(
            "tasks.execute",
            rpc_execute,
            "execution",
            "Start a run and return at once with the tree's current status; wait=true waits for the final "
            "status.",
            (
                _p("task_id", "string", "the task to run (the root runs the whole tree)"),
                _p("tasks", "array", "a task array to create and run"),
                _p("wait", "boolean", "wait for the final status", default=False),
                _p(
                    "timeout",
                    "number",
                    f"seconds to wait, at most {WAIT_MAX_TIMEOUT:g}",
                    default=WAIT_DEFAULT_TIMEOUT,
                ),
                _p("use_streaming", "boolean", "answer with a text/event-stream of the run", default=False),
                _p(
                    "event_format",
                    "string",
                    "apflow | arbor: the streamed events' shape (default: apflow when "
                    "the request sends Accept: text/event-stream, else arbor)",
                ),
                _p("copy_execution", "boolean", "copy (minimal) first and run the copy", default=False),
                _p(
                    "copy_children",
                    "boolean",
                    "with copy_execution: also copy each child's subtree",
                    default=False,
                ),
                _p(
                    "use_demo",
                    "boolean",
                    "executors that declare a demo result return it (no side effects)",
                    default=False,
                ),
            ),
            array_params=True,
        ),
        Method(
            "tasks.cancel",
            rpc_cancel,
            "execution",
            "Cancel tasks (a root cancels its whole tree); one entry per task.",
            (
                _p(
                    "task_ids",
                    "array|string",
                    "ids (or 'context_ids'); a list or comma-separated",
                    required=True,
                ),
                _p("force", "boolean", "accepted; cancellation is always immediate", default=False),
                _p("error_message", "string", "the reason recorded on cancelled tasks"),
            ),
        ),
        Method(
            "tasks.mark_success",
            rpc_mark_success,
            "execution",
            "Mark a failed, cancelled or pending task completed by the caller's word; what it alone blocked "
            'runs again (docs/semantics.md "Mark success and skip"). Returns the task.',
            (TASK_ID,),
        ),
        Method(
            "tasks.skip",
            rpc_skip,
            "execution",
            "Skip a failed, cancelled or pending task: completed, marked skipped; its dependents run "
            "without its result. Returns the task.",
            (TASK_ID,),
        ),
        Method(
            "tasks.running.cancel",
            rpc_cancel,
            "monitoring",
            "Same as tasks.cancel.",
            (
                _p("task_ids", "array|string", "ids (or 'context_ids')", required=True),
                _p("force", "boolean", "accepted", default=False),
                _p("error_message", "string", "reason"),
            ),
        ),
        Method(
            "tasks.copy",
            rpc_copy,
            "copy",
            "Legacy copy (apflow <= 0.11): new pending tasks, originals untouched.",
            (
                TASK_ID,
                _p("copy_mode", "string", "minimal | full | custom", default="minimal"),
                _p("children", "boolean", "also copy each direct child's subtree", default=False),
                _p(
                    "custom_task_ids",
                    "array",
                    "custom mode: the tasks to copy (upstream dependencies are added)",
                ),
                _p("custom_include_children", "boolean", "custom mode: add their subtrees", default=False),
                _p("reset_fields", "array", "outcome fields to reset (default: all)"),
                _p("save", "boolean", "false: return the create-ready array, write nothing", default=True),
            ),
        ),
        Method(
            "tasks.clone",
            rpc_clone,
            "copy",
            "Copy, link, archive or mix (apflow >= 0.12) into a new tree.",
            (
                TASK_ID,
                _p("origin_type", "string", "copy | link | archive | mixed", default="copy"),
                _p("recursive", "boolean", "include the subtree", default=True),
                _p(
                    "reset_fields",
                    "object",
                    "overrides for copied tasks (status pending, result, priority, ...)",
                ),
                _p("link_task_ids", "array", "mixed: the tasks to link rather than copy"),
                _p("save", "boolean", "false: return a preview array, write nothing", default=True),
            ),
        ),
        Method(
            "tasks.running.list",
            rpc_running_list,
            "monitoring",
            "Roots of the trees now in progress.",
            (FILTER_USER, _p("limit", "integer", f"at most {LIST_MAX_LIMIT}", default=LIST_DEFAULT_LIMIT)),
        ),
        Method(
            "tasks.running.status",
            rpc_running_status,
            "monitoring",
            "Status and progress of tasks.",
            (_p("task_ids", "array|string", "ids (or 'context_ids')", required=True),),
        ),
        Method(
            "tasks.running.count",
            rpc_running_count,
            "monitoring",
            "Number of trees in progress.",
            (FILTER_USER,),
        ),
        Method(
            "tasks.scheduled.list",
            scheduled.rpc_scheduled_list,
            "scheduling",
            "Scheduled trees (their root task dicts with the schedule fields), by next fire time.",
            (
                _p("enabled_only", "boolean", "only active schedules", default=True),
                FILTER_USER,
                _p("schedule_type", "string", "once | interval | cron | daily | weekly | monthly"),
                _p("status", "string", "only trees in this status"),
                _p("limit", "integer", f"at most {LIST_MAX_LIMIT}", default=LIST_DEFAULT_LIMIT),
                _p("offset", "integer", "skip this many", default=0),
            ),
        ),
        Method(
            "tasks.scheduled.due",
            scheduled.rpc_scheduled_due,
            "scheduling",
            "Active schedules whose next fire time is at or before 'before' (default now).",
            (
                _p("before", "string", "ISO 8601 datetime with an offset"),
                FILTER_USER,
                _p("limit", "integer", f"at most {LIST_MAX_LIMIT}", default=LIST_DEFAULT_LIMIT),
            ),
        ),
        Method(
            "tasks.webhook.trigger",
            rpc_webhook_trigger,
            "execution",
            "Fire an inbound trigger of a tree you may change: a new run with 'inputs' as the root's inputs.",
            (
                _p("trigger_id", "string", "the trigger (POST /api/v1/trees/{id}/triggers/)", required=True),
                _p("inputs", "object", "the root task's inputs", default={}),
            ),
        ),
    ]
}


def methods_catalogue() -> dict:
    categories: dict[str, list[str]] = defaultdict(list)
    for method in METHODS.values():
        categories[method.category].append(method.name)
    return {
        "total": len(METHODS),
        "categories": dict(categories),
        "methods": [
            {"name": m.name, "category": m.category, "description": m.description, "params": list(m.params)}
            for m in METHODS.values()
        ],
        # the fields of a task (services.task_fields, the declaration the REST schema is built from)
        "task_fields": task_fields.catalogue(),
        "protocols": [
            {"name": "jsonrpc", "version": JSONRPC, "endpoint": "/tasks", "methods": "/tasks/methods"},
            {"name": "rest", "endpoint": "/api/v1/", "schema": "/api/schema/"},
            {"name": "websocket", "endpoint": "/ws/"},
        ],
    }
