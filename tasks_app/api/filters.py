"""django-filter FilterSets of the list endpoints (applied on owner-scoped querysets)."""

from __future__ import annotations

import datetime as dt
import json

import django_filters
from django import forms
from django.db import connection
from django.db.models import Q
from django_filters.fields import IsoDateTimeField

from tasks_app.engine.states import Status
from tasks_app.models import Task, Tree
from tasks_app.models.task import OriginType

STATUS_CHOICES = [(s.value, s.value) for s in Status]
MSG_DATETIME_RANGE = "date and time out of range"


class UTCDateTimeField(IsoDateTimeField):
    """ISO 8601, converted to UTC here: an offset the database cannot store (PostgreSQL allows
    +-15:59) or a date that leaves the calendar once converted is a 400, never a database error."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(MSG_DATETIME_RANGE, code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


def filter_owner(queryset, name, value):
    """Staff narrow by owner (username or numeric id); others only ever see their own rows, so the
    filter cannot widen anything."""
    query = Q(owner__username=value)
    if value.isascii() and value.isdigit() and len(value) <= 18:  # fits a bigint
        query |= Q(owner_id=int(value))
    return queryset.filter(query)


class TaskFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES)
    executor = django_filters.CharFilter()
    tag = django_filters.CharFilter(method="filter_tag", help_text="tasks whose tags contain this tag")
    tree = django_filters.UUIDFilter(field_name="tree_id")
    parent = django_filters.UUIDFilter(field_name="parent_id")
    root_only = django_filters.BooleanFilter(method="filter_root_only", help_text="only root tasks")
    origin_type = django_filters.ChoiceFilter(choices=OriginType.choices)
    owner = django_filters.CharFilter(method="filter_owner", help_text="username or id (staff)")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    completed_after = UTCDateTimeFilter(field_name="completed_at", lookup_expr="gte")
    completed_before = UTCDateTimeFilter(field_name="completed_at", lookup_expr="lt")

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_tag(self, queryset, name, value):
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment: match the quoted element in the stored JSON text
        return queryset.filter(tags__icontains=json.dumps(value))

    def filter_root_only(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(parent__isnull=value)

    def filter_owner(self, queryset, name, value):
        return filter_owner(queryset, name, value)


class TreeFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES)
    archived = django_filters.BooleanFilter()
    owner = django_filters.CharFilter(method="filter_owner", help_text="username or id (staff)")
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    finished_after = UTCDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = UTCDateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = Tree
        fields: list[str] = []

    def filter_owner(self, queryset, name, value):
        return filter_owner(queryset, name, value)
