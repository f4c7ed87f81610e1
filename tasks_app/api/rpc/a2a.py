"""apflow's other endpoints, for its clients (docs/apflow.md): ``POST /`` (its health check and the
part of A2A that its clients use), ``POST /system`` (``system.health``, ``system.executors``) and
the public agent card ``GET /.well-known/agent-card.json``.

A2A scope: ``message/send`` (and ``message/stream``, answered the same way) whose message carries a
data part ``{"tasks": [...]}`` (create the tree and run it) or ``metadata.task_id`` (run that task's
tree); ``tasks/get`` and ``tasks/cancel`` by task id. The answer is an A2A ``Task`` object whose id
is the tree's root. The rest of A2A is not served (-32601); a ``push_notification_config`` given
with ``message/send`` is ignored (no callbacks)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks_app import selectors
from tasks_app.engine.states import TERMINAL, Status
from tasks_app.executors import registry
from tasks_app.models import Task, Tree
from tasks_app.services import control, trees

from .methods import METHODS, Call, Method, _wait_for
from .protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MSG_NOT_A_REQUEST,
    SOURCE,
    WAIT_MAX_TIMEOUT,
    RpcError,
    envelope_error,
)
from .render import iso
from .views import RpcBaseView, run_entry

PROTOCOL_VERSION = "0.3.0"
HEALTHY = "healthy"

# Arbor status -> A2A TaskState
A2A_STATE = {
    Status.PENDING.value: "submitted",
    Status.IN_PROGRESS.value: "working",
    Status.COMPLETED.value: "completed",
    Status.FAILED.value: "failed",
    Status.CANCELLED.value: "canceled",
}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("arbor")
    except Exception:
        return "0.1.0"


# --- /system -----------------------------------------------------------------------------------------


def system_health(call: Call, params):
    running = selectors.tree_queryset(call.user).filter(status=Status.IN_PROGRESS.value).count()
    return {
        "status": HEALTHY,
        "message": "Arbor is healthy",
        "version": _version(),
        "timestamp": iso(timezone.now()),
        "running_tasks_count": running,
    }


def system_executors(call: Call, params):
    out = []
    for executor_id in sorted(registry.known_ids()):
        out.append({"id": executor_id, "name": executor_id})
    return {
        "executors": out,
        "count": len(out),
        "aliases": dict(sorted(registry.ALIASES.items())),
        "apflow_unsupported": dict(sorted(registry.APFLOW_UNSUPPORTED.items())),
    }


SYSTEM_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "system.health",
            system_health,
            "system",
            "Server health: {status: healthy, version, timestamp, running_tasks_count} (your running trees).",
        ),
        Method(
            "system.executors",
            system_executors,
            "system",
            "Executor ids, apflow aliases, apflow ids not served.",
        ),
    ]
}


class SystemView(RpcBaseView):
    """``POST /system``: apflow's system methods (authenticated)."""

    @extend_schema(
        operation_id="jsonrpc_system",
        tags=["json-rpc"],
        summary="system.health, system.executors",
        request={"application/json": {"type": "object"}},
        responses={200: {"type": "object"}},
    )
    def post(self, request, *args, **kwargs):
        payload = request.data
        if not isinstance(payload, dict):
            return Response(envelope_error(None, RpcError(INVALID_REQUEST, MSG_NOT_A_REQUEST)), status=400)
        # apflow answers a request without an id (id null) rather than treating it as a notification
        payload = {"id": None, **payload}
        body, http_status, _ = run_entry(request, request.user, payload, batch=False, methods=SYSTEM_METHODS)
        if body is None:
            return Response(status=204)
        return Response(body, status=http_status)


# --- A2A ---------------------------------------------------------------------------------------------


def a2a_task(tree: Tree, *, task: Task | None = None, context: dict | None = None) -> dict:
    """An A2A ``Task`` object for a tree (its id is the root's, or the addressed task's)."""
    root = Task.objects.get(id=tree.id)
    target = task or root
    state = A2A_STATE.get(tree.status, "unknown")
    data = {
        "protocol": "a2a",
        "root_task_id": str(tree.id),
        "task_id": str(target.id),
        "status": tree.status,
        "progress": root.progress,
    }
    if Status(tree.status) in TERMINAL:
        data["result"] = root.result
        data["error"] = root.error
    return {
        "id": str(target.id),
        "context_id": str(tree.id),
        "kind": "task",
        "status": {
            "state": state,
            "timestamp": iso(tree.updated_at if hasattr(tree, "updated_at") else timezone.now()),
            "message": {
                "kind": "message",
                "role": "agent",
                "message_id": f"{tree.id}-status",
                "parts": [{"kind": "data", "data": data}],
            },
        },
        "artifacts": [{"artifact_id": f"{tree.id}-result", "parts": [{"kind": "data", "data": data}]}]
        if Status(tree.status) in TERMINAL
        else [],
        "metadata": {"protocol": "a2a", "root_task_id": str(tree.id), **(context or {})},
    }


def _message_parts(params: dict) -> tuple[dict, list]:
    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'message' is required (an A2A Message with parts)")
    parts = message.get("parts")
    if not isinstance(parts, list):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'message.parts' must be a list")
    metadata = {**(message.get("metadata") or {}), **(params.get("metadata") or {})}
    return metadata, parts


def _tasks_from_parts(parts: list):
    for part in parts:
        if not isinstance(part, dict):
            continue
        data = part.get("data")
        if (
            part.get("kind", "data") == "data"
            and isinstance(data, dict)
            and isinstance(data.get("tasks"), list)
        ):
            return data["tasks"]
        if isinstance(data, list):
            return data
    return None


def a2a_message_send(call: Call, params):
    metadata, parts = _message_parts(params)
    tasks = _tasks_from_parts(parts)
    use_demo = bool(metadata.get("use_demo"))
    if tasks is not None:
        if not tasks:
            raise RpcError(
                INVALID_PARAMS, "Invalid params: the message's data part has an empty 'tasks' list"
            )
        # created and started in one transaction
        tree = trees.tree_create(
            owner=call.user, tasks=tasks, actor=call.user, source=SOURCE, execute=True, demo=use_demo
        )
        task = None
    else:
        task_id = metadata.get("task_id") or params.get("task_id")
        if not task_id:
            raise RpcError(
                INVALID_PARAMS,
                'Invalid params: the message needs a data part {"tasks": [...]} '
                "or metadata.task_id (the task to run)",
            )
        task = selectors.task_get(call.user, task_id, "change", request=call.request, source=SOURCE)
        tree = control.tree_execute(
            tree=task.tree,
            task=task if task.id != task.tree_id else None,
            actor=call.user,
            source=SOURCE,
            demo=use_demo,
        )
    configuration = params.get("configuration") or {}
    if configuration.get("blocking"):
        _wait_for(tree.id, min(float(configuration.get("timeout") or 30), WAIT_MAX_TIMEOUT))
        tree.refresh_from_db()
    return a2a_task(tree, task=task, context={"use_demo": use_demo} if use_demo else None)


def _a2a_target(call: Call, params: dict, action: str) -> Task:
    metadata = params.get("metadata") or {}
    task_id = (
        params.get("id")
        or params.get("task_id")
        or params.get("context_id")
        or metadata.get("task_id")
        or metadata.get("context_id")
    )
    if not task_id:
        raise RpcError(INVALID_PARAMS, "Invalid params: 'id' (the task id) is required")
    return selectors.task_get(call.user, task_id, action, request=call.request, source=SOURCE)


def a2a_tasks_get(call: Call, params):
    task = _a2a_target(call, params, "view")
    return a2a_task(task.tree, task=task)


def a2a_tasks_cancel(call: Call, params):
    task = _a2a_target(call, params, "change")
    reason = (params.get("metadata") or {}).get("error_message") or "cancelled by user"
    if task.id == task.tree_id:
        control.tree_cancel(tree=task.tree, actor=call.user, source=SOURCE, reason=reason)
    else:
        control.task_cancel(task=task, actor=call.user, source=SOURCE, reason=reason)
    task.refresh_from_db()
    return a2a_task(Tree.objects.get(id=task.tree_id), task=task)


def _crud_refused(name: str):
    def handler(call: Call, params):
        raise RpcError(
            -32601,
            f"Method not found: {name} is served at POST /tasks, not at POST / (A2A)",
            details={"method": name, "endpoint": "/tasks"},
        )

    return handler


A2A_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "message/send",
            a2a_message_send,
            "a2a",
            "Create and run a tree from a data part {tasks: [...]}, "
            "or run metadata.task_id; returns an A2A Task.",
        ),
        Method(
            "message/stream", a2a_message_send, "a2a", "Same as message/send (one JSON answer, no stream)."
        ),
        Method("tasks/get", a2a_tasks_get, "a2a", "The A2A Task of a task id."),
        Method("tasks/cancel", a2a_tasks_cancel, "a2a", "Cancel a task (a root cancels its tree)."),
        *[Method(name, _crud_refused(name), "a2a", "served at POST /tasks") for name in METHODS],
    ]
}


class RootView(RpcBaseView):
    """``POST /``: apflow's health check (body ``{}``, answered without authentication and
    revealing nothing) and its A2A JSON-RPC methods (Bearer token or a session with CSRF)."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="a2a",
        tags=["json-rpc"],
        summary="apflow health check ({}) and A2A JSON-RPC",
        request={"application/json": {"type": "object"}},
        responses={200: {"type": "object"}},
    )
    def post(self, request, *args, **kwargs):
        payload = request.data
        if payload == {} or payload is None or payload == "":
            return Response({"status": HEALTHY})
        if not request.user or not request.user.is_authenticated:
            raise drf_exceptions.NotAuthenticated()
        if not isinstance(payload, dict):
            return Response(envelope_error(None, RpcError(INVALID_REQUEST, MSG_NOT_A_REQUEST)), status=400)
        body, http_status, _ = run_entry(request, request.user, payload, batch=False, methods=A2A_METHODS)
        if body is None:
            return Response(status=204)
        return Response(body, status=http_status)


def agent_card(base_url: str) -> dict:
    return {
        "name": "Arbor",
        "description": "Task-tree orchestration (apflow-compatible): create, run and watch task trees.",
        "url": base_url,
        "version": _version(),
        "protocol_version": PROTOCOL_VERSION,
        "preferred_transport": "JSONRPC",
        "default_input_modes": ["application/json"],
        "default_output_modes": ["application/json"],
        "capabilities": {"streaming": False, "push_notifications": False, "state_transition_history": False},
        "security_schemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "security": [{"bearer": []}],
        "skills": [
            {
                "id": "execute_task_tree",
                "name": "Execute a task tree",
                "description": 'message/send with a data part {"tasks": [...]} creates the tree and runs it; '
                "metadata.task_id runs an existing task's tree.",
                "tags": ["tasks", "execution"],
                "examples": [],
            },
            {
                "id": "tasks_jsonrpc",
                "name": "Task management (JSON-RPC at /tasks)",
                "description": (
                    "Create, read, update, delete, clone and cancel tasks: POST /tasks (apflow's methods)."
                ),
                "tags": ["tasks", "crud"],
                "examples": [],
            },
        ],
    }


class AgentCardView(APIView):
    """``GET /.well-known/agent-card.json`` (and apflow's older ``agent.json``): public."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)  # public and parameterless: described in docs/apflow.md
    def get(self, request, *args, **kwargs):
        return Response(agent_card(request.build_absolute_uri("/")))


class AgentCardLegacyView(AgentCardView):
    """``GET /.well-known/agent.json``: the card under A2A's older name."""


class ExecuteByPathView(RpcBaseView):
    """``POST /tasks/<task_id>/execute``: the path apflow's ``APIClient.execute_task`` calls (its
    own server has no such route); the body is ``tasks.execute``'s other params, the answer its
    result object (an error: the JSON-RPC error envelope with its HTTP status)."""

    @extend_schema(exclude=True)
    def post(self, request, task_id, *args, **kwargs):
        extra = request.data if isinstance(request.data, dict) else {}
        entry = {
            "jsonrpc": "2.0",
            "id": None,
            "method": "tasks.execute",
            "params": {**extra, "task_id": task_id},
        }
        body, http_status, _ = run_entry(request, request.user, entry, batch=False)
        return Response(body.get("result", body), status=http_status)
