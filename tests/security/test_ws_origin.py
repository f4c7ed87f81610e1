"""Item 9: the websocket Origin check compares scheme, host and port, and binds cookie sessions only.

Before the fix (Channels' ``AllowedHostsOriginValidator``: host names only), a signed-in user's
session cookie with ``Origin: http://127.0.0.1:1`` or ``https://localhost:8443`` opened
``/ws/trees/<id>/`` of a server at ``http://localhost:8000`` and got the snapshot. The application
under test is the real ASGI one (``orchestrator_site.asgi``), with the handshake's Host header.
"""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from .conftest import t

pytestmark = pytest.mark.django_db(transaction=True)


def asgi_app():
    from orchestrator_site.asgi import application

    return application


async def attempt(path, *, host, origin=None, cookie=None, token=None, subprotocol_token=None, scheme="ws"):
    """Open a socket through the real ASGI application: ``(connected, first frame or close code)``."""
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    subprotocols = ["arbor.v1", f"arbor.bearer.{subprotocol_token}"] if subprotocol_token else None
    comm = WebsocketCommunicator(asgi_app(), path, headers=headers, subprotocols=subprotocols)
    comm.scope["scheme"] = scheme
    connected, code = await comm.connect()
    if not connected:
        return False, code
    out = await comm.receive_output(timeout=15)
    if out["type"] == "websocket.close":  # accepted, then closed (e.g. 4401 for a bad token)
        return False, out.get("code")
    await comm.disconnect()
    return True, json.loads(out["text"])


@pytest.fixture
def setup(tm, user):
    from tests.live.utils import make_token, session_cookie

    tree = tm.create_tree([t("root")])
    return f"/ws/trees/{tree.id}/", session_cookie(user), make_token(user)


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:1",  # the attack: same host name, another port (any local service)
        "https://localhost:8443",  # same host name, another scheme and port
        "https://localhost:8000",  # right port, wrong scheme
        "http://localhost",  # port 80 implied
        "http://localhost:8000.evil.example",
        "http://evil.example",
        "null",  # sandboxed iframes, file:// pages
        "http://localhost:8000/path",  # not an origin
    ],
)
def test_a_session_cookie_from_a_foreign_origin_is_refused(setup, origin):
    from tests.live.utils import run

    path, cookie, _ = setup
    connected, _ = run(attempt, path, host="localhost:8000", origin=origin, cookie=cookie)
    assert connected is False, origin


def test_a_session_cookie_without_an_origin_is_refused(setup):
    from tests.live.utils import run

    path, cookie, _ = setup
    connected, _ = run(attempt, path, host="localhost:8000", cookie=cookie)
    assert connected is False


@pytest.mark.parametrize(
    ("host", "origin", "scheme"),
    [
        ("localhost:8000", "http://localhost:8000", "ws"),
        ("LOCALHOST:8000", "http://localhost:8000", "ws"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000", "ws"),
        ("arbor.example", "https://arbor.example", "wss"),  # 443 implied on both sides
        ("arbor.example", "https://arbor.example:443", "wss"),
        ("[::1]:8000", "http://[::1]:8000", "ws"),
    ],
)
def test_a_session_cookie_from_the_servers_own_origin_gets_the_snapshot(setup, host, origin, scheme):
    from tests.live.utils import run

    path, cookie, _ = setup
    connected, frame = run(attempt, path, host=host, origin=origin, cookie=cookie, scheme=scheme)
    assert connected is True, (host, origin)
    assert frame["type"] == "snapshot"


def test_the_proxy_ssl_header_makes_the_own_origin_https(setup):
    from tests.live.utils import run

    path, cookie, _ = setup

    async def body():
        from tests.live.utils import receive

        headers = [
            (b"host", b"arbor.example"),
            (b"origin", b"https://arbor.example"),
            (b"cookie", f"sessionid={cookie}".encode()),
            (b"x-forwarded-proto", b"https"),
        ]
        comm = WebsocketCommunicator(asgi_app(), path, headers=headers)
        connected, _ = await comm.connect()
        assert connected
        assert (await receive(comm))["type"] == "snapshot"
        await comm.disconnect()

    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        run(body)
    # without the setting the header is not trusted: the own origin stays http
    connected, _ = run(attempt, path, host="arbor.example", origin="https://arbor.example", cookie=cookie)
    assert connected is False


def test_csrf_trusted_origins_are_matched_on_scheme_host_and_port(setup):
    from tests.live.utils import run

    path, cookie, _ = setup
    trusted = ["https://arbor.example", "https://*.corp.example:8443"]
    cases = [
        ("https://arbor.example", True),
        ("https://arbor.example:443", True),
        ("http://arbor.example", False),
        ("https://arbor.example:8443", False),
        ("https://ui.corp.example:8443", True),
        ("https://corp.example:8443", True),
        ("https://ui.corp.example", False),
        ("https://evilcorp.example:8443", False),
    ]
    with override_settings(CSRF_TRUSTED_ORIGINS=trusted):
        for origin, ok in cases:
            connected, _ = run(attempt, path, host="10.0.0.5:8000", origin=origin, cookie=cookie)
            assert connected is ok, origin


def test_a_host_outside_allowed_hosts_gives_no_own_origin(setup):
    from tests.live.utils import run

    path, cookie, _ = setup
    with override_settings(ALLOWED_HOSTS=["arbor.example"]):
        # DNS rebinding: the page's origin and Host agree, but the host is not ours
        connected, _ = run(attempt, path, host="evil.example", origin="http://evil.example", cookie=cookie)
        assert connected is False
        connected, _ = run(attempt, path, host="arbor.example", origin="http://arbor.example", cookie=cookie)
        assert connected is True


def test_a_token_needs_no_origin(setup):
    """Programs authenticate with a token, which a foreign page does not have: Origin is not checked."""
    from tests.live.utils import run

    path, _, token = setup
    for kwargs in (
        {"token": token},
        {"subprotocol_token": token},
        {"token": token, "origin": "http://127.0.0.1:1"},
    ):
        connected, frame = run(attempt, path, host="localhost:8000", **kwargs)
        assert connected is True, kwargs
        assert frame["type"] == "snapshot"


def test_a_bad_token_with_a_session_cookie_is_not_a_way_around_the_origin_check(setup):
    """A foreign page can choose subprotocols; a junk token must not fall back to the cookie."""
    from tests.live.utils import run

    path, cookie, _ = setup
    connected, code = run(
        attempt,
        path,
        host="localhost:8000",
        origin="http://127.0.0.1:1",
        cookie=cookie,
        subprotocol_token="arb_junk",
    )
    assert connected is False and code == 4401
