"""The websocket Origin rule (docs/live.md): a browser's cookie only opens a socket from our own pages.

Browsers attach the session cookie to a websocket handshake from any page, so a cross-site page
could read a signed-in user's trees (cross-site websocket hijacking). The handshake's ``Origin``
decides, compared on **scheme, host and port** (80/443 implied by the scheme) with:

- the server's own origin: the ``Host`` header (which must pass ``ALLOWED_HOSTS``) with the
  connection's scheme (``wss`` -> ``https``; behind a TLS proxy, ``SECURE_PROXY_SSL_HEADER``);
- each of ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.com`` allows its subdomains, as in Django).

Channels' ``AllowedHostsOriginValidator`` compared host names only: ``http://127.0.0.1:1`` or
``https://localhost:8443`` passed for a server at ``http://localhost:8000``.

Origin matters for cookie sessions only. A connection that presents an API token (header or
subprotocol, see ``auth.websocket``) proves itself with a secret a foreign page does not have, so it
is accepted with any Origin or none (programs usually send none). Without a token, a missing or
foreign Origin is refused before the handshake completes (HTTP 403).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from tasks_app.auth.websocket import bearer_token

DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope, name: bytes) -> list[str]:
    return [value.decode("latin1") for key, value in scope.get("headers") or () if key.lower() == name]


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """``"https://Example.com"`` -> ``("https", "example.com", 443)``; None unless it is exactly
    ``scheme://host[:port]`` with an http(s) scheme."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
    ):
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower().strip("[]"), port if port is not None else DEFAULT_PORTS[scheme]


def _secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name, expected = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        values = _header(scope, header)
        return bool(values) and values[0].split(",")[0].strip() == expected
    return False


def own_origin(scope) -> tuple[str, str, int] | None:
    """The origin of the server the client reached (its ``Host`` header), if that host is allowed."""
    hosts = _header(scope, b"host")
    if len(hosts) != 1:
        return None
    domain, port = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if _secure(scope) else "http"
    try:
        number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, domain.strip("[]"), number


def _trusted(origin: tuple[str, str, int]) -> bool:
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and host.endswith("." + trusted[1])):
            return True
    return False


def origin_allowed(scope) -> bool:
    """The rule above, for one websocket handshake scope."""
    if bearer_token(scope) is not None:
        return True  # a token (valid or not: an invalid one is anonymous and closed with 4401)
    values = _header(scope, b"origin")
    if len(values) != 1:
        return False
    origin = parse_origin(values[0])
    if origin is None:
        return False
    return origin == own_origin(scope) or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware for the websocket router: refuses a handshake ``origin_allowed`` rejects."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
