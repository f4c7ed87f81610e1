"""OpenAPI 3 schema, Swagger UI (assets served locally), and a bounded schemathesis run: no 5xx."""

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, settings

from .conftest import t, token_for

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_describes_the_api(client):
    resp = client.get("/api/schema/?format=json")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/trees/",
        "/api/v1/trees/{id}/copy/",
        "/api/v1/tasks/{id}/dependencies/{upstream_id}/",
        "/api/v1/tasks/{id}/preview/",
        "/api/v1/validate/",
        "/api/v1/executors/",
        "/api/v1/stats/",
    ):
        assert path in paths, path
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    create = paths["/api/v1/trees/"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


def test_swagger_ui_uses_local_assets(client):
    resp = client.get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


# --- schemathesis ----------------------------------------------------------------------------------
# Driven through Hypothesis directly (APIOperation.as_strategy): schemathesis' pytest plugin does not
# support pytest 9 yet. Bounded: EXAMPLES per operation, mode and id variant, no shrinking.

schemathesis = pytest.importorskip("schemathesis")

EXAMPLES = 4


@pytest.fixture
def wsgi_app(db):
    """The real WSGI application. Like Django's test client, keep the test's database connection
    open across requests (it holds the test transaction)."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fresh_ids(user) -> dict:
    """A small tree of the token's user: real ids to put in paths next to generated ones (every
    request is rolled back, so they stay valid)."""
    from tasks_app.services import trees

    tree = trees.tree_create(
        owner=user, tasks=[t("root"), t("a", parent_id="root"), t("b", parent_id="root", dependencies=["a"])]
    )
    ids = {task.name: str(task.id) for task in tree.tasks.all()}
    return {"tree": str(tree.id), "task": ids["b"], "up": ids["a"]}


def real_path_parameters(operation, ids) -> dict | None:
    names = {p.name for p in operation.path_parameters}
    if not names:
        return None
    chosen = {"id": ids["task"] if operation.path.startswith("/api/v1/tasks/") else ids["tree"]}
    if "upstream_id" in names:
        chosen["upstream_id"] = ids["up"]
    if operation.path.startswith("/api/v1/tokens/"):
        chosen["id"] = 1
    return chosen


@pytest.mark.slow
def test_no_endpoint_answers_5xx(wsgi_app, user):
    """Every operation, positive and negative data, generated and real ids: never a 5xx, and a
    2xx body of the REST API always matches the declared schema."""
    from django.db import transaction
    from hypothesis import Phase, given
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    ids = fresh_ids(user)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            real = real_path_parameters(operation, ids) if mode is GenerationMode.POSITIVE else None
            for path_parameters in [None] if real is None else [None, real]:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                @given(case=strategy)
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def run(case):
                    # each request in its own savepoint, rolled back: one request's database error
                    # cannot poison the test transaction for the next one
                    with transaction.atomic():
                        response = case.call(headers=headers)
                        transaction.set_rollback(True)
                    assert response.status_code < 500, (
                        case.method,
                        case.formatted_path,
                        case.query,
                        case.body,
                        response.text[:300],
                    )
                    if 200 <= response.status_code < 300 and case.path.startswith("/api/v1/"):
                        case.validate_response(
                            response, checks=[response_schema_conformance], headers=headers
                        )

                run()
                checked += 1
    assert checked >= 40
