"""GET /api/v1/trees/{id}/runs/, runs/{number}/ and runs/{number}/attempts/ (docs/api.md "Runs")."""

import pytest

from tests.api.conftest import t

pytestmark = pytest.mark.django_db


def _fail_then_retry(api, make_tree, drain):
    tree, _ = make_tree(
        [t("root", dependencies=["flaky"]), t("flaky", "fail", parent_id="root", max_retries=0)], execute=True
    )
    drain()
    assert api.post(f"/api/v1/trees/{tree['id']}/retry/").status_code == 200
    drain()
    return tree


def test_runs_list_newest_first_with_outcome_and_who(api, make_tree, drain, user):
    tree = _fail_then_retry(api, make_tree, drain)
    body = api.get(f"/api/v1/trees/{tree['id']}/runs/").json()
    assert body["count"] == 2
    two, one = body["results"]
    assert (two["number"], two["trigger"], two["status"], two["started_by"]) == (
        2,
        "retry",
        "failed",
        user.username,
    )
    assert (one["number"], one["trigger"], one["status"], one["source"]) == (1, "execute", "failed", "api")
    assert set(one) == {
        "number",
        "tree",
        "trigger",
        "source",
        "started_by",
        "target_task",
        "status",
        "handled_failures",
        "scope",
        "started_at",
        "finished_at",
        "duration",
        "counts",
    }
    assert one["duration"] >= 0 and one["counts"]["attempts"] == 1
    assert api.get(f"/api/v1/trees/{tree['id']}/runs/?limit=1").json()["results"][0]["number"] == 2


def test_one_run_and_its_attempts(api, make_tree, drain):
    tree = _fail_then_retry(api, make_tree, drain)
    one = api.get(f"/api/v1/trees/{tree['id']}/runs/1/").json()
    assert one["number"] == 1 and one["status"] == "failed"
    attempts = api.get(f"/api/v1/trees/{tree['id']}/runs/2/attempts/").json()
    assert [(a["task_name"], a["run"], a["number"]) for a in attempts["results"]] == [("flaky", 2, 2)]
    # the tree's attempt list filters by run too, and tags each attempt with its run
    every = api.get(f"/api/v1/trees/{tree['id']}/attempts/").json()["results"]
    assert sorted(a["run"] for a in every) == [1, 2]
    only = api.get(f"/api/v1/trees/{tree['id']}/attempts/?run=1").json()["results"]
    assert [a["run"] for a in only] == [1]


def test_unknown_run_and_foreign_tree_are_404(api, other_api, make_tree, drain):
    tree = _fail_then_retry(api, make_tree, drain)
    assert api.get(f"/api/v1/trees/{tree['id']}/runs/9/").status_code == 404
    assert api.get(f"/api/v1/trees/{tree['id']}/runs/9/attempts/").status_code == 404
    assert api.get(f"/api/v1/trees/{tree['id']}/attempts/?run=9").status_code == 404
    for path in ("runs/", "runs/1/", "runs/1/attempts/"):
        assert other_api.get(f"/api/v1/trees/{tree['id']}/{path}").status_code == 404


def test_tree_representation_has_handled_failures(api, make_tree, drain):
    tree, _ = make_tree(
        [
            t("root", "noop", dependencies=["final"]),
            t("primary", "fail", parent_id="root", max_retries=0),
            t("fallback", "echo", parent_id="root", dependencies=[{"id": "primary", "required": False}]),
            t(
                "final",
                "noop",
                parent_id="root",
                dependencies=[{"id": "primary", "required": False}, "fallback"],
            ),
        ],
        execute=True,
    )
    drain()
    body = api.get(f"/api/v1/trees/{tree['id']}/").json()
    assert (body["status"], body["handled_failures"]) == ("completed", 1)
    listed = api.get("/api/v1/trees/").json()["results"][0]
    assert listed["handled_failures"] == 1
    run = api.get(f"/api/v1/trees/{tree['id']}/runs/1/").json()
    assert (run["status"], run["handled_failures"]) == ("completed", 1)


def test_runs_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/trees/{id}/runs/" in paths
    assert "/api/v1/trees/{id}/runs/{number}/" in paths
    assert "/api/v1/trees/{id}/runs/{number}/attempts/" in paths


def test_rpc_tasks_runs_lists_the_runs_of_the_tree(api, other_api, make_tree, drain):
    tree = _fail_then_retry(api, make_tree, drain)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks.runs", "params": {"task_id": tree["id"]}}
    result = api.post("/tasks", body, format="json").json()["result"]
    assert [(r["number"], r["trigger"], r["status"]) for r in result] == [
        (2, "retry", "failed"),
        (1, "execute", "failed"),
    ]
    foreign = other_api.post("/tasks", body, format="json").json()
    assert "error" in foreign
