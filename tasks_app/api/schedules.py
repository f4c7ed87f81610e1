"""REST API of schedules (``/api/v1/schedules/``) and the iCalendar feed of a user's schedules.

Each method: validate input -> one service or selector call -> render. Schedules are looked up
through ``selectors.schedule_queryset`` (staff with the model permissions see all): another user's id
answers 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import cast

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks_app import selectors
from tasks_app.engine import schedules as rules
from tasks_app.exceptions import NotFound, ValidationError
from tasks_app.models import CalendarFeed, Schedule
from tasks_app.models.schedule import KIND_CHOICES, CatchUp, Overlap
from tasks_app.services import calendar_feed
from tasks_app.services import schedules as schedule_services

from .views import ERRORS, ApiViewMixin

MSG_BAD_TREE_FILTER = "tree: {value!r} is not a tree id (a UUID)"

SOURCE = "api"
MAX_NEXT = 100


class ScheduleInputSerializer(serializers.Serializer):
    tree = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=[k for k, _ in KIND_CHOICES], required=False)
    expression = serializers.CharField(max_length=100, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False)
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)
    max_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    enabled = serializers.BooleanField(required=False)
    overlap = serializers.ChoiceField(choices=Overlap.values, required=False)
    catch_up = serializers.ChoiceField(choices=CatchUp.values, required=False)
    max_concurrent = serializers.IntegerField(required=False, min_value=1)


class ScheduleCreateSerializer(ScheduleInputSerializer):
    tree = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=[k for k, _ in KIND_CHOICES])
    expression = serializers.CharField(max_length=100, allow_blank=True)


class PreviewSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k for k, _ in KIND_CHOICES], default="cron")
    expression = serializers.CharField(max_length=100, allow_blank=True)
    timezone = serializers.CharField(max_length=64, default="UTC")
    count = serializers.IntegerField(min_value=1, max_value=MAX_NEXT, default=5)
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)


class FireSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scheduled_for = serializers.DateTimeField()
    fired_at = serializers.DateTimeField()
    status = serializers.CharField()
    run_number = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True)
    missed = serializers.IntegerField()
    reason = serializers.CharField()
    tree = serializers.UUIDField(source="tree_id")
    run_url = serializers.SerializerMethodField()

    def get_run_url(self, fire) -> str | None:
        if fire.run_number is None:
            return None
        return reverse("ui:tree_run", args=[fire.tree_id]) + f"?run={fire.run_number}"


class ScheduleSerializer(serializers.Serializer):
    """Output only."""

    id = serializers.UUIDField()
    tree = serializers.UUIDField(source="tree_id")
    tree_name = serializers.CharField(source="tree.name")
    owner = serializers.CharField(source="owner_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    expression = serializers.CharField()
    timezone = serializers.CharField()
    description = serializers.SerializerMethodField()
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    max_runs = serializers.IntegerField(allow_null=True)
    run_count = serializers.IntegerField()
    enabled = serializers.BooleanField()
    state = serializers.CharField()
    overlap = serializers.CharField()
    catch_up = serializers.CharField()
    max_concurrent = serializers.IntegerField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_fire = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_description(self, schedule) -> str:
        return describe(schedule)

    def get_last_fire(self, schedule) -> dict | None:
        fire = self.context.get("last_fires", {}).get(schedule.id)
        return None if fire is None else FireSerializer(fire).data


def describe(schedule: Schedule) -> str:
    try:
        return rules.describe(schedule_services.spec_of(schedule))
    except Exception:  # a rule stored before a validation change: show it raw
        return f"{schedule.kind} {schedule.expression}"


def render_schedules(schedules) -> list[dict]:
    schedules = list(schedules)
    context = {"last_fires": selectors.last_fires([x.id for x in schedules])}
    return cast(list[dict], ScheduleSerializer(schedules, many=True, context=context).data)


def render_schedule(schedule: Schedule) -> dict:
    return render_schedules([schedule])[0]


def _create_args(data: dict) -> dict:
    data = dict(data)
    if "timezone" in data:
        data["timezone_name"] = data.pop("timezone")
    return data


@extend_schema_view(
    list=extend_schema(
        summary="List your schedules (by next fire time)",
        responses=ScheduleSerializer(many=True),
        parameters=[
            OpenApiParameter("tree", OpenApiTypes.UUID),
            OpenApiParameter("state", OpenApiTypes.STR, enum=["active", "paused", "finished"]),
        ],
    ),
    retrieve=extend_schema(summary="A schedule", responses={200: ScheduleSerializer, 404: ERRORS[404]}),
    create=extend_schema(
        summary="Schedule a tree",
        request=ScheduleCreateSerializer,
        responses={201: ScheduleSerializer, **ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change a schedule (a new rule recomputes the next fire)",
        request=ScheduleInputSerializer,
        responses={200: ScheduleSerializer, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a schedule and its fire history", responses={204: None, 404: ERRORS[404]}
    ),
)
class ScheduleViewSet(ApiViewMixin, viewsets.GenericViewSet):
    queryset = Schedule.objects.none()
    serializer_class = ScheduleSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Schedule.objects.none()
        qs = selectors.schedule_queryset(self.user)
        tree = self.request.query_params.get("tree")
        if tree:
            try:
                qs = qs.filter(tree_id=uuid.UUID(tree))
            except ValueError:
                raise ValidationError(
                    MSG_BAD_TREE_FILTER.format(value=tree), details={"field": "tree"}
                ) from None
        state = self.request.query_params.get("state")
        if state == "finished":
            qs = qs.filter(next_run_at__isnull=True)
        elif state in ("active", "paused"):
            qs = qs.filter(next_run_at__isnull=False, enabled=state == "active")
        return qs.order_by("next_run_at", "created_at", "id")

    def get_schedule(self, action: str = "view") -> Schedule:
        return selectors.schedule_get(
            self.user, self.kwargs["pk"], action, request=self.request, source="api"
        )

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(render_schedules(page))

    def retrieve(self, request, pk=None):
        return Response(render_schedule(self.get_schedule()))

    def create(self, request):
        body = ScheduleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = _create_args(body.validated_data)
        tree = selectors.tree_get(request.user, data.pop("tree"), "change", request=request, source="api")
        schedule = schedule_services.schedule_create(owner=tree.owner, tree=tree, **data)
        return Response(
            render_schedule(selectors.schedule_get(request.user, schedule.id)), status=status.HTTP_201_CREATED
        )

    def partial_update(self, request, pk=None):
        body = ScheduleInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data.pop("tree", None)
        schedule = schedule_services.schedule_update(schedule=self.get_schedule("change"), **data)
        return Response(render_schedule(selectors.schedule_get(request.user, schedule.id)))

    def destroy(self, request, pk=None):
        schedule_services.schedule_delete(schedule=self.get_schedule("delete"))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Pause: no fire until resumed", request=None, responses={200: ScheduleSerializer, **ERRORS}
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        schedule = schedule_services.schedule_pause(schedule=self.get_schedule("change"))
        return Response(render_schedule(selectors.schedule_get(request.user, schedule.id)))

    @extend_schema(
        summary="Resume from now (times passed while paused are not fired)",
        request=None,
        responses={200: ScheduleSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        schedule = schedule_services.schedule_resume(schedule=self.get_schedule("change"))
        return Response(render_schedule(selectors.schedule_get(request.user, schedule.id)))

    @extend_schema(
        summary="The next N fire times",
        parameters=[OpenApiParameter("count", OpenApiTypes.INT)],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def next(self, request, pk=None):
        count = _count(request.query_params.get("count"))
        schedule = self.get_schedule()
        times = schedule_services.upcoming(schedule, count)
        return Response(
            {
                "schedule": str(schedule.id),
                "description": describe(schedule),
                "timezone": schedule.timezone,
                "next": [t.isoformat() for t in times],
            }
        )

    @extend_schema(
        summary="Every fire of the schedule, newest first: status, duration, run link",
        responses=FireSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        page = self.paginate_queryset(selectors.schedule_fires(self.get_schedule()))
        return self.get_paginated_response(FireSerializer(page, many=True).data)

    @extend_schema(
        summary="Describe a rule and list its next fire times without saving it",
        request=PreviewSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: ERRORS[400]},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        body = PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        out = schedule_services.preview(
            kind=d["kind"],
            expression=d["expression"],
            timezone_name=d["timezone"],
            count=d["count"],
            start_at=d.get("start_at"),
            end_at=d.get("end_at"),
        )
        return Response({"description": out["description"], "next": [t.isoformat() for t in out["next"]]})

    @extend_schema(
        summary="iCalendar feed of your active schedules (next fires)",
        parameters=[OpenApiParameter("days", OpenApiTypes.INT)],
        responses={(200, "text/calendar"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], url_path="calendar.ics")
    def calendar(self, request):
        days = _count(request.query_params.get("days"), default=30, maximum=366)
        qs = selectors.schedule_queryset(self.user).filter(enabled=True, next_run_at__isnull=False)
        body = ical_feed(qs, days=days, base_url=request.build_absolute_uri("/"))
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="arbor-schedules.ics"'
        return response

    @extend_schema(
        summary=(
            "Your private calendar link: whether it exists (GET), (re)generate it (POST), revoke it (DELETE)"
        ),
        description=(
            "Calendar apps cannot send cookies or tokens: the private link carries a secret instead. "
            "POST returns the URL once (the secret is stored hashed); POST again replaces it (the old "
            "URL stops working); DELETE revokes it. The link shows only your schedules."
        ),
        request=None,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 204: None},
    )
    @action(detail=False, methods=["get", "post", "delete"], url_path="calendar-link")
    def calendar_link(self, request):
        if request.method == "POST":
            feed, secret = calendar_feed.feed_regenerate(user=self.user)
            path = reverse("calendar-feed", kwargs={"key": feed.key, "secret": secret})
            return Response(
                {"url": request.build_absolute_uri(path), "created_at": feed.created_at.isoformat()},
                status=status.HTTP_201_CREATED,
            )
        if request.method == "DELETE":
            calendar_feed.feed_revoke(user=self.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        current = CalendarFeed.objects.filter(user=self.user).first()
        return Response(
            {
                "exists": current is not None,
                "created_at": current.created_at.isoformat() if current else None,
                "last_used_at": current.last_used_at.isoformat()
                if current and current.last_used_at
                else None,
            }
        )


class CalendarFeedView(APIView):
    """The private iCalendar link: authenticated by the secret in its URL only."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="iCalendar feed of a user's schedules through their private link",
        auth=[],
        parameters=[OpenApiParameter("days", OpenApiTypes.INT)],
        responses={(200, "text/calendar"): OpenApiTypes.STR, 404: ERRORS[404]},
    )
    def get(self, request, key: str, secret: str):
        user = calendar_feed.feed_user(key, secret)
        if user is None:
            raise NotFound("calendar link not found (revoked or regenerated?)")
        days = _count(request.query_params.get("days"), default=30, maximum=366)
        qs = (
            Schedule.objects.filter(owner=user, enabled=True, next_run_at__isnull=False)
            .select_related("tree")
            .order_by("next_run_at")
        )
        body = ical_feed(qs, days=days, base_url=request.build_absolute_uri("/"))
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="arbor-schedules.ics"'
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


def _count(raw, *, default: int = 5, maximum: int = MAX_NEXT) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        value = default
    return max(1, min(value, maximum))


ICAL_MAX_EVENTS = 1000


def ical_feed(
    schedules, *, days: int = 30, base_url: str = "", calendar_name: str = "Arbor schedules"
) -> bytes:
    """An iCalendar (RFC 5545) document: one VEVENT per fire in the next ``days`` (at most 1,000)."""
    from django.utils import timezone as dj_timezone
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Arbor//schedules//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", calendar_name)
    horizon = dj_timezone.now() + dt.timedelta(days=days)
    emitted = 0
    for schedule in schedules:
        for when in schedule_services.upcoming(schedule, MAX_NEXT):
            if when > horizon or emitted >= ICAL_MAX_EVENTS:
                break
            event = Event()
            event.add("uid", f"{schedule.id}-{when.strftime('%Y%m%dT%H%M%SZ')}@arbor")
            event.add("summary", f"Run {schedule.tree.name}")
            event.add("description", describe(schedule))
            event.add("dtstart", when)
            event.add("dtend", when + dt.timedelta(minutes=5))
            event.add("dtstamp", dj_timezone.now())
            if base_url:
                event.add("url", base_url.rstrip("/") + reverse("ui:tree_run", args=[schedule.tree_id]))
            cal.add_component(event)
            emitted += 1
    return cal.to_ical()
