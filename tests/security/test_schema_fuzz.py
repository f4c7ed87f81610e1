"""Item 11: schemathesis against ``/api/schema/``: 0 server errors and 0 schema violations.

An outside fuzzing run (7,292 cases) found a JSON-RPC batch answering an array where the schema
documented an object, ids containing a dot answered with Django's HTML 404, and 8 operations
answering undocumented codes (400 of list filters, 404 of attempts, 403 of the token endpoints
called with a token). This test runs the same kind of campaign in-process, on every operation:

- schemathesis 4 builds the cases from the live schema (``schemathesis.openapi.from_wsgi``) and
  they are driven through Hypothesis directly (``APIOperation.as_strategy``): schemathesis' pytest
  plugin does not support pytest 9 yet;
- positive and negative data; for operations with path parameters, generated ids and the real
  ids of a small tree of the token's user;
- checks: ``not_a_server_error``, ``status_code_conformance`` (the status is documented),
  ``content_type_conformance`` and ``response_schema_conformance`` (every documented response,
  errors included);
- bounded and reproducible: ``ARBOR_FUZZ_EXAMPLES`` examples per operation, mode and id variant
  (default 12), ``derandomize=True`` (a fixed seed: the same cases on every run), no shrinking
  (a failure is recorded and the run goes on, so one run lists every failing operation);
- every request runs in a savepoint that is rolled back, so the real ids stay valid and one
  request's database error cannot poison the next.
"""

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from .conftest import t, token_for

schemathesis = pytest.importorskip("schemathesis")

# pytest-timeout: 300 s by default; the campaign takes ~1.5 min on an idle machine, allow a busy CI
pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("ARBOR_FUZZ_EXAMPLES", "12"))


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


def real_ids(user) -> dict:
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


def test_every_operation_answers_what_the_schema_documents(wsgi_app, user):
    from django.db import transaction
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app)
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    ids = real_ids(user)
    failures: dict[tuple, str] = {}
    operations = 0
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
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
                    nonlocal cases
                    cases += 1
                    with transaction.atomic():
                        response = case.call(headers=headers)
                        transaction.set_rollback(True)
                    try:
                        case.validate_response(response, checks=checks, headers=headers)
                    except FailureGroup as exc:  # recorded, the campaign goes on (no shrinking)
                        key = (case.method, case.path, response.status_code, type(exc).__name__)
                        failures.setdefault(
                            key,
                            f"{case.formatted_path} {case.query} {str(case.body)[:200]}\n{str(exc)[:1500]}",
                        )

                run()
    report = "\n\n".join(f"{key}: {detail}" for key, detail in failures.items())
    assert not failures, f"{len(failures)} failing operation/status pairs in {cases} cases:\n{report}"
    assert operations >= 30  # every operation of the schema was exercised


def test_the_schema_documents_what_the_fuzzing_report_found(api):
    """The specific findings, checked fast (without schemathesis)."""
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    batch = paths["/tasks"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"type": "array"}.items() <= batch["oneOf"][1].items()
    assert "404" in paths["/api/v1/trees/{id}/attempts/"]["get"]["responses"]
    assert "404" in paths["/api/v1/tasks/{id}/attempts/"]["get"]["responses"]
    assert "400" in paths["/api/v1/tasks/"]["get"]["responses"]
    assert "400" in paths["/api/v1/trees/"]["get"]["responses"]
    assert "403" in paths["/api/v1/tokens/"]["post"]["responses"]
    assert "403" in paths["/api/v1/tokens/{id}/"]["delete"]["responses"]
    for path, item in paths.items():
        for method, operation in item.items():
            assert {"401", "429", "503"} <= set(operation["responses"]), (method, path)
    # and the API does what it documents: a batch is an array, a dotted id a JSON 404
    resp = api.post("/tasks", [{"jsonrpc": "2.0", "id": 1, "method": "tasks.count"}], format="json")
    assert resp.status_code == 200 and isinstance(resp.json(), list)
    resp = api.get("/api/v1/trees/a.b/attempts/")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
