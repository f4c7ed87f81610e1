"""apflow-compatible JSON-RPC: ``POST /tasks``, ``GET /tasks/methods``, ``POST /system`` and the
A2A agent card (see docs/api.md, docs/apflow.md). ``POST /`` is routed in orchestrator_site.urls
(``GET /`` is the dashboard)."""

from django.urls import path

from . import rpc
from .rpc.a2a import AgentCardLegacyView, AgentCardView, ExecuteByPathView, SystemView

urlpatterns = [
    path("tasks", rpc.JsonRpcView.as_view(), name="jsonrpc"),
    path("tasks/methods", rpc.MethodsView.as_view(), name="jsonrpc-methods"),
    path("system", SystemView.as_view(), name="jsonrpc-system"),
    path("tasks/<str:task_id>/execute", ExecuteByPathView.as_view(), name="jsonrpc-execute-by-path"),
    path(".well-known/agent-card.json", AgentCardView.as_view(), name="a2a-agent-card"),
    path(".well-known/agent.json", AgentCardLegacyView.as_view(), name="a2a-agent-card-legacy"),
]
