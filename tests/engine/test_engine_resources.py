import pytest

from tasks_app.engine import (
    Lock,
    ResourceQueue,
    can_acquire,
    compatible,
    lock_verdict,
    normalise,
    select_startable,
)
from tasks_app.exceptions import ValidationError

MATRIX = {
    ("read", "read"): True,
    ("read", "write"): True,
    ("write", "read"): True,
    ("write", "write"): False,
    ("read", "exclusive"): False,
    ("exclusive", "read"): False,
    ("write", "exclusive"): False,
    ("exclusive", "write"): False,
    ("exclusive", "exclusive"): False,
}


@pytest.mark.parametrize(("modes", "expected"), MATRIX.items())
def test_compatibility_matrix(modes, expected):
    assert compatible(*modes) is expected


def test_compatible_rejects_unknown_mode():
    with pytest.raises(ValidationError, match="invalid lock mode 'shared'"):
        compatible("shared", "read")


@pytest.mark.parametrize(("modes", "expected"), MATRIX.items())
def test_can_acquire_follows_the_matrix(modes, expected):
    requested, held = modes
    reason = can_acquire([Lock("db:x", requested)], [Lock("db:x", held)])
    if expected:
        assert reason is None
    else:
        assert reason == f"waiting for resource 'db:x' (held {held})"


def test_can_acquire_needs_all_locks_at_once():
    held = [Lock("db:a", "read"), Lock("db:b", "write")]
    assert can_acquire([Lock("db:a", "read"), Lock("db:c", "exclusive")], held) is None
    assert (
        can_acquire([Lock("db:a", "read"), Lock("db:b", "write")], held)
        == "waiting for resource 'db:b' (held write)"
    )
    assert can_acquire([], held) is None
    assert can_acquire([Lock("db:a", "write")], []) is None


def test_reason_names_strongest_conflicting_holder_and_first_key_in_order():
    held = [Lock("k", "read"), Lock("k", "read"), Lock("j", "write")]
    assert can_acquire([Lock("k", "exclusive")], held) == "waiting for resource 'k' (held read)"
    assert (
        can_acquire([Lock("k", "exclusive"), Lock("j", "write")], held)
        == "waiting for resource 'j' (held write)"
    )
    held = [Lock("k", "read"), Lock("k", "write")]
    assert can_acquire([Lock("k", "exclusive")], held) == "waiting for resource 'k' (held write)"


def test_repeated_keys_in_one_request_collapse_to_strongest_mode():
    held = [Lock("k", "read")]
    assert (
        can_acquire([Lock("k", "read"), Lock("k", "exclusive")], held)
        == "waiting for resource 'k' (held read)"
    )
    assert can_acquire([Lock("k", "read"), Lock("k", "write")], held) is None


def test_capacity_counts_holders_in_any_mode():
    capacity = {"gpu:0": 2}
    assert can_acquire([Lock("gpu:0", "read")], [Lock("gpu:0", "read")], capacity) is None
    full = [Lock("gpu:0", "read"), Lock("gpu:0", "read")]
    assert can_acquire([Lock("gpu:0", "read")], full, capacity) == "resource 'gpu:0' is at capacity 2"
    assert can_acquire([Lock("gpu:1", "read")], full, capacity) is None


def test_capacity_and_modes_combine():
    assert can_acquire([Lock("pool", "write")], [Lock("pool", "write")], {"pool": 5}) == (
        "waiting for resource 'pool' (held write)"
    )


def test_normalise():
    resources = [
        {"type": "db", "identifier": "users", "mode": "read"},
        {"type": "gpu", "identifier": 0},
        {"type": "db", "identifier": "users", "mode": "write"},
        {"type": "file", "identifier": "/tmp/x", "mode": "exclusive"},
    ]
    assert normalise(resources) == [
        Lock("db:users", "write"),
        Lock("file:/tmp/x", "exclusive"),
        Lock("gpu:0", "write"),
    ]
    assert normalise([]) == []
    assert normalise(None) == []


def test_normalise_reports_every_bad_entry():
    resources = [
        {"type": "db", "identifier": "x", "mode": "shared"},
        "nope",
        {"identifier": "y"},
        {"type": "db", "identifier": ""},
        {"type": True, "identifier": "z"},
        {"type": "db", "identifier": "ok", "mode": ["read"]},
    ]
    with pytest.raises(ValidationError) as info:
        normalise(resources)
    assert info.value.details["errors"] == [
        "resource 'db:x' has invalid mode 'shared'; expected read, write or exclusive",
        "resource at index 1 is not an object",
        "resource at index 2 has no type",
        "resource at index 3 has no identifier",
        "resource at index 4 has no type",
        "resource 'db:ok' has invalid mode '['read']'; expected read, write or exclusive",
    ]
    with pytest.raises(ValidationError, match="resources must be a list"):
        normalise({"type": "db"})


def test_select_startable_lets_tasks_behind_a_waiting_one_start_when_they_do_not_conflict():
    candidates = [
        ("writer", [Lock("db", "write")]),
        ("writer2", [Lock("db", "write")]),
        ("reader", [Lock("db", "read")]),
        ("free", []),
        ("excl", [Lock("db", "exclusive")]),
    ]
    started, waiting = select_startable(candidates)
    assert started == ["writer", "reader", "free"]
    assert waiting == {
        "writer2": "waiting for resource 'db' (held write)",
        "excl": "waiting for resource 'db' (held write)",
    }


def test_select_startable_respects_slots_held_locks_and_capacity():
    candidates = [("a", [Lock("gpu", "read")]), ("b", [Lock("gpu", "read")]), ("c", []), ("d", [])]
    started, waiting = select_startable(candidates, [Lock("gpu", "read")], slots=2, capacity={"gpu": 2})
    assert started == ["a", "c"]
    assert waiting == {"b": "resource 'gpu' is at capacity 2", "d": "no free worker slot"}
    assert select_startable([], slots=0) == ([], {})


def test_select_startable_queues_conflicting_requests_behind_a_waiting_one():
    """FIFO per resource: a reader behind a waiting exclusive request waits, a stream of readers
    cannot starve it; a task on another resource still starts."""
    candidates = [
        ("excl", [Lock("db", "exclusive")]),
        ("reader", [Lock("db", "read")]),
        ("other", [Lock("cache", "write")]),
    ]
    started, waiting = select_startable(candidates, [Lock("db", "read")])
    assert started == ["other"]
    assert waiting == {
        "excl": "waiting for resource 'db' (held read)",
        "reader": "waiting for resource 'db' (queued behind a exclusive request)",
    }


def test_a_freed_capacity_slot_goes_to_the_first_in_line():
    # "first" waits for db (held write) and reserves its pool slot: "second" may not take it
    held = [Lock("db", "write"), Lock("pool", "read")]
    candidates = [("first", [Lock("db", "write"), Lock("pool", "read")]), ("second", [Lock("pool", "read")])]
    started, waiting = select_startable(candidates, held, capacity={"pool": 2})
    assert started == []
    assert waiting["second"] == "resource 'pool' is at capacity 2"
    assert lock_verdict([Lock("pool", "read")], [Lock("pool", "read")], [], {"pool": 2}) is None


def test_a_resource_queue_keeps_places_across_refreshes():
    queue = ResourceQueue([Lock("db", "write")])
    assert queue.offer([Lock("db", "write")]) == "waiting for resource 'db' (held write)"
    queue.refresh([], {})  # the holder finished: the waiting request still comes first
    queue.keep_place([Lock("gpu", "write")])  # a task another claimer is starting
    assert queue.offer([Lock("gpu", "read")]) is None  # read and write share
    assert queue.offer([Lock("db", "write")]) == "waiting for resource 'db' (queued behind a write request)"
    assert queue.offer([]) is None
    assert queue.taken == [Lock("gpu", "read")]
