"""services.task_fields: the one declaration of a task's fields drives validation, the OpenAPI
schema and the JSON-RPC catalogue."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from tasks_app.api import serializers
from tasks_app.api.rpc.methods import methods_catalogue
from tasks_app.services import task_fields, trees
from tasks_app.services import tasks as task_services

NAMES = [f.name for f in task_fields.FIELDS]


def clean(raw):
    errors: list[str] = []
    out = task_fields.clean(raw, "task 't'", errors)
    return out, errors


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"priority": 4}, "task 't': priority must be an integer 0..3 (0 = urgent), got 4"),
        ({"priority": None}, "task 't': priority must be an integer 0..3 (0 = urgent), got None"),
        ({"priority": True}, "task 't': priority must be an integer 0..3 (0 = urgent), got True"),
        ({"inputs": []}, "task 't': inputs must be an object"),
        ({"metadata": "x"}, "task 't': metadata must be an object"),
        ({"tags": ["a", 1]}, "task 't': tags must be a list of strings"),
        ({"timeout": 0}, "task 't': timeout must be a number of seconds in (0, 86400]"),
        ({"timeout": "5"}, "task 't': timeout must be a number of seconds in (0, 86400]"),
        ({"max_retries": 101}, "task 't': max_retries must be an integer 0..100"),
        ({"max_retries": 1.5}, "task 't': max_retries must be an integer 0..100"),
        ({"retry_delay": -1}, "task 't': retry_delay must be a number of seconds 0..86400"),
        ({"resources": "db"}, "task 't': resources must be a list of {type, identifier, mode}"),
    ],
)
def test_bad_values_are_refused_with_the_documented_message(raw, message, settings):
    settings.ARBOR_MAX_TIMEOUT = 86400.0
    out, errors = clean(raw)
    assert errors == [message] and out == {}


def test_good_values_are_cleaned(settings):
    out, errors = clean(
        {"priority": 0, "timeout": 5, "retry_delay": 2, "max_retries": 3, "tags": ["x"], "inputs": {"a": 1}}
    )
    assert errors == []
    assert out == {
        "priority": 0,
        "timeout": 5.0,
        "retry_delay": 2.0,
        "max_retries": 3,
        "tags": ["x"],
        "inputs": {"a": 1},
    }
    assert isinstance(out["timeout"], float) and isinstance(out["max_retries"], int)
    assert clean({"timeout": None, "tags": None, "inputs": None}) == ({}, [])  # null: not given


def test_limits_that_are_settings_are_read_when_used(settings):
    settings.ARBOR_MAX_TIMEOUT = 10.0
    assert clean({"timeout": 11})[1] == ["task 't': timeout must be a number of seconds in (0, 10]"]
    settings.ARBOR_LIMITS = {**settings.ARBOR_LIMITS, "max_json_depth": 2}
    assert clean({"params": {"a": {"b": {"c": 1}}}})[1] == ["task 't': params is nested deeper than 2 levels"]


def test_the_services_field_sets_come_from_the_declaration():
    assert trees.TASK_FIELDS == set(NAMES)
    assert task_services.EDITABLE_FIELDS == {f.name for f in task_fields.FIELDS if f.updatable}
    assert "id" not in task_services.EDITABLE_FIELDS
    assert set(task_services.NULLABLE_FIELDS) == {"timeout", "max_retries", "retry_delay"}
    assert set(task_services.EMPTY_DEFAULTS) == {
        "inputs",
        "params",
        "schemas",
        "metadata",
        "tags",
        "resources",
    }


def test_the_serializers_are_built_from_the_declaration():
    assert list(serializers.TaskSpecSerializer().fields) == NAMES
    update = [n for n in NAMES if task_fields.BY_NAME[n].updatable]
    update.insert(update.index("parent_id"), "parent")
    assert list(serializers.TaskUpdateSerializer().fields) == update


def test_the_openapi_schema_carries_types_limits_and_docs():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    spec = components["TaskSpecRequest"]
    assert list(spec["properties"]) == NAMES and spec["required"] == ["name"]
    props = spec["properties"]
    assert props["priority"] == {
        "type": "integer",
        "maximum": 3,
        "minimum": 0,
        "default": 2,
        "description": "0 = urgent; default 2",
    }
    assert props["timeout"]["exclusiveMinimum"] is True and props["timeout"]["nullable"] is True
    assert props["name"]["maxLength"] == 200
    patch = components["PatchedTaskUpdateRequest"]["properties"]
    assert "default" not in patch["priority"] and "id" not in patch
    assert patch["dependencies"]["description"] == "replaces the whole list"


def test_the_rpc_catalogue_lists_the_declared_fields():
    catalogue = methods_catalogue()
    fields = {f["name"]: f for f in catalogue["task_fields"]}
    assert list(fields) == NAMES
    assert fields["priority"]["default"] == 2 and fields["priority"]["maximum"] == 3
    assert fields["id"]["updatable"] is False and fields["name"]["required"] is True
    update = next(m for m in catalogue["methods"] if m["name"] == "tasks.update")
    assert set(update["params"][1]["name"].split(", ")) == task_services.EDITABLE_FIELDS


def test_the_column_lists_come_from_the_declaration():
    from tasks_app.services import editing

    assert editing.EDITABLE == task_fields.COLUMNS
    assert [name for _, name in trees._DRAFT_COLUMNS] == [
        *task_fields.COLUMNS,
        "original_task_id",
        "origin_type",
    ]
    assert not {"id", "parent_id", "dependencies"} & set(task_fields.COLUMNS)
