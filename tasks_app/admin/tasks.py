"""Task admin: list, filters, search, the detail page with every link, attempts inline."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect

from tasks_app import selectors
from tasks_app.exceptions import OrchestratorError
from tasks_app.models import Attempt, Dependency, Task
from tasks_app.services import tasks as task_services

from . import actions, display
from .base import ServiceBackedAdmin, events_summary, fieldset_names
from .filters import TreeScopeFilter, parse_uuid

MAX_LINKED = 100
# Fields the change form edits, always through ``services.tasks.task_update``; each JSON field has a
# pretty read-only twin shown while the task cannot be edited.
EDITABLE_FIELDS = (
    "name",
    "executor",
    "priority",
    "timeout",
    "max_retries",
    "retry_delay",
    "inputs",
    "params",
    "schemas",
    "resources",
    "tags",
    "metadata",
)
JSON_TWINS = {
    f"{name}_json": name for name in ("inputs", "params", "schemas", "resources", "tags", "metadata")
}


class AttemptInline(admin.TabularInline):
    """Every attempt of the task, oldest first (read-only: attempts are audit rows)."""

    model = Attempt
    fk_name = "task"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "number",
        "outcome_label",
        "worker",
        "started_at",
        "finished_at",
        "duration_text",
        "error_type",
        "error_text",
        "inputs_text",
    )
    readonly_fields = fields
    ordering = ("number",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="outcome")
    def outcome_label(self, obj):
        return display.status_label(obj.outcome)

    @admin.display(description="duration")
    def duration_text(self, obj):
        return display.seconds(obj.duration)

    @admin.display(description="error")
    def error_text(self, obj):
        return display.short_text(obj.error, 200)

    @admin.display(description="effective inputs")
    def inputs_text(self, obj):
        return display.short_text(obj.effective_inputs, 200)


@admin.register(Task)
class TaskAdmin(ServiceBackedAdmin):
    list_display = (
        "name",
        "status_label",
        "tree_link",
        "executor",
        "priority",
        "owner",
        "attempt_count",
        "duration_text",
        "created_at",
    )
    list_display_links = ("name",)
    list_select_related = ("tree", "owner")
    list_filter = (
        "status",
        "executor",
        "origin_type",
        "owner",
        ("created_at", admin.DateFieldListFilter),
        "error_type",
        TreeScopeFilter,
    )
    search_fields = ("name",)
    search_help_text = "Name, ref or tag (contains), or an exact task id."
    list_per_page = 50
    ordering = ("-created_at",)
    actions = actions.TASK_ACTIONS
    inlines = [AttemptInline]
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "name",
                    "id",
                    "ref",
                    "archived_note",
                    "tree_link",
                    "parent_link",
                    "children_links",
                    "owner",
                    "executor",
                    "priority",
                    "position",
                )
            },
        ),
        (
            "State",
            {
                "fields": (
                    "status_label",
                    "error_type",
                    "error",
                    "progress",
                    "progress_message",
                    "waiting_reason",
                    "attempt_count",
                    "created_at",
                    "updated_at",
                    "started_at",
                    "completed_at",
                    "duration_text",
                    "result_json",
                )
            },
        ),
        (
            "Definition",
            {
                "fields": (
                    "inputs_json",
                    "params_json",
                    "schemas_json",
                    "resources_json",
                    "timeout",
                    "max_retries",
                    "retry_delay",
                    "tags_json",
                    "metadata_json",
                )
            },
        ),
        ("Dependencies", {"fields": ("dependencies_links", "dependents_links")}),
        ("Lineage", {"fields": ("origin_type", "original_link", "copies_links")}),
        ("Audit trail", {"fields": ("events_table",)}),
    ]
    readonly_fields = fieldset_names(fieldsets)

    def is_archived(self, obj) -> bool:
        return obj.tree.archived

    def object_editable(self, request, obj) -> bool:
        """Only a pending task outside its tree's current run can be edited (``task_update``'s rule)."""
        return obj.status == "pending" and not (obj.tree.status == "in_progress" and obj.scheduled)

    def get_fieldsets(self, request, obj=None):
        if obj is None or not self.has_change_permission(request, obj):
            return self.fieldsets
        return [
            (title, {**opts, "fields": tuple(JSON_TWINS.get(f, f) for f in fieldset_names([(title, opts)]))})
            for title, opts in self.fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or not self.has_change_permission(request, obj):
            return self.readonly_fields
        return tuple(f for f in self.readonly_fields if f not in EDITABLE_FIELDS)

    def save_model(self, request, obj, form, change):
        """Send the changed fields to ``task_update`` (never ``obj.save()``); a refusal becomes an
        error message and the task is left as it was."""
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        try:
            # the admin checked change_task; this audits a staff change of another user's task
            selectors.check_access(request.user, obj, "change", request=request, source="admin")
            task_services.task_update(task=obj, data=data, actor=request.user, source="admin")
        except OrchestratorError as exc:
            request._arbor_refused = True
            self.message_user(
                request, f"Task '{form.initial.get('name', obj.name)}' was not changed: {exc}", messages.ERROR
            )

    def log_change(self, request, obj, message):
        if not getattr(request, "_arbor_refused", False):
            return super().log_change(request, obj, message)
        return None

    def response_change(self, request, obj):
        if getattr(request, "_arbor_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tree", "owner")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(name__icontains=term) | Q(ref__icontains=term) | Q(tags_text__icontains=term)
        uid = parse_uuid(term)
        if uid is not None:
            query |= Q(id=uid)
        return queryset.alias(tags_text=Cast("tags", TextField())).filter(query), False

    # --- columns ---------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_label(self, obj):
        return display.status_label(obj.status, obj.get_status_display())

    @admin.display(description="tree", ordering="tree__name")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name)

    @admin.display(description="duration")
    def duration_text(self, obj):
        return display.seconds(obj.duration)

    # --- detail ----------------------------------------------------------------------------

    @admin.display(description="archived")
    def archived_note(self, obj):
        return display.archived_banner() if obj.tree.archived else "no"

    @admin.display(description="parent")
    def parent_link(self, obj):
        if obj.parent_id is None:
            return "— (root of its tree)"
        return display.link("task", obj.parent_id, obj.parent.name)

    @admin.display(description="children")
    def children_links(self, obj):
        rows = obj.children.order_by("position").values_list("id", "name")[:MAX_LINKED]
        return display.link_list("task", rows)

    @admin.display(description="depends on (upstream)")
    def dependencies_links(self, obj):
        edges = Dependency.objects.filter(downstream=obj).select_related("upstream").order_by("position")
        return display.link_list(
            "task",
            (
                (
                    e.upstream_id,
                    f"{e.upstream.name} ({e.upstream.status}){'' if e.required else ', optional'}",
                )
                for e in edges
            ),
        )

    @admin.display(description="dependents (downstream)")
    def dependents_links(self, obj):
        edges = (
            Dependency.objects.filter(upstream=obj)
            .select_related("downstream")
            .order_by("downstream__position")[:MAX_LINKED]
        )
        return display.link_list(
            "task",
            (
                (
                    e.downstream_id,
                    f"{e.downstream.name} ({e.downstream.status}){'' if e.required else ', optional'}",
                )
                for e in edges
            ),
        )

    @admin.display(description="original task")
    def original_link(self, obj):
        if obj.original_task_id is None:
            return "— (not a copy)"
        original = Task.objects.select_related("tree").filter(id=obj.original_task_id).first()
        if original is None:
            return "—"
        return display.link("task", original.id, f"{original.name} in tree '{original.tree.name}'")

    @admin.display(description="copies")
    def copies_links(self, obj):
        rows = obj.copies.order_by("created_at").values_list("id", "name", "tree__name", "origin_type")[
            :MAX_LINKED
        ]
        return display.link_list("task", ((i, f"{n} in tree '{t}' ({o})") for i, n, t, o in rows))

    @admin.display(description="result")
    def result_json(self, obj):
        return display.pretty_json(obj.result)

    @admin.display(description="inputs")
    def inputs_json(self, obj):
        return display.pretty_json(obj.inputs)

    @admin.display(description="params")
    def params_json(self, obj):
        return display.pretty_json(obj.params)

    @admin.display(description="schemas")
    def schemas_json(self, obj):
        return display.pretty_json(obj.schemas)

    @admin.display(description="resources")
    def resources_json(self, obj):
        return display.pretty_json(obj.resources)

    @admin.display(description="tags")
    def tags_json(self, obj):
        return display.pretty_json(obj.tags)

    @admin.display(description="metadata")
    def metadata_json(self, obj):
        return display.pretty_json(obj.metadata)

    @admin.display(description="events")
    def events_table(self, obj):
        return events_summary(tree_id=obj.tree_id, task_id=obj.id)
