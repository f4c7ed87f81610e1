"""One error shape for the REST API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tasks_app import exceptions as domain
from tasks_app.input_limits import InvalidString

STATUS_BY_ERROR = [
    (domain.NotFound, status.HTTP_404_NOT_FOUND),
    (domain.PermissionDenied, status.HTTP_403_FORBIDDEN),
    (domain.AlreadyRunning, status.HTTP_409_CONFLICT),
    (domain.InvalidTransition, status.HTTP_409_CONFLICT),
    (domain.CannotDelete, status.HTTP_409_CONFLICT),
    (domain.ArchivedTask, status.HTTP_409_CONFLICT),
    (domain.ValidationError, status.HTTP_400_BAD_REQUEST),
    (domain.OrchestratorError, status.HTTP_400_BAD_REQUEST),
]


def http_status_for(exc: domain.OrchestratorError) -> int:
    for cls, code in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return code
    return status.HTTP_400_BAD_REQUEST


def error_body(code: str, message: str, details=None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def exception_handler(exc, context):
    if isinstance(exc, domain.OrchestratorError):
        return Response(error_body(exc.code, exc.message, exc.details), status=http_status_for(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(
                "limit_exceeded",
                "request body is larger than the limit (DATA_UPLOAD_MAX_MEMORY_SIZE)",
                {"limit": "max_body_bytes"},
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        response = Response(
            error_body("database_unavailable", "the database is unavailable; retry shortly"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, DataError):
        # e.g. a value the database cannot store (PostgreSQL refuses NUL characters in text)
        return Response(
            error_body("validation", "a value cannot be stored: " + str(exc).splitlines()[0]),
            status=status.HTTP_400_BAD_REQUEST,
        )
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    data = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        code = "validation"
    elif isinstance(exc, Http404):
        code = "not_found"
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        message = str(data["detail"])
        details = {"path": exc.path} if isinstance(exc, InvalidString) else None
    else:
        message = "; ".join(_flatten(data)) or "invalid input"
        details = data
    response.data = error_body(str(code), message, details)
    return response


def _flatten(data, prefix: str = "") -> list[str]:
    """``{"mode": ["not a valid choice"]}`` -> ``["mode: not a valid choice"]``."""
    if isinstance(data, dict):
        return [
            message
            for key, value in data.items()
            for message in _flatten(value, prefix if key == "non_field_errors" else f"{prefix}{key}: ")
        ]
    if isinstance(data, list):
        return [m for item in data for m in _flatten(item, prefix)]
    return [f"{prefix}{data}"]


# --- Django's error views (root URLconf's handler404 / handler500) ----------------------------------
# A URL no route matches never reaches DRF; under the API prefixes it still answers the one error
# shape in JSON, not Django's HTML page.
API_PREFIXES = ("/api/", "/tasks")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "no such endpoint or object"), status=404)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(error_body("internal", "internal server error"), status=500)
    return defaults.server_error(request)
