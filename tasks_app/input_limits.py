"""Request limits enforced at the HTTP edge: body size, JSON nesting, page size.

Structural limits (tasks per tree, tree depth, dependencies per task, nesting inside task
fields) are the services' (``services.trees.parse_tree``); every limit and its default is listed
in docs/api.md.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser, get_encoding

from tasks_app.exceptions import LimitExceeded
from tasks_app.perf import gc_paused

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
# A request body may nest a few levels above the task fields it carries ({"tasks": [{"inputs": ...}]}).
BODY_NESTING_SLACK = 5

MSG_TOO_DEEP = "request body is nested deeper than {limit} levels (max_json_depth)"
MSG_NUL = "request body contains a NUL character (\\u0000), which is not allowed"
MSG_SURROGATE = "request body contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"


class Pagination(LimitOffsetPagination):
    """``?limit=&offset=``; ``limit`` defaults to 50 and is capped at 500."""

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE
    # a view that knows the page's ``count`` without counting the rows sets it before paginating
    # (the unfiltered task list: selectors.task_list_total); None counts the queryset
    known_count: int | None = None

    def get_count(self, queryset) -> int:
        if self.known_count is not None:
            return self.known_count
        return super().get_count(queryset)


def body_depth_limit() -> int:
    return settings.ARBOR_LIMITS["max_json_depth"] + BODY_NESTING_SLACK


class InvalidString(ParseError):
    """A string of a JSON body that cannot be text: a NUL character (PostgreSQL cannot store it) or
    a lone UTF-16 surrogate (``"\\udfff"``: valid JSON grammar, but not Unicode; it cannot be
    encoded as UTF-8, so neither stored nor answered). ``path`` names it: ``$[0].inputs.x``."""

    default_code = "invalid_string"

    def __init__(self, message: str, path: str):
        self.path = path
        super().__init__(f"{message} at {path}")


# a lone surrogate can only come from a \uXXXX escape: UTF-8 decoding refuses encoded surrogates
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_string(text: str, nul: bool, surrogates: bool) -> str | None:
    if nul and "\x00" in text:
        return MSG_NUL
    if surrogates and _SURROGATE.search(text):
        return MSG_SURROGATE
    return None


def json_path(link) -> str:
    """``(((None, 0), "inputs"), "x")`` -> ``$[0].inputs.x`` (keys shown printable and ASCII)."""
    parts = []
    while link is not None:
        link, key = link
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            text = key.encode("ascii", "backslashreplace").decode("ascii")
            parts.append(f".{text}" if _PLAIN_KEY.fullmatch(text) else "[" + json.dumps(text) + "]")
    return "$" + "".join(reversed(parts))


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def check_json(value, limit: int, *, nul_possible: bool = True, surrogates_possible: bool = True) -> None:
    """Raise ``LimitExceeded`` for nesting deeper than ``limit`` and ``InvalidString`` (a
    ``ParseError``) for a NUL character or a lone surrogate in a string or key, naming its path.
    Iterative: no recursion limit. ``nul_possible=False`` / ``surrogates_possible=False`` (the
    JSON text has no escape that could produce one) skip the string checks: only containers are
    walked then."""
    strings = nul_possible or surrogates_possible
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    while stack:
        item, depth, link = stack.pop()
        if strings and isinstance(item, str):
            problem = _bad_string(item, nul_possible, surrogates_possible)
            if problem:
                raise InvalidString(problem, json_path(link))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            raise LimitExceeded(
                MSG_TOO_DEEP.format(limit=limit), limit="max_json_depth", details={"value": limit}
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if strings:
                    problem = _bad_string(key, nul_possible, surrogates_possible)
                    if problem:
                        raise InvalidString(problem + " (in a key)", json_path((link, key)))
                if strings or isinstance(child, dict | list):
                    stack.append((child, depth + 1, (link, key)))
        else:
            for index, child in enumerate(item):
                if strings or isinstance(child, dict | list):
                    stack.append((child, depth + 1, (link, index)))


def parse_json_text(text: str, *, utf8: bool = True):
    """Parse a JSON document the way every entry point must: strict constants (no NaN), at most
    ``max_json_depth`` + 5 levels, no NUL characters and no lone surrogates. Raise
    ``LimitExceeded`` or ``ParseError`` (``InvalidString`` naming the path). ``utf8=False``: the
    text was decoded from another charset, which may produce surrogates without an escape.

    The cyclic GC is paused while it runs (``tasks_app.perf.gc_paused``): a 10,000-task body
    allocates 10,000+ dicts, which triggered collections over the whole heap of the web process —
    ≈ 90 ms of a served JSON-RPC create (REST's create already parsed inside its own pause)."""
    with gc_paused():
        return _parse_json_text(text, utf8=utf8)


def _parse_json_text(text: str, *, utf8: bool):
    try:
        data = json.loads(text, parse_constant=_strict_constant)
    except RecursionError:
        limit_depth = body_depth_limit()
        raise LimitExceeded(
            MSG_TOO_DEEP.format(limit=limit_depth), limit="max_json_depth", details={"value": limit_depth}
        ) from None
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    check_json(
        data,
        body_depth_limit(),
        nul_possible="\\u0000" in text,
        surrogates_possible=not utf8 or _SURROGATE_ESCAPE.search(text) is not None,
    )
    return data


def _strict_constant(value):
    raise ValueError(f"{value} is not valid JSON")


class LimitedJSONParser(JSONParser):
    """JSON parser that enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django checks it only for
    ``request.body``, which DRF's stream parsing bypasses) and a nesting limit, and refuses NUL
    characters and lone surrogates (``parse_json_text``). A too large body raises
    ``RequestDataTooBig`` (answered with 413)."""

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
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}: {exc}") from None
        return parse_json_text(text, utf8=codecs.lookup(encoding).name == "utf-8")
