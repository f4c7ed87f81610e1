"""Schedule admin: every schedule with its rule, state and fires; pause, resume and delete call the
services (the rule itself is edited through the API or the UI, which validate it)."""

from __future__ import annotations

from django.contrib import admin, messages

from tasks_app.engine import schedules as rules
from tasks_app.exceptions import OrchestratorError
from tasks_app.models import Schedule, ScheduleFire
from tasks_app.services import schedules as schedule_services

from . import display
from .base import ReadOnlyAdmin


class FireInline(admin.TabularInline):
    model = ScheduleFire
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-scheduled_for",)
    fields = (
        "scheduled_for",
        "status",
        "run_number",
        "fired_at",
        "started_at",
        "finished_at",
        "missed",
        "reason",
        "worker",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-scheduled_for")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "tree_link",
        "owner",
        "kind",
        "expression",
        "timezone",
        "state",
        "next_run_at",
        "last_run_at",
        "run_count",
    )
    list_select_related = ("owner", "tree")
    list_filter = ("enabled", "kind", "overlap", "catch_up", "owner")
    search_fields = ("name", "expression", "tree__name")
    list_per_page = 50
    ordering = ("next_run_at",)
    actions = ["pause", "resume"]
    inlines = [FireInline]
    fields = (
        "id",
        "name",
        "tree_link",
        "owner",
        "kind",
        "expression",
        "timezone",
        "sentence",
        "start_at",
        "end_at",
        "max_runs",
        "run_count",
        "enabled",
        "overlap",
        "catch_up",
        "max_concurrent",
        "next_run_at",
        "last_run_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):  # pragma: no cover - every field is read-only
        raise PermissionError("schedules change through the services")

    @admin.display(description="tree")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name)

    @admin.display(description="in words")
    def sentence(self, obj):
        try:
            return rules.describe(schedule_services.spec_of(obj))
        except OrchestratorError as exc:
            return str(exc)

    def delete_model(self, request, obj):
        schedule_services.schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            schedule_services.schedule_delete(schedule=schedule)

    @admin.action(description="Pause the selected schedules", permissions=["change"])
    def pause(self, request, queryset):
        for schedule in queryset:
            schedule_services.schedule_pause(schedule=schedule)
        messages.success(request, f"paused {queryset.count()} schedule(s)")

    @admin.action(description="Resume the selected schedules (from now)", permissions=["change"])
    def resume(self, request, queryset):
        done = 0
        for schedule in queryset:
            try:
                schedule_services.schedule_resume(schedule=schedule)
                done += 1
            except OrchestratorError as exc:
                messages.error(request, f"{schedule}: {exc}")
        messages.success(request, f"resumed {done} schedule(s)")


@admin.register(ScheduleFire)
class ScheduleFireAdmin(ReadOnlyAdmin):
    list_display = (
        "schedule",
        "scheduled_for",
        "status",
        "run_number",
        "fired_at",
        "started_at",
        "finished_at",
        "missed",
        "worker",
    )
    list_filter = ("status",)
    list_select_related = ("schedule", "schedule__tree")
    ordering = ("-scheduled_for",)
