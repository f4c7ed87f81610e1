"""django-filter FilterSets of the list endpoints (applied on owner-scoped querysets)."""

from __future__ import annotations

import datetime as dt
import json

import django_filters
from django import forms
from django.db import connection
from django.db.models import Func, Q, TextField, Value
from django_filters.fields import IsoDateTimeField
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ValidationError

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


class NameGrams(Func):
    """The upper-cased text with every character doubled ("Task 42" -> "TTAASSKK  4422"): the
    expression of PostgreSQL's ``task_name_grams`` trigram index (migration 0015_lists_filter_indexes,
    which holds the same SQL). Doubling makes a two-character term three trigrams long."""

    template = r"regexp_replace(UPPER(%(expressions)s::text), '(.)', '\1\1', 'g')"
    output_field = TextField()


def _indexable(term: str) -> bool:
    """Whether ``term`` yields a trigram once doubled: two letters or digits in a row (pg_trgm
    reads words of letters and digits). A term without one would scan the whole index."""
    return any(a.isalnum() and b.isalnum() for a, b in zip(term, term[1:], strict=False))


# the share of the task table a term's NameGrams condition may match (the planner's estimate) for
# the index to be worth it: beyond it, the index's rechecks (the doubling, per candidate row) cost
# more than reading every task of the reader
SELECTIVE_SHARE = 0.05


def _estimated_rows(queryset) -> float:
    """The planner's estimate of how many rows ``queryset`` returns (EXPLAIN, nothing is run)."""
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    return float((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


def _task_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Task._meta.db_table])
        row = cursor.fetchone()
    return max(float(row[0]) if row else 0.0, 0.0)


def _grams_of(queryset, term: str):
    return queryset.alias(_name_grams=NameGrams("name")).filter(_name_grams__contains=NameGrams(Value(term)))


class SearchFilter(drf_filters.SearchFilter):
    """DRF's ``?search=``, its refusals naming the parameter (``search: Null characters are not
    allowed.``) as the other filters' do."""

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from None


class NameSearchFilter(SearchFilter):
    """DRF's ``?search=`` (every term contained in the name, case-insensitively: the exact
    condition, unchanged), plus on PostgreSQL, for the rarest term of two or more letters or digits
    by the planner's statistics when it is rare (:data:`SELECTIVE_SHARE`), the same containment on
    :class:`NameGrams`, which the ``task_name_grams`` index answers: a superset of the exact
    condition (a name containing the term contains it doubled), so the rows are the same and the
    planner may start from the index instead of every task of the reader (docs/performance.md
    "Scale"). A common term gets no such condition: evaluated on every row it would only cost.
    For views whose ``search_fields`` is the one field ``name``."""

    def filter_queryset(self, request, queryset, view):
        filtered = super().filter_queryset(request, queryset, view)
        if connection.vendor != "postgresql" or list(getattr(view, "search_fields", [])) != ["name"]:
            return filtered
        terms = {term for term in self.get_search_terms(request) if _indexable(term)}
        if not terms:
            return filtered
        rows, term = min((_estimated_rows(_grams_of(Task.objects.all(), term)), term) for term in terms)
        if rows > SELECTIVE_SHARE * _task_rows():
            return filtered
        return _grams_of(filtered, term)
