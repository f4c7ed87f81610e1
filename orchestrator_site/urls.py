from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tasks_app import conf
from tasks_app.api.rpc.a2a import RootView
from tasks_app.ui.views import dashboard

_a2a_root = RootView.as_view()


def _reset_enabled():
    return bool(conf.get("ARBOR_PASSWORD_RESET"))


def _if_reset_enabled(view):
    """Password reset needs a mail server: without one (ARBOR_PASSWORD_RESET off) its pages are 404."""

    def wrapped(request, *args, **kwargs):
        if not _reset_enabled():
            raise Http404("password reset is not enabled")
        return view(request, *args, **kwargs)

    return wrapped


def login_view(request, *args, **kwargs):
    return auth_views.LoginView.as_view(extra_context={"password_reset_enabled": _reset_enabled()})(
        request, *args, **kwargs
    )


accounts_urls = [
    path("login/", login_view, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", _if_reset_enabled(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path(
        "password_reset/done/",
        _if_reset_enabled(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        _if_reset_enabled(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        _if_reset_enabled(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]


@csrf_exempt  # only for the POST branch: a DRF view (session callers still need CSRF there)
def root(request, *args, **kwargs):
    """``/``: apflow's health check and A2A on POST (Bearer token; see docs/apflow.md), the
    dashboard otherwise."""
    if request.method == "POST":
        return _a2a_root(request, *args, **kwargs)
    return dashboard(request, *args, **kwargs)


urlpatterns = [
    path("", root, name="root"),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts_urls)),
    path("", include("tasks_app.ops.urls")),  # /healthz /readyz /metrics (also served by ProbeMiddleware)
    path("", include("tasks_app.api.urls")),
    path("", include("tasks_app.api.rpc_urls")),  # JSON-RPC: POST /tasks, GET /tasks/methods
    path("", include("tasks_app.ui.urls")),
]

# JSON 404/500 in the API's error shape under /api/ and /tasks (HTML elsewhere)
handler404 = "tasks_app.api.exceptions.handler404"
handler500 = "tasks_app.api.exceptions.handler500"
