from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("tasks_app.ops.urls")),  # /healthz /readyz /metrics (also served by ProbeMiddleware)
    path("", include("tasks_app.api.urls")),
    path("", include("tasks_app.api.rpc_urls")),  # JSON-RPC: POST /tasks, GET /tasks/methods
    path("", include("tasks_app.ui.urls")),
]

# JSON 404/500 in the API's error shape under /api/ and /tasks (HTML elsewhere)
handler404 = "tasks_app.api.exceptions.handler404"
handler500 = "tasks_app.api.exceptions.handler500"
