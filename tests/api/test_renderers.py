"""The JSON renderer (tasks_app.api.renderers): DRF's JSONRenderer byte for byte, encoded by orjson
where that gives the same bytes (docs/performance.md, "Creating 10,000 tasks (round 4)")."""

import datetime
import decimal
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import renderers as drf

from tasks_app.api.renderers import JSONRenderer

FAST, DRF = JSONRenderer(), drf.JSONRenderer()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-05, 1.5e-07, 9.99e-05, 0.0001, 1e16, 1e-300, -0.0, 5e-324])
    | st.text(st.characters(exclude_categories=["Cs"]))
    | st.sampled_from(["\u2028", "a\u2029b", "0.00001", "e-7", "\x00\x1f\x7f", '/\\"', "é🌳"])
    | st.uuids()
    | st.datetimes(timezones=st.just(datetime.UTC) | st.none())
    | st.dates()
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.timedeltas()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), inner, max_size=4)
        | st.dictionaries(st.integers(), inner, max_size=2)
    ),
    max_leaves=20,
)


def rendered(renderer, data, media="application/json"):
    try:
        return renderer.render(data, media, {})
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(values)
def test_the_same_bytes_as_drfs_renderer(data):
    assert rendered(FAST, data) == rendered(DRF, data)


@pytest.mark.parametrize(
    "data",
    [
        {"x": 1e-05, "y": [1.5e-07]},  # Python's float spelling, not orjson's (0.00001, 1.5e-7)
        {"s": "line\u2028separator\u2029"},  # DRF escapes these two
        {"when": datetime.datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=datetime.UTC)},  # ...Z
        {"n": decimal.Decimal("1.50"), "big": 2**80, 3: "int key", "d": datetime.timedelta(seconds=90)},
        {"id": uuid.UUID(int=7), "t": (1, 2)},
    ],
)
def test_the_cases_where_orjson_alone_would_differ(data):
    assert FAST.render(data, "application/json", {}) == DRF.render(data, "application/json", {})


def test_an_indent_is_rendered_by_drf():
    data = {"a": [1, {"b": None}]}
    media = "application/json; indent=2"
    assert (
        FAST.render(data, media, {})
        == DRF.render(data, media, {})
        == b'{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}'
    )


def test_a_plain_answer_is_encoded_by_orjson(monkeypatch):
    """The point of it: a create answer (strings, ints, floats, null, nested objects) never reaches
    ``json.dumps``."""

    def refuse(*args, **kwargs):
        raise AssertionError("json.dumps was called")

    monkeypatch.setattr(drf.json, "dumps", refuse)
    task = {"id": str(uuid.uuid4()), "name": "c1", "timeout": 30.0, "progress": 0.0, "result": None}
    out = FAST.render({"tasks": [task] * 3, "counts": {"pending": 3}}, "application/json", {})
    assert out.startswith(b'{"tasks":[{"id":"') and out.endswith(b'"counts":{"pending":3}}')


def test_non_finite_floats_are_null_where_drf_raised():
    """The one deliberate difference (docs/api.md): a stored NaN/infinity no longer makes the answer
    a 500."""
    with pytest.raises(ValueError):
        DRF.render({"x": float("nan")}, "application/json", {})
    assert (
        FAST.render({"x": float("nan"), "y": float("inf")}, "application/json", {}) == b'{"x":null,"y":null}'
    )


def test_the_apis_answer_with_it(api, settings):
    assert "tasks_app.api.renderers.JSONRenderer" in settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]
    from tasks_app.api.rpc.views import JsonRpcView

    assert JsonRpcView.renderer_classes[0] is JSONRenderer


def test_uuids_and_ordinary_numbers_stay_on_the_fast_path(monkeypatch):
    """A UUID holds ``e-<digit>`` (``…61e-4b…``) in most answers; only a number token spelled
    differently sends the answer to DRF's encoder."""

    def refuse(*args, **kwargs):
        raise AssertionError("json.dumps was called")

    monkeypatch.setattr(drf.json, "dumps", refuse)
    data = {"ids": ["1b0a61e-4bc1", "9e-5", "x 1e-5"], "n": [1e-4, 2.5e16, 12e-20, 0.5]}
    assert FAST.render(data, "application/json", {}) == (
        b'{"ids":["1b0a61e-4bc1","9e-5","x 1e-5"],"n":[0.0001,2.5e+16,1.2e-19,0.5]}'
    )
