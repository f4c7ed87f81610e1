"""The two views and the request dispatcher (single requests, batches, notifications)."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks_app import exceptions as domain
from tasks_app.input_limits import InvalidString, LimitedJSONParser
from tasks_app.perf import gc_paused

from ..idempotency import idempotent
from ..renderers import JSONRenderer
from ..throttling import ThrottleUnauthenticatedMixin
from .methods import METHODS, Call, Streaming, methods_catalogue
from .protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JSONRPC,
    METHOD_NOT_FOUND,
    MSG_ARRAY_PARAMS,
    MSG_BAD_ID,
    MSG_BAD_METHOD,
    MSG_BAD_PARAMS,
    MSG_BAD_VERSION,
    MSG_BATCH_LIMIT,
    MSG_BODY_TOO_BIG,
    MSG_DB_DOWN,
    MSG_EMPTY_BATCH,
    MSG_INTERNAL,
    MSG_NOT_A_REQUEST,
    MSG_PARSE,
    MSG_UNKNOWN_METHOD,
    PARSE_ERROR,
    RATE_LIMITED,
    UNAUTHORIZED,
    RpcError,
    envelope_error,
    envelope_result,
    rpc_error_for,
)

logger = logging.getLogger("tasks_app.api.rpc")
# methods whose request and answer can hold a whole tree (10,000 tasks): see JsonRpcView.post
BULK_METHODS = frozenset({"tasks.create"})

# --- dispatch ----------------------------------------------------------------------------------------


def _valid_id(entry: dict) -> bool:
    rpc_id = entry.get("id")
    return rpc_id is None or (isinstance(rpc_id, str | int | float) and not isinstance(rpc_id, bool))


def run_entry(request, user, entry, *, batch: bool, methods=None):
    """Run one request object; return ``(envelope or None, http status, Streaming or None)``.
    ``methods``: the table to dispatch to (default ``POST /tasks``'s)."""
    if not isinstance(entry, dict):
        return envelope_error(None, RpcError(INVALID_REQUEST, MSG_NOT_A_REQUEST)), 400, None
    rpc_id = entry.get("id") if _valid_id(entry) else None
    notification = "id" not in entry
    if not _valid_id(entry):
        error = RpcError(INVALID_REQUEST, MSG_BAD_ID)
    elif entry.get("jsonrpc") != JSONRPC:
        error = RpcError(INVALID_REQUEST, MSG_BAD_VERSION)
    elif not isinstance(entry.get("method"), str):
        error = RpcError(INVALID_REQUEST, MSG_BAD_METHOD)
    elif "params" in entry and entry["params"] is not None and not isinstance(entry["params"], dict | list):
        error = RpcError(INVALID_REQUEST, MSG_BAD_PARAMS)
    else:
        error = None
    if error is not None:
        return envelope_error(rpc_id, error), error.http_status, None
    name = entry["method"]
    params = entry.get("params")
    if params is None:
        params = {}
    method = (METHODS if methods is None else methods).get(name)
    try:
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, MSG_UNKNOWN_METHOD.format(method=name), details={"method": name})
        if isinstance(params, list) and not method.array_params:
            raise RpcError(INVALID_PARAMS, MSG_ARRAY_PARAMS.format(method=name))
        outcome = method.handler(Call(request=request, user=user, rpc_id=rpc_id, batch=batch), params)
    except RpcError as exc:
        error = exc
    except domain.OrchestratorError as exc:
        error = rpc_error_for(exc)
    except (OperationalError, InterfaceError):
        logger.warning("database unavailable during %s", name, exc_info=True)
        error = RpcError(INTERNAL_ERROR, MSG_DB_DOWN, http_status=503, type_="database_unavailable")
    except DatabaseError:
        logger.exception("database error in %s", name)
        error = RpcError(INTERNAL_ERROR, MSG_INTERNAL)
    except Exception:
        logger.exception("JSON-RPC %s failed", name)
        error = RpcError(INTERNAL_ERROR, MSG_INTERNAL)
    if error is not None:
        if notification:
            return None, 204, None
        return envelope_error(rpc_id, error), error.http_status, None
    if isinstance(outcome, Streaming):
        return envelope_result(rpc_id, outcome.result), 200, outcome
    if notification:
        return None, 204, None
    return envelope_result(rpc_id, outcome), 200, None


class EventStreamAcceptingRenderer(JSONRenderer):
    """Lets ``Accept: text/event-stream`` through content negotiation (apflow's clients send it
    with ``use_streaming``); whatever is not a stream is still answered as JSON."""

    media_type = "text/event-stream"
    format = "sse"


class RpcBaseView(ThrottleUnauthenticatedMixin, APIView):
    """Shared by the endpoints: JSON only (``Accept: text/event-stream`` is accepted: streams are
    event streams, every other answer JSON), and every error (authentication included) in
    JSON-RPC's shape."""

    renderer_classes = [JSONRenderer, EventStreamAcceptingRenderer]
    parser_classes = [LimitedJSONParser]

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force=force)
        except Http404:  # an unknown ?format=: JSON-RPC answers JSON whatever the query says
            return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(getattr(response, "accepted_renderer", None), EventStreamAcceptingRenderer):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response

    def handle_exception(self, exc):
        headers = {}
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            error = RpcError(UNAUTHORIZED, f"Unauthorized: {exc.detail}", http_status=401)
            header = self.get_authenticate_header(self.request)
            if header:
                headers["WWW-Authenticate"] = header
        elif isinstance(exc, drf_exceptions.PermissionDenied):
            error = RpcError(UNAUTHORIZED, f"Unauthorized: {exc.detail}", http_status=403, type_="forbidden")
        elif isinstance(exc, InvalidString):
            # well-formed JSON holding a string that is not text: an invalid request, not a parse error
            error = RpcError(
                INVALID_REQUEST,
                f"Invalid Request: {exc.detail}",
                type_="invalid_string",
                details={"path": exc.path},
            )
        elif isinstance(exc, drf_exceptions.ParseError):
            error = RpcError(PARSE_ERROR, MSG_PARSE.format(detail=exc.detail))
        elif isinstance(exc, RequestDataTooBig):
            error = RpcError(
                INVALID_REQUEST,
                MSG_BODY_TOO_BIG,
                http_status=413,
                type_="limit_exceeded",
                details={"limit": "max_body_bytes", "value": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
            )
        elif isinstance(exc, domain.LimitExceeded):
            error = RpcError(
                INVALID_REQUEST, f"Invalid Request: {exc.message}", type_=exc.code, details=exc.details
            )
        elif isinstance(exc, drf_exceptions.Throttled):
            error = RpcError(RATE_LIMITED, f"Rate limited: {exc.detail}", http_status=429)
            wait = getattr(exc, "wait", None)
            if wait:
                headers["Retry-After"] = str(int(wait))
        elif isinstance(exc, drf_exceptions.APIException):
            error = RpcError(INVALID_REQUEST, f"Invalid Request: {exc.detail}", http_status=exc.status_code)
        elif isinstance(exc, OperationalError | InterfaceError):
            error = RpcError(INTERNAL_ERROR, MSG_DB_DOWN, http_status=503, type_="database_unavailable")
            headers["Retry-After"] = "5"
        else:
            logger.exception("JSON-RPC endpoint failed", exc_info=exc)
            error = RpcError(INTERNAL_ERROR, MSG_INTERNAL)
        return Response(envelope_error(None, error), status=error.http_status, headers=headers)


RPC_REQUEST_OBJECT = {
    "type": "object",
    "required": ["jsonrpc", "method"],
    "properties": {
        "jsonrpc": {"type": "string", "enum": ["2.0"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True},
        "method": {"type": "string", "enum": sorted(METHODS)},
        "params": {"oneOf": [{"type": "object"}, {"type": "array", "items": {}}]},
    },
}
RPC_REQUEST_SCHEMA = {"oneOf": [RPC_REQUEST_OBJECT, {"type": "array", "items": RPC_REQUEST_OBJECT}]}
RPC_RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "jsonrpc": {"type": "string"},
        "id": {"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True},
        "result": {},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "data": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "details": {"type": "object"}},
                },
            },
        },
    },
}

# apflow answers a batch with an array of answers (JSON-RPC 2.0 section 6): documented as such
RPC_BATCH_OR_SINGLE = {"oneOf": [RPC_RESPONSE_SCHEMA, {"type": "array", "items": RPC_RESPONSE_SCHEMA}]}


class JsonRpcView(RpcBaseView):
    """``POST /tasks``: one JSON-RPC 2.0 request or a batch."""

    @extend_schema(
        operation_id="jsonrpc",
        tags=["json-rpc"],
        summary="apflow-compatible JSON-RPC 2.0 (one request or a batch)",
        description="Methods and params: GET /tasks/methods and docs/api.md. Errors use JSON-RPC codes "
        "(-32001 not found, -32602 invalid params, ...) with matching HTTP statuses; a batch answers "
        "200 with one entry per request that has an id.",
        request={"application/json": RPC_REQUEST_SCHEMA},
        responses={
            200: OpenApiResponse(
                RPC_BATCH_OR_SINGLE,
                description="a request's answer (an object), or a batch's "
                "answers (an array, one per request with an id)",
            ),
            204: OpenApiResponse(description="only notifications"),
            **{
                code: OpenApiResponse(RPC_RESPONSE_SCHEMA, description=text)
                for code, text in [
                    (400, "parse error, invalid request or params, validation"),
                    (401, "unauthenticated (-32004)"),
                    (403, "CSRF failure for session callers (-32004)"),
                    (404, "unknown method or task"),
                    (409, "invalid transition, already executing, cannot delete"),
                    (413, "body too large"),
                ]
            },
        },
        examples=[
            OpenApiExample(
                "tasks.get",
                request_only=True,
                value={"jsonrpc": "2.0", "id": 1, "method": "tasks.get", "params": {"task_id": "<uuid>"}},
            )
        ],
    )
    @idempotent
    def post(self, request, *args, **kwargs):
        with ExitStack() as paused:
            # a create keeps the cyclic GC paused from parsing its body to building its answer, as
            # REST's create does (tasks_app.perf): each re-enable in between set off a collection
            # over the whole parsed tree. Any other call (a blocking ``wait``, say) is not paused
            # past its parse.
            paused.enter_context(gc_paused())
            payload = request.data
            if not (isinstance(payload, dict) and payload.get("method") in BULK_METHODS):
                paused.close()
            return self._post(request, payload)

    def _post(self, request, payload):
        user = request.user
        if isinstance(payload, list):
            return self._batch(request, user, payload)
        if not isinstance(payload, dict):
            return Response(envelope_error(None, RpcError(INVALID_REQUEST, MSG_NOT_A_REQUEST)), status=400)
        body, http_status, streaming = run_entry(request, user, payload, batch=False)
        if streaming is not None:
            response = streaming.response
            # what an Idempotency-Key replay answers: the first event, as plain JSON
            response.data = body
            return response
        if body is None:
            return Response(status=204)
        return Response(body, status=http_status)

    def _batch(self, request, user, payload: list):
        limit = settings.ARBOR_LIMITS["max_batch_size"]
        if not payload:
            return Response(envelope_error(None, RpcError(INVALID_REQUEST, MSG_EMPTY_BATCH)), status=400)
        if len(payload) > limit:
            error = RpcError(
                INVALID_REQUEST,
                MSG_BATCH_LIMIT.format(count=len(payload), limit=limit),
                type_="limit_exceeded",
                details={"limit": "max_batch_size", "value": limit},
            )
            return Response(envelope_error(None, error), status=400)
        answers = []
        for entry in payload:
            body, _status, _streaming = run_entry(request, user, entry, batch=True)
            if body is not None:
                answers.append(body)
        if not answers:
            return Response(status=204)
        return Response(answers, status=200)


class MethodsView(RpcBaseView):
    """``GET /tasks/methods``: the method catalogue."""

    @extend_schema(
        operation_id="jsonrpc_methods",
        tags=["json-rpc"],
        summary="JSON-RPC method catalogue",
        responses={
            200: OpenApiResponse(
                {"type": "object"}, description="{total, categories, methods, task_fields, protocols}"
            )
        },
    )
    def get(self, request, *args, **kwargs):
        return Response(methods_catalogue())
