"""Websocket authentication: the session cookie (browsers) or a bearer token (programs).

A program sends its API token either as a header, ``Authorization: Bearer arb_...``, or, where
its websocket library cannot set headers, as a subprotocol: ``Sec-WebSocket-Protocol: arbor.v1,
arbor.bearer.arb_...`` (the server then answers with ``arbor.v1``). A token in the URL is never
read: URLs end up in logs. A token that is present but invalid makes the connection anonymous
(closed with 4401), even if a session cookie is also sent.

The scope gets ``auth``: ``"session"`` or ``"token"``, and ``auth_token`` for the periodic
re-check of long-lived connections.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

SUBPROTOCOL = "arbor.v1"
TOKEN_SUBPROTOCOL_PREFIX = "arbor.bearer."


def bearer_token(scope) -> str | None:
    """The token a program sent (header first, then subprotocol), or None."""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            parts = value.decode("latin1").split()
            if len(parts) == 2 and parts[0].lower() in {"bearer", "token"}:
                return parts[1]
            return ""  # present but malformed: never fall back to the session
    for proto in scope.get("subprotocols") or ():
        if proto.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return proto[len(TOKEN_SUBPROTOCOL_PREFIX) :]
    return None


@database_sync_to_async
def _check_token(raw: str, scope):
    from tasks_app.services.tokens import token_check

    return token_check(raw, request=scope, source="ws")


class TokenAuthMiddleware:
    """Runs after channels' session ``AuthMiddleware``; a bearer token, if sent, decides alone."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        raw = bearer_token(scope)
        if raw is None:
            user = scope.get("user")
            scope["auth"] = "session" if user is not None and user.is_authenticated else None
        else:
            checked = await _check_token(raw, scope)
            user = checked.user
            scope["user"] = user if user is not None else AnonymousUser()
            scope["auth_error"] = checked.message if user is None else None  # the close reason
            scope["auth"] = "token" if user is not None else None
            scope["auth_token"] = raw if user is not None else None
        return await self.inner(scope, receive, send)


def TokenAuthMiddlewareStack(inner):
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
