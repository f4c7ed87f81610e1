"""Websocket URLs (mounted at the site root by orchestrator_site.asgi)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/trees/<uuid:tree_id>/", consumers.TreeConsumer.as_asgi()),
    path("ws/dashboard/", consumers.DashboardConsumer.as_asgi()),
    path("ws/live/", consumers.LiveMuxConsumer.as_asgi()),
]
