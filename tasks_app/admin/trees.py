"""Tree admin: run status, counts, lineage and the tree's event history."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from tasks_app.models import Run, Tree

from . import actions, display
from .base import ServiceBackedAdmin, events_summary, fieldset_names
from .filters import parse_uuid

MAX_LINKED = 100


class RunInline(admin.TabularInline):
    """The tree's runs, newest first (read-only: written by the services that start and end them)."""

    model = Run
    fk_name = "tree"
    extra = 0
    can_delete = False
    verbose_name_plural = "runs"
    fields = (
        "number",
        "trigger",
        "source",
        "started_by",
        "status_text",
        "handled_failures",
        "scope",
        "started_at",
        "finished_at",
        "duration_text",
        "attempts_text",
    )
    readonly_fields = fields
    ordering = ("-number",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("started_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="outcome")
    def status_text(self, obj):
        return status_with_handled(obj.status, obj.get_status_display(), obj.handled_failures)

    @admin.display(description="duration")
    def duration_text(self, obj):
        return display.seconds(obj.duration)

    @admin.display(description="attempts")
    def attempts_text(self, obj):
        counts = obj.counts or {}
        return counts.get("attempts", "—") if obj.finished_at else "—"


def status_with_handled(value, label, handled: int):
    """``✔ completed · 1 failure handled``: a handled failure never reads as a failed run."""
    text = display.status_label(value, label)
    if handled:
        return format_html("{} · {} failure{} handled", text, handled, "" if handled == 1 else "s")
    return text


@admin.register(Tree)
class TreeAdmin(ServiceBackedAdmin):
    list_display = (
        "name",
        "status_label",
        "owner",
        "task_count",
        "run_count",
        "created_at",
        "archived",
        "root_link",
        "original_link",
    )
    list_select_related = ("owner", "original_tree")
    list_filter = ("status", "archived", "owner", ("created_at", admin.DateFieldListFilter))
    search_fields = ("name",)
    search_help_text = "Name (contains) or an exact tree id."
    list_per_page = 50
    actions = actions.TREE_ACTIONS
    inlines = [RunInline]
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "name",
                    "id",
                    "status_label",
                    "handled_failures",
                    "owner",
                    "archived_note",
                    "root_link",
                    "tasks_link",
                    "task_count",
                    "run_count",
                    "cancel_requested",
                    "last_seq",
                )
            },
        ),
        ("Times", {"fields": ("created_at", "updated_at", "started_at", "finished_at")}),
        ("Lineage", {"fields": ("original_link", "copies_links")}),
        ("Audit trail", {"fields": ("events_table",)}),
    ]
    readonly_fields = fieldset_names(fieldsets)

    def is_archived(self, obj) -> bool:
        return obj.archived

    def get_search_results(self, request, queryset, search_term):
        uid = parse_uuid(search_term)
        if uid is not None:
            return queryset.filter(id=uid), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="status", ordering="status")
    def status_label(self, obj):
        return status_with_handled(obj.status, obj.get_status_display(), obj.handled_failures)

    @admin.display(description="root task")
    def root_link(self, obj):
        return display.link("task", obj.id, "root task")

    @admin.display(description="original")
    def original_link(self, obj):
        if obj.original_tree_id is None:
            return "—"
        return display.link("tree", obj.original_tree_id, obj.original_tree.name)

    @admin.display(description="archived")
    def archived_note(self, obj):
        return display.archived_banner() if obj.archived else "no"

    @admin.display(description="tasks")
    def tasks_link(self, obj):
        return format_html(
            '<a href="{}">All {} tasks of this tree →</a>',
            display.admin_url("task", query=f"tree={obj.id}"),
            obj.task_count,
        )

    @admin.display(description="copies")
    def copies_links(self, obj):
        rows = obj.copies.order_by("created_at").values_list("id", "name", "archived")[:MAX_LINKED]
        return display.link_list("tree", ((i, f"{n}{' (archive)' if a else ''}") for i, n, a in rows))

    @admin.display(description="events")
    def events_table(self, obj):
        return events_summary(tree_id=obj.id)
