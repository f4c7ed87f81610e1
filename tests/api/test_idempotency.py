"""Idempotency-Key on write endpoints: replay, 422 on a different body, 409 while in flight."""

import threading

import pytest
from django.db import connection

from tasks_app.api.idempotency import body_hash
from tasks_app.models import IdempotencyRecord, Tree

from .conftest import client_for, t

TREE = [t("root"), t("a", parent_id="root")]


def post(client, url, body=None, key="k-1"):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_a_repeated_create_replays_the_first_response(api):
    first = post(api, "/api/v1/trees/", TREE)
    second = post(api, "/api/v1/trees/", TREE)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Tree.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.endpoint, record.status_code) == ("k-1", "POST /api/v1/trees/", 201)
    assert record.body_hash == body_hash(TREE)


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(api):
    post(api, "/api/v1/trees/", TREE)
    resp = post(api, "/api/v1/trees/", [t("different")])
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "idempotency_key_reused"
    assert Tree.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_user_and_per_endpoint(api, other_api, make_tree):
    post(api, "/api/v1/trees/", TREE)
    assert post(other_api, "/api/v1/trees/", TREE).status_code == 201
    assert Tree.objects.count() == 2
    tree, _ = make_tree()
    assert post(api, f"/api/v1/trees/{tree['id']}/execute/").status_code == 200  # same key, other endpoint


@pytest.mark.django_db
def test_a_repeated_action_replays_instead_of_conflicting(api, make_tree):
    tree, tasks = make_tree()
    url = f"/api/v1/trees/{tree['id']}/execute/"
    first = post(api, url, key="run-1")
    again = post(api, url, key="run-1")
    assert first.status_code == again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert api.post(url).status_code == 409  # without the key it is a second execute
    for action in ("cancel", "retry", "rerun"):
        resp = post(api, f"/api/v1/tasks/{tasks['a']['id']}/{action}/", key=f"{action}-1")
        replay = post(api, f"/api/v1/tasks/{tasks['a']['id']}/{action}/", key=f"{action}-1")
        assert replay.status_code == resp.status_code
        assert replay.json() == resp.json()


@pytest.mark.django_db
def test_a_failed_request_stores_nothing_and_may_be_retried(api, make_tree):
    tree, _ = make_tree()
    url = f"/api/v1/trees/{tree['id']}/retry/"
    resp = post(api, url, key="r")
    assert resp.status_code == 409
    assert not IdempotencyRecord.objects.filter(key="r").exists()
    assert post(api, url, key="r").status_code == 409  # re-run, not replayed


@pytest.mark.django_db
def test_a_request_in_flight_answers_409(api, user):
    IdempotencyRecord.objects.create(
        user=user, key="busy", endpoint="POST /api/v1/trees/", body_hash=body_hash(TREE)
    )
    resp = post(api, "/api/v1/trees/", TREE, key="busy")
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "idempotency_in_flight"
    assert not Tree.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there"])
def test_malformed_keys_are_refused(api, key):
    resp = post(api, "/api/v1/trees/", TREE, key=key)
    assert resp.status_code == 400
    assert not Tree.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_answers_409_while_the_first_runs(user, monkeypatch):
    from tasks_app.services import trees

    entered, release = threading.Event(), threading.Event()
    original = trees.tree_create

    def slow_create(**kwargs):
        entered.set()
        assert release.wait(10)
        return original(**kwargs)

    monkeypatch.setattr(trees, "tree_create", slow_create)
    first_client, second_client = client_for(user), client_for(user)
    results = {}

    def first():
        try:
            results["first"] = post(first_client, "/api/v1/trees/", TREE, key="race")
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert entered.wait(10)
        results["second"] = post(second_client, "/api/v1/trees/", TREE, key="race")
    finally:
        release.set()
        thread.join(20)
    assert results["second"].status_code == 409
    assert results["first"].status_code == 201
    assert Tree.objects.count() == 1
    replay = post(second_client, "/api/v1/trees/", TREE, key="race")
    assert replay.status_code == 201 and replay.json()["id"] == results["first"].json()["id"]
