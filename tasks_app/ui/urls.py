from django.urls import path

from . import views

app_name = "ui"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("trees/new/", views.tree_new, name="tree_new"),
    path("trees/<uuid:tree_id>/", views.tree_run, name="tree_run"),
    path("trees/<uuid:tree_id>/edit/", views.tree_edit, name="tree_edit"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("trees/<uuid:tree_id>/schedule/", views.schedule_new, name="schedule_new"),
]
