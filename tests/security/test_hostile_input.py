"""Item 7: hostile JSON is refused at parse time, before anything is written.

A lone UTF-16 surrogate (``"\\udfff"``) is valid JSON grammar but not Unicode: it cannot be
encoded as UTF-8, so it can be neither stored (SQLite, PostgreSQL) nor answered. Before the fix,
``POST /api/v1/trees/`` with one in ``inputs`` answered 500 after writing a tree, a task and an
event, and every later list that included them answered 500. Deep nesting must answer 4xx, never
a RecursionError. Both databases (``make test`` runs this package on SQLite and PostgreSQL).
"""

import pytest

from tasks_app.models import Event, Task, Tree

from .conftest import t

pytestmark = pytest.mark.django_db

LONE = "\\udfff"  # the JSON escape, as an attacker sends it (the body text holds a backslash)


def lone(template: str) -> str:
    """``template`` with ``@`` replaced by the lone-surrogate escape."""
    return template.replace("@", LONE)


def counts():
    return Tree.objects.count(), Task.objects.count(), Event.objects.count()


def post_raw(client, path, text):
    client.raise_request_exception = False
    return client.post(path, text, content_type="application/json")


REST_CASES = [
    (lone('[{"name":"poison","executor":"noop","inputs":{"x":"@"}}]'), "$[0].inputs.x"),
    (lone('[{"name":"p@","executor":"noop"}]'), "$[0].name"),
    (lone('[{"name":"poison","executor":"@"}]'), "$[0].executor"),
    (lone('{"tasks":[{"name":"ok","executor":"noop","metadata":{"@":1}}]}'), "$.tasks[0].metadata"),
    ('[{"name":"poison","executor":"noop","tags":["a","\\ud800"]}]', "$[0].tags[1]"),
    # a high surrogate followed by something else than a low one is lone too
    ('[{"name":"poison","executor":"noop","inputs":{"x":"\\ud83dA"}}]', "$[0].inputs.x"),
]


@pytest.mark.parametrize(("body", "path"), REST_CASES)
def test_lone_surrogate_in_a_tree_is_refused_at_parse_and_nothing_is_written(api, body, path):
    before = counts()
    resp = post_raw(api, "/api/v1/trees/", body)
    assert resp.status_code == 400, resp.content[:300]
    error = resp.json()["error"]
    assert error["code"] == "invalid_string"
    assert error["details"]["path"].startswith(path)
    assert path in error["message"]
    assert counts() == before


def test_lists_keep_working_for_owner_and_staff_after_the_attack(api, staff_api, make_tree):
    tree, _ = make_tree()
    post_raw(api, "/api/v1/trees/", REST_CASES[0][0])
    for client in (api, staff_api):
        assert client.get("/api/v1/tasks/").status_code == 200
        assert client.get(f"/api/v1/trees/{tree['id']}/").status_code == 200
        assert client.get("/api/v1/trees/").status_code == 200
        resp = client.post(
            "/tasks", {"jsonrpc": "2.0", "id": 1, "method": "tasks.list", "params": {}}, format="json"
        )
        assert resp.status_code == 200 and "result" in resp.json()


def test_a_proper_surrogate_pair_is_ordinary_text(api):
    resp = post_raw(api, "/api/v1/trees/", '[{"name":"emoji \\ud83d\\ude00","executor":"noop"}]')
    assert resp.status_code == 201, resp.content[:300]
    assert resp.json()["name"] == "emoji \U0001f600"


def test_edits_and_other_bodies_go_through_the_same_parser(api, make_tree):
    _, tasks = make_tree()
    before = counts()
    resp = post_raw(api, "/api/v1/validate/", lone('[{"name":"@","executor":"noop"}]'))
    assert resp.status_code == 400 and resp.json()["error"]["details"]["path"] == "$[0].name"
    api.raise_request_exception = False
    resp = api.patch(
        f"/api/v1/tasks/{tasks['a']['id']}/", lone('{"inputs":{"k":"@"}}'), content_type="application/json"
    )
    assert resp.status_code == 400 and resp.json()["error"]["details"]["path"] == "$.inputs.k"
    assert counts() == before
    assert api.get(f"/api/v1/tasks/{tasks['a']['id']}/").json()["inputs"] == {}


RPC_CASES = [
    (
        lone(
            '{"jsonrpc":"2.0","id":1,"method":"tasks.create","params":[{"name":"poison","executor":"noop",'
            '"inputs":{"x":"@"}}]}'
        ),
        "$.params[0].inputs.x",
    ),
    (lone('{"jsonrpc":"2.0","id":1,"method":"tasks.get","params":{"task_id":"@"}}'), "$.params.task_id"),
    (lone('{"jsonrpc":"2.0","id":1,"method":"tasks.@"}'), "$.method"),
    (
        lone(
            '[{"jsonrpc":"2.0","id":1,"method":"tasks.list"},{"jsonrpc":"2.0","id":"@","method":"tasks.list"}]'
        ),
        "$[1].id",
    ),
]


@pytest.mark.parametrize(("body", "path"), RPC_CASES)
def test_lone_surrogate_in_json_rpc_is_an_invalid_request_naming_it(api, body, path):
    before = counts()
    resp = post_raw(api, "/tasks", body)
    assert resp.status_code == 400, resp.content[:300]
    assert resp["Content-Type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["code"] == -32600
    assert error["data"]["type"] == "invalid_string"
    assert error["data"]["details"]["path"] == path
    assert path in error["message"]
    assert counts() == before


@pytest.mark.parametrize("path", ["/api/v1/trees/", "/api/v1/validate/", "/tasks"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deep_nesting_is_a_4xx_not_a_recursion_error(api, path, opener):
    before = counts()
    resp = post_raw(api, path, opener * 2000)
    assert 400 <= resp.status_code < 500, resp.content[:300]
    assert resp["Content-Type"].startswith("application/json")
    assert counts() == before


def test_undecodable_query_strings_and_paths_do_not_500(api, make_tree):
    tree, _ = make_tree()
    api.raise_request_exception = False
    for url in (
        "/api/v1/tasks/?search=%ED%BF%BF",
        "/api/v1/tasks/?status=%ff%fe",
        "/api/v1/trees/?search=%00",
        "/api/v1/tasks/?executor=%ED%A0%80",
        "/api/v1/trees/%ED%BF%BF/",
        "/api/v1/tasks/%ff/attempts/",
        f"/api/v1/trees/{tree['id']}/events/?after_seq=%ED%BF%BF",
    ):
        resp = api.get(url)
        assert resp.status_code < 500, (url, resp.status_code)
        assert resp["Content-Type"].startswith("application/json"), url


def test_body_that_is_not_utf8_is_a_parse_error(api):
    before = counts()
    resp = api.post(
        "/api/v1/trees/", b'[{"name":"\xed\xbf\xbf","executor":"noop"}]', content_type="application/json"
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "parse_error"
    assert counts() == before


@pytest.mark.parametrize(
    "path", ["/api/v1/trees/a.b/", "/api/v1/tasks/a.b/attempts/", "/api/v1/nothing/", "/api/v2/trees/"]
)
def test_unmatched_api_urls_answer_json_404(api, path):
    resp = api.get(path)
    assert resp.status_code == 404
    assert resp["Content-Type"].startswith("application/json")
    assert resp.json()["error"]["code"] == "not_found"


def test_the_surrogate_fixture_builds_a_real_tree(make_tree):
    # guard: the fixtures work on this database, so the refusals above are not vacuous
    tree, _ = make_tree([t("root")])
    assert Tree.objects.filter(id=tree["id"]).exists()


# --- websocket frames: the same rules, answered with bad_message (never a crash / 1011) ----------


@pytest.mark.django_db(transaction=True)
def test_websocket_frames_with_surrogates_or_deep_nesting_get_bad_message(tm, user):
    from tests.live.utils import communicator, make_token, receive, run

    tree = tm.create_tree([t("root")])
    token = make_token(user)

    async def body():
        comm = communicator(f"/ws/trees/{tree.id}/", token=token)
        connected, _ = await comm.connect()
        assert connected
        assert (await receive(comm))["type"] == "snapshot"
        for frame in (
            lone('{"type":"@"}'),
            '{"type":"resume","after_seq":1,"x":"\\ud800"}',
            "[" * 2000,
            '{"type":' * 2000,
        ):
            await comm.send_to(text_data=frame)
            answer = await receive(comm)
            assert answer["type"] == "error" and answer["code"] == "bad_message", (frame[:40], answer)
        await comm.send_json_to({"type": "ping"})
        assert (await receive(comm))["type"] == "pong"  # still open and serving
        await comm.disconnect()

    run(body)
