"""Item 10: headers and defaults. A Content-Security-Policy without inline script, API tokens with
an expiry, /metrics and /readyz's detail closed in production, a weak SECRET_KEY refused at start,
password reset only with a mail server, ``system_info`` for staff only."""

import asyncio
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tasks_app.models import ApiToken
from tests.api.conftest import client_for, token_for

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


# --- Content-Security-Policy ------------------------------------------------------------------


def _csp(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/", "/trees/new/", "/accounts/login/", "/api/docs/", "/admin/"])
def test_pages_carry_a_csp_without_inline_script(path, staff_user):
    client = Client()
    if path != "/accounts/login/":
        client.force_login(staff_user)
    response = client.get(path)
    assert response.status_code == 200
    policy = _csp(response)
    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["base-uri"] == "base-uri 'self'"
    assert policy["form-action"] == "form-action 'self'"


def test_templates_have_no_inline_script_or_event_handler():
    import re

    executable = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=", re.I)
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        assert not executable.search(text), f"inline <script> in {path}"
        assert not handler.search(text), f"inline event handler in {path}"


def test_swagger_ui_is_served_without_inline_script(staff_user):
    client = Client()
    client.force_login(staff_user)
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "<script nonce" not in page
    assert "/api/docs/" in page  # the split view's initialiser is a script file of its own


# --- API tokens: expiry -----------------------------------------------------------------------


def _session(user):
    client = Client()
    client.force_login(user)
    return client


NOW = datetime(2027, 5, 4, 12, 0, tzinfo=UTC)  # token lifetimes are asserted on a fixed clock


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_new_tokens_get_the_default_lifetime(user, settings, clock):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 90
    body = _session(user).post("/api/v1/tokens/", {"name": "ci"}, content_type="application/json").json()
    expires = ApiToken.objects.get(pk=body["id"]).expires_at
    assert expires == NOW + timedelta(days=90)
    assert body["expires_at"]


def test_a_token_with_an_explicit_lifetime_or_expiry(user, clock):
    client = _session(user)
    body = client.post(
        "/api/v1/tokens/", {"name": "short", "expires_in_days": 7}, content_type="application/json"
    ).json()
    expires = ApiToken.objects.get(pk=body["id"]).expires_at
    assert expires == NOW + timedelta(days=7)
    at = NOW + timedelta(days=3)
    body = client.post(
        "/api/v1/tokens/", {"name": "exact", "expires_at": at.isoformat()}, content_type="application/json"
    ).json()
    assert ApiToken.objects.get(pk=body["id"]).expires_at == at
    past = (NOW - timedelta(seconds=1)).isoformat()
    response = client.post(
        "/api/v1/tokens/", {"name": "past", "expires_at": past}, content_type="application/json"
    )
    assert response.status_code == 400
    response = client.post(
        "/api/v1/tokens/", {"name": "zero", "expires_in_days": 0}, content_type="application/json"
    )
    assert response.status_code == 400


def test_default_lifetime_zero_means_no_expiry(user, settings):
    settings.ARBOR_TOKEN_DEFAULT_DAYS = 0
    body = _session(user).post("/api/v1/tokens/", {"name": "forever"}, content_type="application/json").json()
    assert ApiToken.objects.get(pk=body["id"]).expires_at is None


def test_arbor_token_days(user, clock):
    call_command(
        "arbor_token", "alice", "--name", "week", "--days", "7", stdout=StringIO(), stderr=StringIO()
    )
    expires = ApiToken.objects.get(name="week").expires_at
    assert expires == NOW + timedelta(days=7)
    call_command(
        "arbor_token", "alice", "--name", "forever", "--days", "0", stdout=StringIO(), stderr=StringIO()
    )
    assert ApiToken.objects.get(name="forever").expires_at is None
    call_command("arbor_token", "alice", "--name", "default", stdout=StringIO(), stderr=StringIO())
    assert ApiToken.objects.get(name="default").expires_at is not None


def test_admin_token_gets_the_default_lifetime_when_blank(user, staff_user):
    response = _session(staff_user).post("/admin/tasks_app/apitoken/add/", {"user": user.pk, "name": "adm"})
    assert response.status_code == 200
    assert ApiToken.objects.get(name="adm").expires_at is not None


def _expire_all():
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def test_an_expired_token_answers_401_saying_it_expired_rest(user):
    api = client_for(user)
    assert api.get("/api/v1/trees/").status_code == 200
    _expire_all()
    response = api.get("/api/v1/trees/")
    assert response.status_code == 401
    assert "token expired" in response.json()["error"]["message"]


def test_an_expired_token_answers_401_saying_it_expired_rpc(user):
    api = client_for(user)
    _expire_all()
    response = api.post("/tasks", {"jsonrpc": "2.0", "id": 1, "method": "tasks.list"}, format="json")
    assert response.status_code == 401
    assert "token expired" in response.json()["error"]["message"]


def test_an_expired_token_closes_the_websocket_saying_it_expired(user):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from orchestrator_site.asgi import application

    raw = token_for(user)
    _expire_all()

    async def connect():
        communicator = WebsocketCommunicator(
            application,
            "/ws/dashboard/",
            headers=[
                (b"authorization", f"Bearer {raw}".encode()),
                (b"origin", b"http://testserver"),
                (b"host", b"testserver"),
            ],
        )
        connected, _ = await communicator.connect()
        closed = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        # the token was read on asgiref's thread for sync code: close that thread's connection
        # (else its session outlives the test and PostgreSQL's test database cannot be dropped)
        await database_sync_to_async(connections.close_all)()
        return connected, closed

    _, closed = asyncio.run(connect())
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4401
    assert "expired" in closed.get("reason", "")


# --- /metrics and /readyz in production ---------------------------------------------------------


def test_metrics_from_an_outside_address_is_refused_in_production(settings):
    settings.DEBUG = False
    settings.ARBOR_METRICS_TOKEN = ""
    outside = Client(REMOTE_ADDR="203.0.113.50")
    assert outside.get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    settings.ARBOR_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


def test_metrics_needs_the_token_when_one_is_set(settings):
    settings.DEBUG = False
    settings.ARBOR_METRICS_TOKEN = "s3cret-metrics-token"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 401
    assert (
        Client(REMOTE_ADDR="203.0.113.50")
        .get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
        .status_code
        == 200
    )


def test_readyz_gives_only_its_status_to_an_outside_address_in_production(settings):
    settings.DEBUG = False
    settings.ARBOR_METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR="203.0.113.50").get("/readyz?scope=web")
    assert response.status_code == 200
    assert set(response.json()) == {"status", "scope"}
    inside = Client(REMOTE_ADDR="127.0.0.1").get("/readyz?scope=web").json()
    assert "checks" in inside


# --- SECRET_KEY -------------------------------------------------------------------------------


def _import_settings(env_overrides):
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "orchestrator_site.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "-c", "import orchestrator_site.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("key", ["short", "x" * 64, "abcd" * 20])
def test_a_weak_secret_key_is_refused_at_start_in_production(key):
    result = _import_settings({"DEBUG": "0", "SECRET_KEY": key})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_a_strong_secret_key_starts_and_debug_allows_a_short_one():
    assert _import_settings({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}).returncode == 0
    assert _import_settings({"DEBUG": "1", "SECRET_KEY": "short"}).returncode == 0


# --- password reset -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_password_reset_is_404_without_a_mail_server(path, settings):
    settings.ARBOR_PASSWORD_RESET = False
    assert Client().get(path).status_code == 404


def test_the_login_page_offers_reset_only_with_mail(settings):
    settings.ARBOR_PASSWORD_RESET = False
    assert b"password_reset" not in Client().get("/accounts/login/").content
    settings.ARBOR_PASSWORD_RESET = True
    assert b"/accounts/password_reset/" in Client().get("/accounts/login/").content
    assert Client().get("/accounts/password_reset/").status_code == 200


def test_reset_is_off_by_default_without_email_host():
    result = subprocess.run(
        [sys.executable, "-c", "import orchestrator_site.settings as s; print(s.ARBOR_PASSWORD_RESET)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in {"EMAIL_HOST", "ARBOR_PASSWORD_RESET"}},
    )
    assert result.stdout.strip() == "False"


# --- system_info ------------------------------------------------------------------------------


def test_system_info_is_refused_for_a_plain_user(api):
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tasks.create",
        "params": [{"name": "x", "schemas": {"method": "system_info_executor"}}],
    }
    response = api.post("/tasks", call, format="json")
    assert "error" in response.json() and "system_info" in response.json()["error"]["message"]
    rest = api.post("/api/v1/trees/", [{"id": "r", "name": "r", "executor": "system_info"}], format="json")
    assert rest.status_code == 400


def test_system_info_is_not_in_a_plain_users_catalogue(api, staff_api):
    assert "system_info" not in {e["id"] for e in api.get("/api/v1/executors/").json()}
    assert "system_info" in {e["id"] for e in staff_api.get("/api/v1/executors/").json()}


def test_system_info_cannot_be_edited_into_a_task(api, make_tree):
    _, by_name = make_tree()
    response = api.patch(f"/api/v1/tasks/{by_name['a']['id']}/", {"executor": "system_info"}, format="json")
    assert response.status_code == 400


def test_a_setting_opens_system_info_to_everyone(api, settings):
    settings.ARBOR_SYSTEM_INFO_FOR_ALL = True
    assert "system_info" in {e["id"] for e in api.get("/api/v1/executors/").json()}
    rest = api.post("/api/v1/trees/", [{"id": "r", "name": "r", "executor": "system_info"}], format="json")
    assert rest.status_code == 201


def test_anonymous_catalogue_is_refused():
    assert APIClient().get("/api/v1/executors/").status_code in (401, 403)
