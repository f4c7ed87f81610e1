"""The JSON-RPC 2.0 protocol layer: error codes and their HTTP statuses, the mapping from domain
errors, envelopes and typed param readers. Knows no method."""

from __future__ import annotations

from tasks_app import exceptions as domain
from tasks_app.engine.states import Status

JSONRPC = "2.0"
SOURCE = "rpc"

# --- error codes ------------------------------------------------------------------------------------

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RATE_LIMITED = -32000
TASK_NOT_FOUND = -32001
CIRCULAR_DEPENDENCY = -32002
EXECUTOR_NOT_FOUND = -32003
UNAUTHORIZED = -32004
FORBIDDEN = -32005  # authenticated, but a Django permission is missing (data.details.permission names it)
INVALID_TRANSITION = -32006
ALREADY_EXECUTING = -32008
CANNOT_DELETE = -32009
INVALID_DEPENDENCY = -32011
TREE_VALIDATION = -32012

# domain error code -> (JSON-RPC code, HTTP status); looked up along the exception's MRO
DOMAIN_CODES: dict[str, tuple[int, int]] = {
    "not_found": (TASK_NOT_FOUND, 404),
    "permission_denied": (FORBIDDEN, 403),
    "circular_dependency": (CIRCULAR_DEPENDENCY, 400),
    "executor_not_found": (EXECUTOR_NOT_FOUND, 400),
    "invalid_transition": (INVALID_TRANSITION, 409),
    "archived": (INVALID_TRANSITION, 409),
    "already_executing": (ALREADY_EXECUTING, 409),
    "cannot_delete": (CANNOT_DELETE, 409),
    "invalid_reference": (INVALID_DEPENDENCY, 400),
    "tree_validation": (TREE_VALIDATION, 400),
    "limit_exceeded": (INVALID_PARAMS, 400),
    "validation": (INVALID_PARAMS, 400),
    "error": (INVALID_PARAMS, 400),
}
HTTP_FOR_CODE = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    METHOD_NOT_FOUND: 404,
    INVALID_PARAMS: 400,
    INTERNAL_ERROR: 500,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    RATE_LIMITED: 429,
}

MSG_PARSE = "Parse error: {detail}"
MSG_NOT_A_REQUEST = "Invalid Request: expected a JSON-RPC 2.0 request object or a batch array of them"
MSG_BAD_VERSION = "Invalid Request: 'jsonrpc' must be \"2.0\""
MSG_BAD_METHOD = "Invalid Request: 'method' must be a string"
MSG_BAD_ID = "Invalid Request: 'id' must be a string, a number or null"
MSG_BAD_PARAMS = "Invalid Request: 'params' must be an object or an array"
MSG_EMPTY_BATCH = "Invalid Request: empty batch"
MSG_BATCH_LIMIT = "Invalid Request: batch of {count} requests; the limit is {limit} (max_batch_size)"
MSG_UNKNOWN_METHOD = "Method not found: {method}"
MSG_ARRAY_PARAMS = "Invalid params: {method} takes an object of named params"
MSG_REQUIRED = "Invalid params: '{name}' is required"
MSG_TYPE = "Invalid params: '{name}' must be {kind}"
MSG_INTERNAL = "Internal error"
MSG_DB_DOWN = "Internal error: the database is unavailable; retry shortly"
MSG_BODY_TOO_BIG = "Invalid Request: body larger than the limit (max_body_bytes)"

LIST_MAX_LIMIT = 500
LIST_DEFAULT_LIMIT = 100
WAIT_DEFAULT_TIMEOUT = 30.0
WAIT_MAX_TIMEOUT = 300.0
MAX_IDS_PER_CALL = 1000
MAX_OFFSET = 2**31 - 1


class RpcError(Exception):
    """A JSON-RPC error with its HTTP status (used for a single request)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http_status: int | None = None,
        type_: str | None = None,
        details: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_FOR_CODE.get(code, 400)
        self.data = {"type": type_ or _type_for(code), "details": details or {}}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "data": self.data}


def _type_for(code: int) -> str:
    return {
        PARSE_ERROR: "parse_error",
        INVALID_REQUEST: "invalid_request",
        METHOD_NOT_FOUND: "method_not_found",
        INVALID_PARAMS: "invalid_params",
        INTERNAL_ERROR: "internal",
        UNAUTHORIZED: "unauthorized",
        FORBIDDEN: "permission_denied",
        RATE_LIMITED: "throttled",
    }.get(code, "error")


def complete_message(message: str, details: dict | None) -> str:
    """The message a client that prints only ``error.message`` needs: the facts kept in
    ``error.data.details`` (the executors available, the limit crossed) are added when the
    message does not already say them."""
    details = details or {}
    extra = []
    available = details.get("available")
    if isinstance(available, list) and available and "available:" not in message and "use " not in message:
        extra.append("available: " + ", ".join(str(a) for a in available))
    limit, value = details.get("limit"), details.get("value")
    if isinstance(limit, str) and limit not in message and value is not None:
        extra.append(f"limit {limit} = {value}")
    return message + "".join(f" ({e})" for e in extra)


def rpc_error_for(exc: domain.OrchestratorError) -> RpcError:
    """Map a domain error to its JSON-RPC code and HTTP status."""
    message = complete_message(exc.message, exc.details)
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in DOMAIN_CODES:
            rpc_code, http_status = DOMAIN_CODES[code]
            return RpcError(rpc_code, message, http_status=http_status, type_=exc.code, details=exc.details)
    return RpcError(INVALID_PARAMS, message, type_=exc.code, details=exc.details)


def envelope_error(rpc_id, error: RpcError) -> dict:
    return {"jsonrpc": JSONRPC, "id": rpc_id, "error": error.body()}


def envelope_result(rpc_id, result) -> dict:
    return {"jsonrpc": JSONRPC, "id": rpc_id, "result": result}


# --- params ------------------------------------------------------------------------------------------

_MISSING = object()


def param(params: dict, *names: str, default=_MISSING):
    for name in names:
        if name in params and params[name] is not None:
            return params[name]
    if default is _MISSING:
        raise RpcError(INVALID_PARAMS, MSG_REQUIRED.format(name=names[0]))
    return default


def param_bool(params: dict, name: str, default: bool) -> bool:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name=name, kind="a boolean"))
    return value


def param_int(params: dict, name: str, default: int, *, minimum: int = 0, maximum: int = MAX_OFFSET) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name=name, kind=f"an integer {minimum}..{maximum}"))
    return value


def param_number(params: dict, name: str, default: float, *, maximum: float) -> float:
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name=name, kind="a positive number of seconds"))
    return min(float(value), maximum)


def id_list(value, name: str) -> list[str]:
    """A list of ids, or apflow's comma-separated string; duplicates dropped, order kept."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        items = [str(v) for v in value]
    else:
        raise RpcError(
            INVALID_PARAMS, MSG_TYPE.format(name=name, kind="a list of ids or a comma-separated string")
        )
    items = list(dict.fromkeys(items))
    if not items:
        raise RpcError(INVALID_PARAMS, MSG_REQUIRED.format(name=name))
    if len(items) > MAX_IDS_PER_CALL:
        raise RpcError(INVALID_PARAMS, f"Invalid params: more than {MAX_IDS_PER_CALL} ids in '{name}'")
    return items


def statuses_param(value, name: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    valid = {s.value for s in Status}
    if not isinstance(items, list) or not all(isinstance(s, str) and s in valid for s in items):
        raise RpcError(INVALID_PARAMS, MSG_TYPE.format(name=name, kind="one of " + ", ".join(sorted(valid))))
    return items
