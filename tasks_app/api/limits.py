"""Request limits enforced at the HTTP edge: body size, JSON nesting, page size.

Structural limits (tasks per tree, tree depth, dependencies per task, nesting inside task
fields) are the services' (``services.trees.parse_tree``); every limit and its default is listed
in docs/api.md.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser, get_encoding

from tasks_app.exceptions import LimitExceeded

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# A request body may nest a few levels above the task fields it carries ({"tasks": [{"inputs": ...}]}).
BODY_NESTING_SLACK = 5

MSG_TOO_DEEP = "request body is nested deeper than {limit} levels (max_json_depth)"
MSG_NUL = "request body contains a NUL character (\\u0000), which is not allowed"


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=``; ``limit`` defaults to 50 and is capped at 500."""

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE


def body_depth_limit() -> int:
    return settings.ARBOR_LIMITS["max_json_depth"] + BODY_NESTING_SLACK


def check_json(value, limit: int, *, nul_possible: bool = True) -> None:
    """Raise ``LimitExceeded`` for nesting deeper than ``limit`` and ``ParseError`` for NUL
    characters (PostgreSQL cannot store them in text or jsonb). Iterative: no recursion limit.
    ``nul_possible=False`` (the JSON text has no ``\\u0000`` escape, the only way a parsed string
    can hold a NUL) skips the string checks: only containers are walked then."""
    if not isinstance(value, dict | list):
        if nul_possible and isinstance(value, str) and "\x00" in value:
            raise ParseError(MSG_NUL)
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise LimitExceeded(MSG_TOO_DEEP.format(limit=limit), limit="max_json_depth",
                                details={"value": limit})
        if isinstance(item, dict):
            if nul_possible and any("\x00" in key for key in item):
                raise ParseError(MSG_NUL)
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif nul_possible and isinstance(child, str) and "\x00" in child:
                raise ParseError(MSG_NUL)


def _strict_constant(value):
    raise ValueError(f"{value} is not valid JSON")


class LimitedJSONParser(JSONParser):
    """JSON parser that enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django checks it only for
    ``request.body``, which DRF's stream parsing bypasses) and a nesting limit, and refuses NUL
    characters. A too large body raises ``RequestDataTooBig`` (answered with 413)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if limit is not None and request is not None:
            meta = request.META
            try:
                declared = int(meta.get("CONTENT_LENGTH") or 0)
            except (TypeError, ValueError):
                declared = 0
            if declared > limit:
                raise RequestDataTooBig("request body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE")
        encoding = get_encoding(parser_context)
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestDataTooBig("request body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE")
        try:
            text = raw.decode(encoding)
            data = json.loads(text, parse_constant=_strict_constant)
        except RecursionError:
            limit_depth = body_depth_limit()
            raise LimitExceeded(MSG_TOO_DEEP.format(limit=limit_depth), limit="max_json_depth",
                                details={"value": limit_depth}) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        check_json(data, body_depth_limit(), nul_possible="\\u0000" in text)
        return data
