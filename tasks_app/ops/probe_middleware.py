"""Serve the probes before any other middleware.

Load balancers and orchestrators probe a backend by its address, over plain HTTP: through the
normal stack such a probe would get a 400 (its Host is not in ALLOWED_HOSTS) or a 301 to HTTPS
(SECURE_SSL_REDIRECT). The probe views touch no session, cookie or host-dependent URL, so they
are answered here, first in MIDDLEWARE. ``/metrics`` keeps its token check.
"""

from __future__ import annotations

from . import views

PROBES = {"/healthz": views.healthz, "/readyz": views.readyz, "/metrics": views.metrics_view}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = PROBES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
