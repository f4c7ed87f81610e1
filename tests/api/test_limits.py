"""Limits through the API: body size (413), tasks per tree, depth, dependencies per task, JSON
nesting, page size; every refusal names the limit."""

import json

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.test import override_settings

from tasks_app.models import Tree

from .conftest import t

pytestmark = pytest.mark.django_db


def limits(**overrides):
    return override_settings(ARBOR_LIMITS={**settings.ARBOR_LIMITS, **overrides})


def err(resp):
    return resp.json()["error"]


def test_a_body_over_the_size_limit_answers_413_naming_the_limit(api):
    body = json.dumps([t("root", inputs={"blob": "x" * 2000})])
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        resp = api.generic("POST", "/api/v1/trees/", body, content_type="application/json")
    assert resp.status_code == 413
    assert err(resp)["code"] == "limit_exceeded"
    assert err(resp)["details"]["limit"] == "max_body_bytes"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in err(resp)["message"]
    assert not Tree.objects.exists()


def test_the_size_limit_holds_without_a_content_length(settings):
    import io

    from tasks_app.input_limits import LimitedJSONParser

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(RequestDataTooBig):
        LimitedJSONParser().parse(io.BytesIO(b"[" + b"1," * 100 + b"1]"), parser_context={})


def test_a_body_under_the_size_limit_is_accepted(api):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        assert api.post("/api/v1/trees/", [t("root")], format="json").status_code == 201


def test_tasks_per_tree(api):
    with limits(max_tasks_per_tree=3):
        resp = api.post(
            "/api/v1/trees/", [t("root")] + [t(f"c{i}", parent_id="root") for i in range(3)], format="json"
        )
    assert resp.status_code == 400
    assert err(resp)["code"] == "limit_exceeded"
    assert err(resp)["details"]["limit"] == "max_tasks_per_tree"
    assert "the limit is 3" in err(resp)["message"]


def test_tree_depth(api):
    chain = [t("l0")] + [t(f"l{i}", parent_id=f"l{i - 1}") for i in range(1, 4)]
    with limits(max_tree_depth=3):
        resp = api.post("/api/v1/trees/", chain, format="json")
    assert resp.status_code == 400
    assert err(resp)["code"] == "limit_exceeded"
    assert "tree is 4 levels deep; the limit is 3" in err(resp)["message"]


def test_tree_depth_on_edit(api, make_tree):
    _, tasks = make_tree([t("l0"), t("l1", parent_id="l0"), t("l2", parent_id="l1"), t("x", parent_id="l0")])
    with limits(max_tree_depth=3):
        resp = api.patch(f"/api/v1/tasks/{tasks['x']['id']}/", {"parent_id": "l2"}, format="json")
    assert resp.status_code == 400
    assert err(resp)["details"]["limit"] == "max_tree_depth"


def test_dependencies_per_task(api, make_tree):
    tasks = [t("root")] + [t(f"c{i}", parent_id="root") for i in range(3)]
    with limits(max_dependencies_per_task=2):
        resp = api.post(
            "/api/v1/trees/",
            tasks + [t("many", parent_id="root", dependencies=["c0", "c1", "c2"])],
            format="json",
        )
        assert resp.status_code == 400
        assert "more than 2 dependencies" in err(resp)["message"]
        _, made = make_tree(tasks + [t("two", parent_id="root", dependencies=["c0", "c1"])])
        patched = api.patch(
            f"/api/v1/tasks/{made['two']['id']}/", {"dependencies": ["c0", "c1", "c2"]}, format="json"
        )
        assert patched.status_code == 400 and err(patched)["code"] == "limit_exceeded"
        added = api.post(
            f"/api/v1/tasks/{made['two']['id']}/dependencies/", {"upstream": made["c2"]["id"]}, format="json"
        )
        assert added.status_code == 400
        assert err(added)["details"]["limit"] == "max_dependencies_per_task"


def test_json_nesting_inside_task_fields(api):
    deep = current = {}
    for _ in range(6):
        current["k"] = {}
        current = current["k"]
    with limits(max_json_depth=5):
        resp = api.post("/api/v1/trees/", [t("root", inputs=deep)], format="json")
    assert resp.status_code == 400
    assert "task 'root': inputs is nested deeper than 5 levels" in err(resp)["message"]


@pytest.mark.parametrize("depth", [200, 100_000])
def test_json_nesting_of_the_whole_body_never_crashes(api, depth):
    body = "[" * depth + "]" * depth
    resp = api.generic("POST", "/api/v1/trees/", body, content_type="application/json")
    assert resp.status_code == 400
    assert err(resp)["code"] == "limit_exceeded"
    assert err(resp)["details"]["limit"] == "max_json_depth"


def test_nul_characters_are_refused(api):
    resp = api.post("/api/v1/trees/", [t("ro\x00ot")], format="json")
    assert resp.status_code == 400
    assert "NUL" in err(resp)["message"]


def test_nul_characters_in_query_parameters_do_not_crash(api):
    assert api.get("/api/v1/tasks/?search=a%00b").status_code in (200, 400)
    assert api.get("/api/v1/tasks/?executor=a%00b").status_code in (200, 400)


def test_page_size_is_capped_at_500(api, make_tree):
    make_tree([t("root")] + [t(f"c{i}", parent_id="root") for i in range(520)])
    page = api.get("/api/v1/tasks/?limit=10000").json()
    assert page["count"] == 521
    assert len(page["results"]) == 500
    assert len(api.get("/api/v1/tasks/").json()["results"]) == 50


def test_request_json_is_parsed_with_the_cyclic_gc_paused(monkeypatch):
    """A JSON-RPC create of 10,000 tasks parsed with the GC on paid ≈ 90 ms of collections over the
    web process's heap (docs/performance.md, round 4): every body is parsed with it paused, and
    it is on again afterwards."""
    import gc

    from tasks_app import input_limits

    seen = []
    real_loads = json.loads

    def loads(text, **kwargs):
        seen.append(gc.isenabled())
        return real_loads(text, **kwargs)

    monkeypatch.setattr(input_limits.json, "loads", loads)
    assert gc.isenabled()
    assert input_limits.parse_json_text('{"tasks": [{"name": "a"}]}') == {"tasks": [{"name": "a"}]}
    assert seen == [False]
    assert gc.isenabled()
