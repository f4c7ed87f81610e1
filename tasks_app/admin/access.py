"""Shared resources (pools) and held locks, API tokens, and the django-q2 pages restricted to superusers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from tasks_app.engine.resources import is_namespaced, public_key
from tasks_app.exceptions import ValidationError
from tasks_app.models import ApiToken, ResourceLock, ResourcePool
from tasks_app.services import tokens as token_services

TOKEN_CREATED_TEMPLATE = "admin/tasks_app/apitoken/token_created.html"


@admin.register(ResourcePool)
class ResourcePoolAdmin(admin.ModelAdmin):
    """Shared resources: declaring ``type:identifier`` here makes every user it is granted to
    lock the same resource (within its capacity); a resource nobody declared is private to each
    user, and naming a declared one without a grant is refused (docs/security.md)."""

    list_display = ("key", "capacity", "holders", "granted_to", "description")
    list_editable = ("capacity",)
    list_filter = ("everyone",)
    search_fields = ("key", "description")
    fields = ("key", "capacity", "description", "everyone", "users", "groups")
    filter_horizontal = ("users", "groups")

    def get_queryset(self, request):
        held = (
            ResourceLock.objects.filter(key=OuterRef("key"))
            .order_by()
            .values("key")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                held=Coalesce(Subquery(held, output_field=IntegerField()), 0),
                user_grants=Count("users", distinct=True),
                group_grants=Count("groups", distinct=True),
            )
        )

    def save_model(self, request, obj, form, change):
        concrete = {f.name for f in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in concrete]
        if not change:
            obj.save()
        elif changed:
            obj.save(update_fields=changed)  # grants (many-to-many) are saved by save_related

    @admin.display(description="held now", ordering="held")
    def holders(self, obj):
        return obj.held

    @admin.display(description="granted to")
    def granted_to(self, obj):
        if obj.everyone:
            return "everyone"
        if not obj.user_grants and not obj.group_grants:
            return "nobody (refused to every user)"
        return f"{obj.user_grants} user(s), {obj.group_grants} group(s)"


@admin.register(ResourceLock)
class ResourceLockAdmin(admin.ModelAdmin):
    """The locks live attempts hold, read-only. A private resource's lock is shown as its owner
    named it, with the owner; a shared resource's as "shared"."""

    list_display = ("resource", "scope", "mode", "task", "acquired_at")
    list_filter = ("mode",)
    list_select_related = ("task", "task__owner")
    search_fields = ("key", "task__name", "task__owner__username")
    fields = ("resource", "scope", "key", "mode", "task", "attempt", "acquired_at")
    readonly_fields = fields

    @admin.display(description="resource", ordering="key")
    def resource(self, obj):
        return public_key(obj.key)

    @admin.display(description="scope")
    def scope(self, obj):
        return f"private to {obj.task.owner}" if is_namespaced(obj.key) else "shared"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a lock is released by ending its attempt, never by hand


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]
        help_texts = {"expires_at": "Blank: the default lifetime (ARBOR_TOKEN_DEFAULT_DAYS) for a new token."}

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and self.instance.pk is None:
            try:  # the service's rule, shown on the form (token_issue applies it again)
                token_services.resolve_expiry(expires_at=value)
            except ValidationError as exc:
                raise forms.ValidationError(exc.message) from None
        return value


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Only the SHA-256 digest and a short prefix are stored; the clear token is shown once, on the
    page that answers the "add" form (never in a message cookie or the session)."""

    form = ApiTokenForm
    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "expires_at", "revoked")
    list_filter = ("revoked",)
    list_select_related = ("user",)
    search_fields = ("name", "user__username", "key_prefix")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "name", "expires_at")
        return ("user", "name", "key_prefix", "created_at", "last_used_at", "expires_at", "revoked")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "key_prefix", "created_at", "last_used_at", "revoked")

    def save_model(self, request, obj, form, change):
        if not change:
            # a blank expiry gets the default lifetime (ARBOR_TOKEN_DEFAULT_DAYS); audited as created
            token, raw = token_services.token_issue(
                user=obj.user,
                name=obj.name,
                expires_at=obj.expires_at,
                actor=request.user,
                request=request,
                source="admin",
            )
            obj.pk, obj.key_prefix, obj.digest = token.pk, token.key_prefix, token.digest
            obj.expires_at, obj.created_at = token.expires_at, token.created_at
            obj._state.adding, obj._state.db = False, token._state.db
            request._arbor_new_token = raw
        elif form.changed_data:
            obj.save(update_fields=form.changed_data)

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_arbor_new_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "token": raw,
            "original": obj,
            "opts": opts,
            "app_label": opts.app_label,
        }
        response = TemplateResponse(request, TOKEN_CREATED_TEMPLATE, context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        tokens = token_services.token_revoke(queryset, actor=request.user, request=request, source="admin")
        for token in tokens:
            self.log_change(request, token, "Revoked")
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


# --- django-q2 -----------------------------------------------------------------------------------


if TYPE_CHECKING:  # what the mixin is mixed into, for the type checker only
    _ModelAdminBase = admin.ModelAdmin
else:
    _ModelAdminBase = object


class SuperuserOnlyMixin(_ModelAdminBase):
    """django-q2's pages (schedules, queued, failed and successful jobs) for superusers only: a
    ``Schedule`` names an arbitrary ``func``, so creating one is code execution on the workers."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return (
            request.user.is_active and request.user.is_superuser and super().has_view_permission(request, obj)
        )

    def has_add_permission(self, request, *args):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_add_permission(request, *args)
        )

    def has_change_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_change_permission(request, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_superuser
            and super().has_delete_permission(request, obj)
        )


def restrict_django_q(site: admin.AdminSite = admin.site) -> list[str]:
    """Re-register every django_q model admin with ``SuperuserOnlyMixin`` in front (their pages
    stay exactly as django-q2 made them). Return the names of the models restricted."""
    import django_q.admin  # noqa: F401  (registers django-q2's admins first, whatever the app order)

    restricted: list[str] = []
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "django_q" or isinstance(model_admin, SuperuserOnlyMixin):
            continue
        cls = type(model_admin)
        site.unregister(model)
        site.register(model, type(f"SuperuserOnly{cls.__name__}", (SuperuserOnlyMixin, cls), {}))
        restricted.append(str(model._meta.model_name))
    return restricted
