"""REST endpoints of inbound triggers and outbound notifications (docs/api.md, "Triggers" and
"Notifications"; docs/notifications.md).

* ``/api/v1/trees/{id}/triggers/`` and ``/api/v1/triggers/{id}/`` (+ ``rotate/``): owner CRUD;
  the secret appears once, in the answer to create and rotate.
* ``POST /api/v1/triggers/{id}/fire/``: no session, CSRF or user token — the trigger's secret
  authenticates; rate limited per trigger (``ARBOR_TRIGGER_RATE``).
* ``/api/v1/trees/{id}/notifications/`` and ``/api/v1/notifications/{id}/`` (+ ``deliveries/``,
  ``deliveries/{delivery_id}/redeliver/``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from tasks_app import selectors
from tasks_app.exceptions import NotFound
from tasks_app.input_limits import LimitedJSONParser, Pagination
from tasks_app.models import AuditKind, NotificationEvent, NotificationKind, TriggerMode
from tasks_app.services import audit, notifications, triggers

from .serializers import ErrorSerializer

SOURCE = "api"
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="invalid input (the message names the field)"),
    403: OpenApiResponse(ErrorSerializer, description="a permission is missing"),
    404: OpenApiResponse(ErrorSerializer, description="not found (also for another user's id)"),
}


# --- serializers ---------------------------------------------------------------------------------


class TriggerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    tree = serializers.UUIDField(source="tree_id")
    name = serializers.CharField()
    mode = serializers.ChoiceField(choices=TriggerMode.choices)
    enabled = serializers.BooleanField()
    url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_fired_at = serializers.DateTimeField(allow_null=True)
    fire_count = serializers.IntegerField()

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = f"/api/v1/triggers/{obj.id}/fire/"
        return request.build_absolute_uri(path) if request is not None else path


class TriggerCreatedSerializer(TriggerSerializer):
    secret = serializers.CharField(help_text="shown once: store it now")


class TriggerCreateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=TriggerMode.choices, default=TriggerMode.HMAC)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(default=True)


class TriggerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class FireResultSerializer(serializers.Serializer):
    tree = serializers.UUIDField()
    status = serializers.CharField()
    run = serializers.IntegerField()


class RuleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    tree = serializers.UUIDField(source="tree_id", allow_null=True)
    schedule_id = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    events = serializers.ListField(child=serializers.ChoiceField(choices=NotificationEvent.choices))
    url = serializers.CharField()
    method = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField())
    timeout = serializers.FloatField()
    max_attempts = serializers.IntegerField(allow_null=True)
    emails = serializers.ListField(child=serializers.EmailField())
    enabled = serializers.BooleanField()
    run_number = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class RuleCreatedSerializer(RuleSerializer):
    secret = serializers.CharField(help_text="webhooks: the X-Arbor-Signature key, shown once")


class RuleCreateSerializer(serializers.Serializer):
    """Validated by the service (``notifications.clean_rule``), documented here."""

    kind = serializers.ChoiceField(choices=NotificationKind.choices, default=NotificationKind.WEBHOOK)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices), required=False
    )
    url = serializers.CharField(required=False)
    method = serializers.ChoiceField(choices=["POST", "PUT", "PATCH"], required=False)
    headers = serializers.DictField(child=serializers.CharField(), required=False)
    timeout = serializers.FloatField(required=False)
    max_attempts = serializers.IntegerField(required=False)
    emails = serializers.ListField(child=serializers.EmailField(), required=False)
    name = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField()


# --- owner CRUD ----------------------------------------------------------------------------------


class _Owner(APIView):
    parser_classes = [LimitedJSONParser]


class TreeTriggersView(_Owner):
    @extend_schema(
        summary="The tree's inbound triggers", responses={200: TriggerSerializer(many=True), **ERRORS}
    )
    def get(self, request, id):
        tree = selectors.tree_get(request.user, id, request=request, source=SOURCE)
        rows = selectors.tree_triggers(tree)
        return Response(TriggerSerializer(rows, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Create an inbound trigger (the secret is shown once)",
        request=TriggerCreateSerializer,
        responses={201: TriggerCreatedSerializer, **ERRORS},
    )
    def post(self, request, id):
        tree = selectors.tree_get(request.user, id, "change", request=request, source=SOURCE)
        body = TriggerCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = triggers.trigger_create(tree=tree, actor=request.user, source=SOURCE, **body.validated_data)
        return Response(_created(created, request), status=status.HTTP_201_CREATED)


def _created(created, request) -> dict:
    return {**TriggerSerializer(created.trigger, context={"request": request}).data, "secret": created.secret}


class TriggerDetailView(_Owner):
    @extend_schema(summary="An inbound trigger", responses={200: TriggerSerializer, **ERRORS})
    def get(self, request, id):
        trigger = selectors.trigger_get(request.user, id, request=request, source=SOURCE)
        return Response(TriggerSerializer(trigger, context={"request": request}).data)

    @extend_schema(
        summary="Rename, enable or disable a trigger",
        request=TriggerUpdateSerializer,
        responses={200: TriggerSerializer, **ERRORS},
    )
    def patch(self, request, id):
        trigger = selectors.trigger_get(request.user, id, "change", request=request, source=SOURCE)
        body = TriggerUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        trigger = triggers.trigger_update(
            trigger=trigger, data=body.validated_data, actor=request.user, source=SOURCE
        )
        return Response(TriggerSerializer(trigger, context={"request": request}).data)

    @extend_schema(summary="Delete a trigger", responses={204: None, **ERRORS})
    def delete(self, request, id):
        trigger = selectors.trigger_get(request.user, id, "change", request=request, source=SOURCE)
        triggers.trigger_delete(trigger=trigger, actor=request.user, source=SOURCE)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TriggerRotateView(_Owner):
    @extend_schema(
        summary="A new secret for a trigger (the old one stops working; shown once)",
        request=None,
        responses={200: TriggerCreatedSerializer, **ERRORS},
    )
    def post(self, request, id):
        trigger = selectors.trigger_get(request.user, id, "change", request=request, source=SOURCE)
        created = triggers.trigger_rotate(trigger=trigger, actor=request.user, source=SOURCE)
        return Response(_created(created, request))


# --- firing --------------------------------------------------------------------------------------


class TriggerThrottle(SimpleRateThrottle):
    """Per trigger id (not per client): ``ARBOR_TRIGGER_RATE``, read at every request."""

    scope = "trigger"

    def get_rate(self):
        return settings.ARBOR_TRIGGER_RATE

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        try:
            ident = uuid.UUID(str(view.kwargs.get("id")))
        except ValueError:
            return None  # not a trigger id: 404 without counting
        return self.cache_format % {"scope": self.scope, "ident": ident.hex}


class TriggerFireView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TriggerThrottle]
    parser_classes: list = []  # the raw body is what is signed

    @extend_schema(
        summary="Fire an inbound trigger: start a run with the JSON body as the root task's inputs",
        description=(
            "Authenticated by the trigger's secret only. hmac mode: `X-Arbor-Timestamp` (unix seconds, "
            "within ARBOR_TRIGGER_TOLERANCE) and `X-Arbor-Signature: sha256=<hex HMAC-SHA256 of "
            '"{timestamp}.{body}">`; bearer mode: `Authorization: Bearer <secret>`. A finished tree '
            "starts a new run from scratch; a running one answers 409."
        ),
        auth=[],
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                "X-Arbor-Signature",
                str,
                OpenApiParameter.HEADER,
                required=False,
                pattern="^sha256=[0-9a-f]{64}$",
                description="hmac mode",
            ),
            OpenApiParameter(
                "X-Arbor-Timestamp",
                int,
                OpenApiParameter.HEADER,
                required=False,
                description="hmac mode: unix seconds",
            ),
        ],
        responses={
            202: FireResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid JSON or inputs (names the field)"),
            401: OpenApiResponse(
                ErrorSerializer, description="bad or missing signature/secret; nothing started"
            ),
            404: OpenApiResponse(ErrorSerializer, description="no such trigger"),
            409: OpenApiResponse(
                ErrorSerializer, description="the tree is running, or the trigger is disabled"
            ),
            413: OpenApiResponse(ErrorSerializer, description="body larger than ARBOR_TRIGGER_MAX_BYTES"),
            429: OpenApiResponse(ErrorSerializer, description="rate limited (Retry-After)"),
        },
    )
    def post(self, request, id):
        trigger = selectors.trigger_for_fire(id)
        if trigger is None:
            raise NotFound(f"trigger '{id}' not found")
        limit = settings.ARBOR_TRIGGER_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _too_large(limit)
        body = request._request.body  # the declared length is within the limit
        if len(body) > limit:
            return _too_large(limit)
        try:
            triggers.authenticate(
                trigger,
                body=body,
                signature=request.headers.get("X-Arbor-Signature"),
                timestamp=request.headers.get("X-Arbor-Timestamp"),
                authorization=request.headers.get("Authorization"),
            )
        except triggers.TriggerUnauthorized as exc:
            audit.record(
                AuditKind.TRIGGER_REJECTED,
                request=request,
                source="trigger",
                target=f"trigger:{trigger.id}",
                reason=exc.message,
            )
            return Response(
                {"error": {"code": exc.code, "message": exc.message}}, status=status.HTTP_401_UNAUTHORIZED
            )
        inputs = triggers.parse_body(body)
        tree = triggers.trigger_fire(trigger=trigger, inputs=inputs)
        return Response(
            {"tree": str(tree.id), "status": tree.status, "run": tree.run_count},
            status=status.HTTP_202_ACCEPTED,
        )


def _too_large(limit: int) -> Response:
    return Response(
        {
            "error": {
                "code": "limit_exceeded",
                "message": triggers.MSG_BODY_LARGE.format(limit=limit),
                "details": {"field": "body", "limit": limit},
            }
        },
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


# --- notifications -------------------------------------------------------------------------------


def _rule(rule) -> dict:
    return RuleSerializer(rule).data


def _create_rule(request, **target) -> Response:
    """A new rule of a tree or a schedule (``target``); its webhook secret is shown this once."""
    data = request.data if isinstance(request.data, dict) else {}
    rule = notifications.rule_create(actor=request.user, data=data, **target)
    return Response({**_rule(rule), "secret": rule.secret}, status=status.HTTP_201_CREATED)


class TreeRulesView(_Owner):
    @extend_schema(
        summary="The tree's notification rules", responses={200: RuleSerializer(many=True), **ERRORS}
    )
    def get(self, request, id):
        tree = selectors.tree_get(request.user, id, request=request, source=SOURCE)
        return Response(RuleSerializer(selectors.tree_rules(tree), many=True).data)

    @extend_schema(
        summary="Notify a webhook or e-mail addresses when a run completes, fails or is cancelled",
        request=RuleCreateSerializer,
        responses={201: RuleCreatedSerializer, **ERRORS},
    )
    def post(self, request, id):
        return _create_rule(
            request, tree=selectors.tree_get(request.user, id, "change", request=request, source=SOURCE)
        )


class ScheduleRulesView(_Owner):
    @extend_schema(
        summary="The schedule's notification rules (the runs its fires start)",
        responses={200: RuleSerializer(many=True), **ERRORS},
    )
    def get(self, request, id):
        schedule = selectors.schedule_get(request.user, id, request=request, source=SOURCE)
        return Response(RuleSerializer(selectors.schedule_rules(schedule), many=True).data)

    @extend_schema(
        summary="Notify a webhook or e-mail addresses when a run this schedule started ends",
        request=RuleCreateSerializer,
        responses={201: RuleCreatedSerializer, **ERRORS},
    )
    def post(self, request, id):
        schedule = selectors.schedule_get(request.user, id, "change", request=request, source=SOURCE)
        return _create_rule(request, schedule=schedule)


class RuleDetailView(_Owner):
    @extend_schema(summary="A notification rule", responses={200: RuleSerializer, **ERRORS})
    def get(self, request, id):
        return Response(_rule(selectors.rule_get(request.user, id, request=request, source=SOURCE)))

    @extend_schema(
        summary="Delete a notification rule (and its delivery log)", responses={204: None, **ERRORS}
    )
    def delete(self, request, id):
        rule = selectors.rule_get(request.user, id, "change", request=request, source=SOURCE)
        notifications.rule_delete(rule=rule, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleDeliveriesView(_Owner):
    pagination_class = Pagination

    @extend_schema(
        summary="The rule's deliveries, newest first",
        responses={200: DeliverySerializer(many=True), **ERRORS},
    )
    def get(self, request, id):
        rule = selectors.rule_get(request.user, id, request=request, source=SOURCE)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.rule_deliveries(rule), request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryRedeliverView(_Owner):
    @extend_schema(
        summary="Send a delivered or failed delivery again (due now, a fresh attempt budget)",
        request=None,
        responses={
            202: DeliverySerializer,
            **ERRORS,
            409: OpenApiResponse(ErrorSerializer, description="the delivery is still pending"),
        },
    )
    def post(self, request, id, delivery_id):
        rule = selectors.rule_get(request.user, id, "change", request=request, source=SOURCE)
        delivery = selectors.rule_delivery_get(rule, delivery_id)
        delivery = notifications.delivery_redeliver(delivery=delivery, actor=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
