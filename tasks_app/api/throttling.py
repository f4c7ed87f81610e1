"""DRF throttles for every API view (REST, JSON-RPC and its SSE streams): per user, and per client
address for anonymous clients. Rates: ARBOR_THROTTLE_USER / ARBOR_THROTTLE_ANON. Counters live in
the default cache (settings: Redis, the database, or process memory for the embedded default).
A refused request gets 429 and ``Retry-After`` (tasks_app/api/exceptions.py keeps DRF's header)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import exceptions, throttling
from rest_framework.settings import api_settings

if TYPE_CHECKING:  # what the mixins are mixed into, for the type checker only
    from rest_framework.views import APIView

    _RateBase = throttling.SimpleRateThrottle
    _ViewBase = APIView
else:
    _RateBase = _ViewBase = object


class _LiveRates(_RateBase):
    """DRF binds THROTTLE_RATES when the class is defined; read them per request instead, so a
    changed REST_FRAMEWORK setting (tests: override_settings) applies."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")


class UserRateThrottle(_LiveRates, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(_LiveRates, throttling.AnonRateThrottle):
    def get_ident(self, request):
        # the peer address, as login lockout and the audit trail (X-Forwarded-For is not trusted:
        # a proxy in front sets REMOTE_ADDR, docs/deployment.md)
        return request.META.get("REMOTE_ADDR") or "unknown"


class ThrottleUnauthenticatedMixin(_ViewBase):
    """DRF checks throttles only after authentication and permissions pass, so a client that is
    refused (a guessed token: 401; no credentials: 401/403) would never be throttled. Here the
    throttles also run before such a refusal: past the anonymous rate, the answer is 429."""

    def perform_authentication(self, request):
        try:
            super().perform_authentication(request)
        except exceptions.AuthenticationFailed:
            self.check_throttles(request)  # request.user is now AnonymousUser: the anonymous rate
            raise

    def permission_denied(self, request, message=None, code=None):
        self.check_throttles(request)
        super().permission_denied(request, message=message, code=code)
