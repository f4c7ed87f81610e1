"""Token authentication for programs: ``Authorization: Bearer arb_...`` (hashed at rest)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from tasks_app.services.tokens import token_check


def user_for_token(raw: str, *, request=None, source: str = ""):
    """The active user of a valid (not revoked, not expired) token, or None."""
    return token_check(raw, request=request, source=source).user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("invalid Authorization header: expected 'Bearer <token>'")
        source = "rpc" if request.path.rstrip("/") == "/tasks" else "api"
        checked = token_check(header[1].decode(errors="replace"), request=request, source=source)
        if checked.user is None:
            raise exceptions.AuthenticationFailed(checked.message, code=f"token_{checked.reason}")
        return checked.user, None

    def authenticate_header(self, request):
        return 'Bearer realm="arbor"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the Bearer token scheme in the OpenAPI schema (drf-spectacular)."""

    target_class = "tasks_app.auth.bearer.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "An API token: `manage.py arbor_token USER` prints one (sent as `Bearer arb_...`)."
            ),
        }
