"""Session auth (CSRF enforced on writes) and Bearer tokens; the token endpoint."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tasks_app.models import ApiToken, Tree

from .conftest import t, token_for

pytestmark = pytest.mark.django_db

TREE = [t("root")]


def session_client(user, *, csrf: bool) -> APIClient:
    client = APIClient(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def csrf_token(client) -> str:
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return token


def test_anonymous_requests_are_refused_with_a_bearer_challenge():
    resp = APIClient().get("/api/v1/trees/")
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"] == 'Bearer realm="arbor"'
    assert resp.json()["error"]["code"] == "not_authenticated"


def test_session_write_without_csrf_token_is_forbidden(user):
    client = session_client(user, csrf=True)
    assert client.get("/api/v1/trees/").status_code == 200  # reads need no token
    resp = client.post("/api/v1/trees/", TREE, format="json")
    assert resp.status_code == 403
    assert "CSRF" in resp.json()["error"]["message"]
    assert not Tree.objects.exists()


def test_session_write_with_csrf_token_is_accepted(user):
    client = session_client(user, csrf=True)
    token = csrf_token(client)
    resp = client.post("/api/v1/trees/", TREE, format="json", HTTP_X_CSRFTOKEN=token)
    assert resp.status_code == 201


def test_bearer_token_writes_need_no_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    assert client.post("/api/v1/trees/", TREE, format="json").status_code == 201
    assert Tree.objects.get().owner == user


@pytest.mark.parametrize("header", ["Bearer arb_wrong", "Bearer", "Bearer a b"])
def test_bad_tokens_are_refused(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    resp = client.get("/api/v1/trees/")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("change", [{"revoked": True}, {"expires_at": timezone.now() - timedelta(seconds=1)}])
def test_revoked_and_expired_tokens_are_refused(user, change):
    raw = token_for(user)
    ApiToken.objects.filter(digest=ApiToken.hash(raw)).update(**change)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/trees/").status_code == 401


def test_token_of_an_inactive_user_is_refused(user):
    raw = token_for(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/trees/").status_code == 401


def test_token_endpoint_creates_from_a_session_only_and_revokes(user, other_user, api):
    client = session_client(user, csrf=True)
    csrf = csrf_token(client)
    created = client.post("/api/v1/tokens/", {"name": "ci"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("arb_") and ApiToken.objects.filter(digest=ApiToken.hash(raw), name="ci").exists()
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert "ci" in [x["name"] for x in listed] and all("token" not in x for x in listed)
    # a token cannot mint or revoke tokens
    refused = api.post("/api/v1/tokens/", {"name": "more"}, format="json")
    assert refused.status_code == 403
    token_id = created.json()["id"]
    assert api.delete(f"/api/v1/tokens/{token_id}/").status_code == 403
    # nobody else's tokens are visible or revocable
    other = session_client(other_user, csrf=False)
    assert other.get("/api/v1/tokens/").json()["results"] == []
    assert other.delete(f"/api/v1/tokens/{token_id}/").status_code == 404
    assert client.delete(f"/api/v1/tokens/{token_id}/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert token_client.get("/api/v1/trees/").status_code == 401


def test_arbor_token_command_prints_a_working_token(user):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("arbor_token", "alice", stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    assert client.get("/api/v1/trees/").status_code == 200
