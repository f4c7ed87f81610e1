"""apflow-compatible JSON-RPC 2.0: ``POST /tasks`` and ``GET /tasks/methods`` (docs/api.md).

The endpoint is a DRF ``APIView``, so Bearer tokens, sessions (with CSRF), the JSON body limits and
``Idempotency-Key`` apply exactly as on the REST API. Each method is a thin interface: parse the
params, call one selector or service, render apflow's task dicts. Domain errors become the
spec's codes (apflow ``docs/protocol/08-errors.md``) with matching HTTP statuses; a batch answers
200 with one entry per request that has an id.

Import direction inside the package: ``views`` -> ``methods`` -> ``render`` and ``protocol``;
``protocol`` and ``render`` import nothing of the package. Outside code imports from here.
"""

from .methods import METHODS, Call, Method, Streaming, methods_catalogue
from .protocol import DOMAIN_CODES, RpcError, rpc_error_for
from .render import task_dict, task_dicts, tree_dict
from .views import JsonRpcView, MethodsView, run_entry

__all__ = [
    "DOMAIN_CODES",
    "METHODS",
    "Call",
    "JsonRpcView",
    "Method",
    "MethodsView",
    "RpcError",
    "Streaming",
    "methods_catalogue",
    "rpc_error_for",
    "run_entry",
    "task_dict",
    "task_dicts",
    "tree_dict",
]
