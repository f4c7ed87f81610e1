"""Probe and metrics endpoints. Thin: authorise, call ``health``/``metrics``, render.

Who may read ``/metrics`` and the per-check detail of ``/readyz`` (the status code of ``/readyz``
is always given, so a load balancer needs no secret):

- ``ARBOR_METRICS_TOKEN`` set: only a client sending ``Authorization: Bearer <token>``;
- no token, ``DEBUG=0``: only a client whose address is in ``ARBOR_METRICS_ALLOWED_IPS``
  (addresses or networks; default loopback only);
- no token, ``DEBUG=1`` (development): everyone.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tasks_app import conf

from . import health, metrics

MSG_TOKEN = "a valid ARBOR_METRICS_TOKEN bearer token is required"
MSG_ADDRESS = (
    "metrics are served only to the addresses in ARBOR_METRICS_ALLOWED_IPS (or set ARBOR_METRICS_TOKEN)"
)


def _address_allowed(request) -> bool:
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return False
    for entry in conf.get("ARBOR_METRICS_ALLOWED_IPS"):
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _token_ok(request) -> bool:
    expected = conf.get("ARBOR_METRICS_TOKEN")
    if not expected:
        return bool(settings.DEBUG) or _address_allowed(request)
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
        if not conf.get("ARBOR_METRICS_TOKEN"):
            return JsonResponse({"error": {"code": "forbidden", "message": MSG_ADDRESS}}, status=403)
        response = JsonResponse({"error": {"code": "unauthorized", "message": MSG_TOKEN}}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
