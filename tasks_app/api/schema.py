"""OpenAPI postprocessing: the error responses every operation can give, documented in one place.

Views document what is particular to them (a 409 of a state rule, the 201 of a create); the
answers that come from the framework around them are added here, so the schema stays truthful
without forty decorators (schemathesis checks it: tests/security/test_schema_fuzz.py):

- every operation: 401 (no or bad credentials), 429 (throttled), 503 (database unavailable);
- a path parameter: 404 (no such object, or another user's);
- query parameters or a request body: 400 (a malformed filter or body, a lone surrogate, ...);
- a method that writes: 403 (a session write without its CSRF token; token management with a
  token) and, with a body, 413 (too large) and 415 (not JSON).

The REST API answers ``{"error": {...}}`` (the ``Error`` component); the JSON-RPC endpoints
answer JSON-RPC's envelope.
"""

from __future__ import annotations

WRITE_METHODS = {"post", "put", "patch", "delete"}
BODY_METHODS = {"post", "put", "patch"}
DESCRIPTIONS = {
    "400": "invalid input: a malformed query parameter or body (the message names it)",
    "401": "no credentials, or a bad, revoked or expired token",
    "403": "a session write without its CSRF token, or token management with a token",
    "404": "not found (also for another user's id)",
    "413": "request body larger than the limit",
    "415": "request body is not application/json",
    "429": "rate limited (Retry-After)",
    "503": "database unavailable (Retry-After: 5)",
}


def _codes(path: str, method: str, operation: dict) -> list[str]:
    codes = ["401", "429", "503"]
    parameters = operation.get("parameters") or []
    if "{" in path:
        codes.append("404")
    if any(p.get("in") == "query" for p in parameters) or "requestBody" in operation:
        codes.append("400")
    if method in WRITE_METHODS:
        codes.append("403")
    if method in BODY_METHODS:
        codes += ["400", "413", "415"]
    return codes


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""
    from .rpc.views import RPC_RESPONSE_SCHEMA

    rest_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    rpc_error = {"application/json": {"schema": RPC_RESPONSE_SCHEMA}}
    for path, item in (result.get("paths") or {}).items():
        content = rest_error if path.startswith("/api/") else rpc_error
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method, operation):
                responses.setdefault(code, {"description": DESCRIPTIONS[code], "content": content})
    return result
