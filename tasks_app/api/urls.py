"""URLs of the REST API (``/api/v1/``) and its OpenAPI schema (``/api/schema/``, ``/api/docs/``)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import hooks, views
from .schedules import CalendarFeedView, ScheduleViewSet

router = DefaultRouter()
router.register("trees", views.TreeViewSet, basename="tree")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("tokens", views.TokenViewSet, basename="token")
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = [
    path("api/v1/executors/", views.ExecutorListView.as_view(), name="executor-list"),
    path("api/v1/stats/", views.StatsView.as_view(), name="stats"),
    path("api/v1/stats/throughput/", views.ThroughputView.as_view(), name="stats-throughput"),
    path("api/v1/validate/", views.ValidateView.as_view(), name="validate"),
    path("api/v1/trees/<str:id>/triggers/", hooks.TreeTriggersView.as_view(), name="tree-triggers"),
    path("api/v1/trees/<str:id>/notifications/", hooks.TreeRulesView.as_view(), name="tree-notifications"),
    path(
        "api/v1/schedules/<str:id>/notifications/",
        hooks.ScheduleRulesView.as_view(),
        name="schedule-notifications",
    ),
    path("api/v1/triggers/<str:id>/", hooks.TriggerDetailView.as_view(), name="trigger-detail"),
    path("api/v1/triggers/<str:id>/rotate/", hooks.TriggerRotateView.as_view(), name="trigger-rotate"),
    path("api/v1/triggers/<str:id>/fire/", hooks.TriggerFireView.as_view(), name="trigger-fire"),
    path("api/v1/notifications/<str:id>/", hooks.RuleDetailView.as_view(), name="notification-detail"),
    path(
        "api/v1/notifications/<str:id>/deliveries/",
        hooks.RuleDeliveriesView.as_view(),
        name="notification-deliveries",
    ),
    path(
        "api/v1/notifications/<str:id>/deliveries/<str:delivery_id>/redeliver/",
        hooks.DeliveryRedeliverView.as_view(),
        name="notification-redeliver",
    ),
    path(
        "api/v1/calendar/<str:key>/<str:secret>/schedules.ics",
        CalendarFeedView.as_view(),
        name="calendar-feed",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its initialiser as a script file: no inline script (CSP)
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
