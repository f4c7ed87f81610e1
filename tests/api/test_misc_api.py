"""/api/v1/executors/, /api/v1/stats/, /api/v1/validate/, and the task representation."""

import pytest

from tasks_app.api import serializers
from tasks_app.models import Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db


def test_executors_lists_the_registry(api):
    body = api.get("/api/v1/executors/").json()
    ids = [e["id"] for e in body]
    assert {"noop", "echo", "fail", "aggregate_results"} <= set(ids)
    assert set(body[0]) == {
        "id",
        "name",
        "description",
        "input_schema",
        "cancelable",
        "permission",
        "allowed",
    }


def test_stats_for_everything_and_for_one_tree(api, make_tree, drain):
    one, _ = make_tree([t("root"), t("bad", "fail", parent_id="root")], execute=True)
    make_tree([t("idle")])
    drain()
    everything = api.get("/api/v1/stats/").json()
    assert everything["total"] == 3
    assert everything["counts"]["pending"] == 1
    assert everything["attempts"]["by_outcome"] == {"completed": 1, "failed": 1}
    tree = api.get(f"/api/v1/stats/?tree={one['id']}").json()
    assert tree["total"] == 2 and tree["counts"] == {
        "pending": 0,
        "in_progress": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert tree["finished"] == 2 and tree["slowest"]
    assert api.get("/api/v1/stats/?tree=not-a-uuid").status_code == 404


def test_validate_answers_the_order_without_creating_anything(api):
    tasks = [
        t("root", dependencies=["b"]),
        t("b", parent_id="root", dependencies=["a"]),
        t("a", parent_id="root"),
    ]
    resp = api.post("/api/v1/validate/", tasks, format="json")
    assert resp.status_code == 200
    assert resp.json() == {"valid": True, "order": ["a", "b", "root"], "names": ["a", "b", "root"]}
    assert api.post("/api/v1/validate/", {"tasks": tasks}, format="json").json()["valid"] is True
    assert not Tree.objects.exists()


@pytest.mark.parametrize(
    ("tasks", "code", "fragment"),
    [
        ([t("root", dependencies=["x"])], "invalid_reference", "task 'root' depends on unknown task 'x'"),
        ([t("root", dependencies=["root"])], "circular_dependency", "task 'root' depends on itself"),
        ([t("root", "???")], "executor_not_found", "unknown executor"),
        ("nope", "tree_validation", "non-empty array"),
    ],
)
def test_validate_answers_400_with_the_error_shape(api, tasks, code, fragment):
    resp = api.post("/api/v1/validate/", tasks, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == code
    assert fragment in resp.json()["error"]["message"]


def test_render_tasks_matches_the_declared_schema(api, make_tree, drain):
    """The fast renderer and TaskSerializer (the OpenAPI declaration) agree on fields and values."""
    _, tasks = make_tree(
        [t("root"), t("a", "echo", parent_id="root", inputs={"result": {"k": 1}})], execute=True
    )
    drain()
    task = Task.objects.get(id=tasks["a"]["id"])
    rendered = serializers.render_task(task)
    assert list(rendered) == list(serializers.TaskSerializer().fields)
    assert rendered["id"] == str(task.id) and rendered["tree"] == str(task.tree_id)
    assert rendered["parent"] == str(task.parent_id) and rendered["original_task"] is None
    for field in ("created_at", "updated_at", "started_at", "completed_at"):
        assert rendered[field] == serializers.iso(getattr(task, field)), field
    assert rendered["result"] == {"k": 1} and rendered["status"] == "completed"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22 05:48:05.713980", "2026-11-22T05:48:05.713980Z"),  # SQLite
        ("2026-11-22 05:48:05", "2026-11-22T05:48:05Z"),
        ("2026-11-22 05:48:05.71398+00", "2026-11-22T05:48:05.713980Z"),  # PostgreSQL drops trailing zeros
        ("2026-11-22 05:48:05+00", "2026-11-22T05:48:05Z"),
        (None, None),
    ],
)
def test_timestamps_read_as_text_render_like_drf(raw, expected):
    assert serializers.datetime_text(raw) == expected


def test_uuids_read_as_text_render_canonically():
    canonical = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert serializers.uuid_text(canonical.replace("-", "")) == canonical
    assert serializers.uuid_text(canonical) == canonical
    assert serializers.uuid_text(None) is None


def test_the_browsable_api_renders_for_a_signed_in_user(user, make_tree, client):
    tree, tasks = make_tree()
    client.force_login(user)
    for url in (
        "/api/v1/",
        "/api/v1/trees/",
        f"/api/v1/trees/{tree['id']}/",
        f"/api/v1/tasks/{tasks['a']['id']}/",
        f"/api/v1/trees/{tree['id']}/events/",
        "/api/v1/tokens/",
        "/api/v1/stats/",
        "/api/v1/executors/",
    ):
        resp = client.get(url, HTTP_ACCEPT="text/html")
        assert resp.status_code == 200, url
        assert resp["Content-Type"].startswith("text/html")
    assert client.get("/api/v1/tasks/not-a-uuid/", HTTP_ACCEPT="text/html").status_code == 404


def test_list_and_detail_endpoints_use_a_constant_number_of_queries(
    api, make_tree, django_assert_max_num_queries
):
    big, _ = make_tree(
        [t("root")]
        + [t(f"c{i}", parent_id="root", dependencies=[f"c{i - 1}"] if i else []) for i in range(60)]
    )
    for _ in range(3):
        make_tree([t("small")])
    for url in ("/api/v1/tasks/?limit=50", "/api/v1/trees/", f"/api/v1/trees/{big['id']}/"):
        with django_assert_max_num_queries(8):
            assert api.get(url).status_code == 200
