"""Answer 503 with a JSON body while the database is unreachable, never a 500 with a trace."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OperationalError | InterfaceError):
            if "locked" in str(exception).lower():
                message = "the database is busy; retry shortly"
            else:
                message = "the database is unavailable; retry shortly"
            logger.warning("database error on %s: %s", request.path, exception)
            close_old_connections()
            response = JsonResponse(
                {"error": {"code": "database_unavailable", "message": message}}, status=503
            )
            response["Retry-After"] = "5"
            return response
        return None
