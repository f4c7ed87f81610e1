"""Probe and metrics endpoints. Thin: authorise, call ``health``/``metrics``, render.

``ARBOR_METRICS_TOKEN`` (optional): when set, ``/metrics`` needs ``Authorization: Bearer <token>``
and ``/readyz`` shows its per-check detail only to that token (the status code is always given,
so a load balancer needs no secret).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import health, metrics

MSG_TOKEN = "a valid ARBOR_METRICS_TOKEN bearer token is required"


def _token_ok(request) -> bool:
    expected = getattr(settings, "ARBOR_METRICS_TOKEN", "")
    if not expected:
        return True
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@never_cache
@require_http_methods(["GET", "HEAD"])
def healthz(request):
    """Liveness: the process answers. No database, so a database outage never restarts it."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_http_methods(["GET", "HEAD"])
def readyz(request):
    scope = "web" if request.GET.get("scope") == "web" else "all"
    ok, checks = health.readiness(scope)
    body: dict = {"status": "ok" if ok else "unavailable", "scope": scope}
    if _token_ok(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if ok else 503)


@never_cache
@require_http_methods(["GET", "HEAD"])
def metrics_view(request):
    if not _token_ok(request):
        response = JsonResponse({"error": {"code": "unauthorized", "message": MSG_TOKEN}}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
