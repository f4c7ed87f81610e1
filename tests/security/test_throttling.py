"""Item 6: DRF throttles for users and anonymous clients (REST and JSON-RPC): past the rate, 429
with ``Retry-After`` in Arbor's error shape. The test settings keep rates no other test reaches;
these tests lower them and start from an empty cache."""

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db

RATE = 5


@pytest.fixture
def low_rates(settings):
    rest = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": f"{RATE}/min", "anon": f"{RATE}/min"},
    }
    cache.clear()
    with override_settings(REST_FRAMEWORK=rest):
        yield
    cache.clear()


def _statuses(send, n):
    return [send().status_code for _ in range(n)]


def _assert_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_a_user_past_the_rate_gets_429_with_retry_after(low_rates, user):
    api = client_for(user)
    assert _statuses(lambda: api.get("/api/v1/trees/"), RATE) == [200] * RATE
    response = api.get("/api/v1/trees/")
    _assert_throttled(response)
    body = response.json()
    assert body["error"]["code"] == "throttled"
    assert "throttled" in body["error"]["message"].lower()


def test_the_user_rate_is_per_user(low_rates, user, other_user):
    api = client_for(user)
    _statuses(lambda: api.get("/api/v1/trees/"), RATE + 1)
    assert client_for(other_user).get("/api/v1/trees/").status_code == 200


def test_the_user_rate_counts_across_tokens_of_the_same_user(low_rates, user):
    for _ in range(RATE):
        assert client_for(user).get("/api/v1/trees/").status_code == 200
    _assert_throttled(client_for(user).get("/api/v1/trees/"))


def test_anonymous_clients_past_the_rate_get_429(low_rates):
    anon = APIClient()
    assert set(_statuses(lambda: anon.get("/api/v1/trees/"), RATE)) <= {401, 403}
    _assert_throttled(anon.get("/api/v1/trees/"))


def test_guessed_tokens_are_throttled_as_anonymous(low_rates):
    def guess():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer arb_guess")
        return client.get("/api/v1/trees/")

    assert _statuses(guess, RATE) == [401] * RATE
    _assert_throttled(guess())


def test_x_forwarded_for_does_not_escape_the_anonymous_rate(low_rates):
    for i in range(RATE):
        APIClient().get("/api/v1/trees/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    _assert_throttled(APIClient().get("/api/v1/trees/", HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_json_rpc_is_throttled_in_its_own_error_shape(low_rates, user):
    api = client_for(user)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tasks.list"}
    assert _statuses(lambda: api.post("/tasks", call, format="json"), RATE) == [200] * RATE
    response = api.post("/tasks", call, format="json")
    _assert_throttled(response)
    assert response.json()["error"]["data"]["type"] == "throttled"


def test_anonymous_json_rpc_is_throttled(low_rates):
    anon = APIClient()
    call = {"jsonrpc": "2.0", "id": 1, "method": "tasks.list"}
    assert set(_statuses(lambda: anon.post("/tasks", call, format="json"), RATE)) == {401}
    _assert_throttled(anon.post("/tasks", call, format="json"))


def test_the_test_settings_rates_do_not_throttle_ordinary_tests(user):
    cache.clear()
    api = client_for(user)
    assert set(_statuses(lambda: api.get("/api/v1/trees/"), 60)) == {200}
