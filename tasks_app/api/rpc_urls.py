"""apflow-compatible JSON-RPC: ``POST /tasks`` and ``GET /tasks/methods`` (see docs/api.md)."""

from django.urls import path

from . import rpc

urlpatterns = [
    path("tasks", rpc.JsonRpcView.as_view(), name="jsonrpc"),
    path("tasks/methods", rpc.MethodsView.as_view(), name="jsonrpc-methods"),
]
