"""Inbound triggers, notification rules and the delivery log (with "redeliver").

Triggers and rules are created through the API (their secrets are shown once, there); here an
operator sees them, turns them off or deletes them. Secrets never appear on these pages.
"""

from __future__ import annotations

from django.contrib import admin, messages

from tasks_app.models import Delivery, NotificationRule, Trigger
from tasks_app.services import notifications, triggers

from . import display


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "tree_link",
        "owner",
        "mode",
        "enabled",
        "created_at",
        "last_fired_at",
        "fire_count",
    )
    list_filter = ("mode", "enabled")
    list_select_related = ("tree", "owner")
    search_fields = ("name", "tree__name", "owner__username")
    fields = (
        "id",
        "tree_link",
        "owner",
        "name",
        "mode",
        "enabled",
        "created_at",
        "last_fired_at",
        "fire_count",
    )
    readonly_fields = ("id", "tree_link", "owner", "mode", "created_at", "last_fired_at", "fire_count")

    def has_add_permission(self, request):
        return False  # POST /api/v1/trees/{id}/triggers/ shows the secret once

    @admin.display(description="tree", ordering="tree__name")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name)

    def save_model(self, request, obj, form, change):
        triggers.trigger_update(
            trigger=obj,
            data={k: form.cleaned_data[k] for k in form.changed_data},
            actor=request.user,
            source="admin",
        )

    def delete_model(self, request, obj):
        triggers.trigger_delete(trigger=obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = (
        "created_at",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "tree_link",
        "schedule_id",
        "owner",
        "kind",
        "enabled",
        "run_number",
        "created_at",
    )
    list_filter = ("kind", "enabled")
    list_select_related = ("tree", "owner")
    search_fields = ("name", "url", "tree__name", "owner__username")
    fields = (
        "id",
        "tree_link",
        "schedule_id",
        "owner",
        "name",
        "kind",
        "events",
        "url",
        "method",
        "headers",
        "timeout",
        "max_attempts",
        "emails",
        "enabled",
        "run_number",
        "created_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("name", "enabled"))
    inlines = [DeliveryInline]

    def has_add_permission(self, request):
        return False  # POST /api/v1/trees/{id}/notifications/ checks the target and shows the secret once

    @admin.display(description="tree", ordering="tree__name")
    def tree_link(self, obj):
        return display.link("tree", obj.tree_id, obj.tree.name if obj.tree_id else "")

    def save_model(self, request, obj, form, change):
        notifications.rule_update(
            rule=obj, data={k: form.cleaned_data[k] for k in form.changed_data}, actor=request.user
        )

    def delete_model(self, request, obj):
        notifications.rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "target",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("rule",)
    search_fields = ("rule__url", "last_error", "tree_id")
    ordering = ("-created_at",)
    actions = ["redeliver"]
    fields = (
        "id",
        "rule",
        "tree_id",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "payload_json",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # the action needs it

    @admin.display(description="target")
    def target(self, obj):
        return obj.rule.url or ", ".join(obj.rule.emails)

    @admin.display(description="payload")
    def payload_json(self, obj):
        return display.pretty_json(obj.payload)

    @admin.action(description="Redeliver the selected notifications", permissions=["change"])
    def redeliver(self, request, queryset):
        count = notifications.redeliver(deliveries=queryset, actor=request.user)
        self.message_user(
            request, f"{count} notification(s) will be sent again by the worker.", messages.SUCCESS
        )
