"""Read-only audit admins: attempts, events and security events (who did what, when, from where)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import OuterRef, Subquery

from tasks_app.models import Attempt, AuditEvent, Event, Task

from . import display
from .base import ReadOnlyAdmin, fieldset_names
from .filters import EventKindFilter, EventSourceFilter, TaskScopeFilter, TreeScopeFilter


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "task_link",
        "tree_link",
        "number",
        "outcome_label",
        "executor",
        "worker",
        "started_at",
        "finished_at",
        "duration_text",
        "error_type",
    )
    list_select_related = ("task", "tree")
    list_filter = (
        "outcome",
        "executor",
        ("started_at", admin.DateFieldListFilter),
        TreeScopeFilter,
        TaskScopeFilter,
    )
    search_fields = ("task__name", "worker", "error_type")
    ordering = ("-started_at",)
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ("id", "task_link", "tree_link", "number", "outcome_label", "executor", "worker")}),
        (
            "Times",
            {"fields": ("started_at", "heartbeat_at", "lease_expires_at", "finished_at", "duration_text")},
        ),
        (
            "Inputs and outcome",
            {"fields": ("inputs_json", "result_json", "error_type", "error", "logs_json")},
        ),
    ]
    readonly_fields = fieldset_names(fieldsets)

    @admin.display(description="task", ordering="task__name")
    def task_link(self, obj):
        return display.link("task", obj.task_id, obj.task.name)

    @admin.display(description="tree", ordering="tree__name")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, obj):
        return display.status_label(obj.outcome)

    @admin.display(description="duration")
    def duration_text(self, obj):
        return display.seconds(obj.duration)

    @admin.display(description="effective inputs")
    def inputs_json(self, obj):
        return display.pretty_json(obj.effective_inputs)

    @admin.display(description="result")
    def result_json(self, obj):
        return display.pretty_json(obj.result)

    @admin.display(description="logs")
    def logs_json(self, obj):
        return display.pretty_json(obj.logs)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "tree_link", "task_link", "kind", "actor", "source", "data_text")
    list_display_links = ("seq",)
    list_select_related = ("tree", "actor")
    list_filter = (
        TreeScopeFilter,
        TaskScopeFilter,
        EventSourceFilter,
        EventKindFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("kind", "actor__username")
    search_help_text = "Event kind or acting user name."
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False
    fields = ("tree_link", "seq", "kind", "task_link", "actor", "source", "created_at", "data_json")
    readonly_fields = fields

    def get_queryset(self, request):
        names = Task.objects.filter(id=OuterRef("task_id")).values("name")[:1]
        return super().get_queryset(request).annotate(task_name=Subquery(names))

    @admin.display(description="tree", ordering="tree__name")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name)

    @admin.display(description="task")
    def task_link(self, obj):
        if obj.task_id is None:
            return "—"
        return display.link("task", obj.task_id, obj.task_name or str(obj.task_id))

    @admin.display(description="data")
    def data_text(self, obj):
        return display.short_text(obj.data, 120)

    @admin.display(description="data")
    def data_json(self, obj):
        return display.pretty_json(obj.data)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "username", "ip", "source", "target", "data_text")
    list_filter = ("kind", "source", ("at", admin.DateFieldListFilter))
    search_fields = ("username", "ip", "target")
    search_help_text = "User name, address or target."
    ordering = ("-at", "-id")
    list_per_page = 100
    show_full_result_count = False
    fields = ("at", "kind", "actor", "username", "ip", "source", "target", "data_json")
    readonly_fields = fields

    @admin.display(description="data")
    def data_text(self, obj):
        return display.short_text(obj.data, 120)

    @admin.display(description="data")
    def data_json(self, obj):
        return display.pretty_json(obj.data)
