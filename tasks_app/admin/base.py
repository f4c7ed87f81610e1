"""Base classes: service-backed admins (Task, Tree) and read-only audit admins (Attempt, Event)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from tasks_app.models import Event, Task

from . import display

RECENT_EVENTS = 20


def fieldset_names(fieldsets: Any) -> tuple[str, ...]:
    """Every field named in ``fieldsets`` (flat ``"fields"`` tuples), in order."""
    return tuple(name for _title, opts in fieldsets for name in opts["fields"])


class ServiceBackedAdmin(admin.ModelAdmin):
    """Rows change only through services, so the admin never adds, deletes or saves them directly.

    ``has_change_permission(request)`` (no object) keeps the Django permission: it gates the
    actions. For one object it is ``False`` unless ``object_editable`` says otherwise, which makes
    the change view a read-only view (archived trees always are).
    """

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if obj is None or not allowed:
            return allowed
        return not self.is_archived(obj) and self.object_editable(request, obj)

    def is_archived(self, obj) -> bool:
        raise NotImplementedError

    def object_editable(self, request, obj) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        raise PermissionDenied("rows of this model change only through services")

    def object_actions(self, request, obj) -> list[tuple[str, str]]:
        """The changelist actions offered as buttons on one object's page."""
        if obj is None or self.is_archived(obj) or not super().has_change_permission(request):
            return []
        return [(name, action[2]) for name, action in self.get_actions(request).items() if action is not None]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        opts = self.model._meta
        extra = {
            "arbor_object_actions": self.object_actions(request, obj),
            "arbor_changelist_url": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name
            ),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit rows: visible to staff with view permission, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def events_summary(*, tree_id, task_id=None) -> str:
    """The latest events of a tree (or of one task) as a table, with a link to all of them."""
    qs = Event.objects.filter(tree_id=tree_id).select_related("actor")
    query = f"tree={tree_id}"
    if task_id is not None:
        qs = qs.filter(task_id=task_id)
        query = f"task={task_id}"
    rows = list(qs.order_by("-seq")[:RECENT_EVENTS])
    names = {}
    if task_id is None:  # a tree's history names the task of each event
        ids = {e.task_id for e in rows if e.task_id}
        names = dict(Task.objects.filter(id__in=ids).values_list("id", "name")) if ids else {}
    more = format_html(
        '<p><a href="{}">All events of this {} →</a></p>',
        display.admin_url("event", query=query),
        "task" if task_id else "tree",
    )
    if not rows:
        return format_html("<p>No events yet.</p>{}", more)
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                e.seq,
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                format_html("<td>{}</td>", _task_cell(e.task_id, names)) if task_id is None else "",
                e.actor.get_username() if e.actor else "—",
                e.source or "—",
                display.short_text(e.data, 120),
            )
            for e in rows
        ),
    )
    task_header = mark_safe("<th>task</th>") if task_id is None else ""
    return format_html(
        '<table class="arbor-events"><thead><tr><th>#</th><th>at (UTC)</th><th>kind</th>{}<th>actor</th>'
        "<th>source</th><th>data</th></tr></thead><tbody>{}</tbody></table>{}",
        task_header,
        body,
        more,
    )


def _task_cell(task_id, names) -> str:
    if task_id is None:
        return "—"
    return display.link("task", task_id, names.get(task_id, str(task_id)))
