"""Resource locks (SEMANTICS "Resources").

A lock is ``(key, mode)`` with ``key = f"{type}:{identifier}"``. ``read`` locks share;
``write`` conflicts with ``write`` and ``exclusive``; ``exclusive`` conflicts with every other
holder. A resource may also have a capacity: the maximum number of simultaneous holders, in
any mode. A task starts only when it can take all its locks at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from tasks_app.exceptions import ValidationError

READ, WRITE, EXCLUSIVE = "read", "write", "exclusive"
MODES: tuple[str, ...] = (READ, WRITE, EXCLUSIVE)
# Mode used when a resource declaration gives none: a plain "I use this" is a write.
DEFAULT_MODE = WRITE
_STRENGTH = {READ: 0, WRITE: 1, EXCLUSIVE: 2}

HELD = "waiting for resource '{key}' (held {mode})"
AT_CAPACITY = "resource '{key}' is at capacity {capacity}"
QUEUED = "waiting for resource '{key}' (queued behind a {mode} request)"
NO_SLOT = "no free worker slot"
INVALID_MODE = "resource '{key}' has invalid mode '{mode}'; expected read, write or exclusive"
UNKNOWN_MODE = "invalid lock mode '{mode}'; expected read, write or exclusive"
NOT_AN_OBJECT = "resource at index {index} is not an object"
MISSING_FIELD = "resource at index {index} has no {field}"
NOT_A_LIST = "resources must be a list"


_DIGITS = frozenset("0123456789")
NOT_GRANTED = "resource '{key}' is a shared resource not granted to you"


class Lock(NamedTuple):
    key: str
    mode: str = DEFAULT_MODE


def lock_key(owner_id: object, key: str, shared: Collection[str]) -> str:
    """The key a lock on ``key`` (``type:identifier``) is taken under for a task of ``owner_id``:
    ``key`` itself if it names a shared resource, else ``u<owner_id>/key``."""
    return key if key in shared else f"u{owner_id}/{key}"


def scoped(locks: Iterable[Lock], owner_id: object, shared: Collection[str]) -> list[Lock]:
    """``locks`` (as ``normalise`` returns them) under the keys ``lock_key`` gives, sorted by key."""
    return sorted(Lock(lock_key(owner_id, key, shared), mode) for key, mode in locks)


def _namespace_end(key: str) -> int:
    """The length of a leading ``u<digits>/`` in ``key`` (0 if it has none)."""
    slash = key.find("/")
    if slash < 2 or key[0] != "u" or not set(key[1:slash]) <= _DIGITS:
        return 0
    return slash + 1


def public_key(key: str) -> str:
    """What the owner of a lock named: ``u7/db:x`` -> ``db:x``; a shared key is left as it is."""
    return key[_namespace_end(key) :]


def is_namespaced(key: str) -> bool:
    """Whether ``key`` has the form of a per-owner lock key (never allowed as a shared key)."""
    return _namespace_end(key) > 0


def _check_mode(mode: str) -> str:
    if mode not in _STRENGTH:
        raise ValidationError(UNKNOWN_MODE.format(mode=mode), details={"mode": mode})
    return mode


def compatible(mode_a: str, mode_b: str) -> bool:
    """Return whether two holders of one resource may hold it at the same time."""
    _check_mode(mode_a)
    _check_mode(mode_b)
    if EXCLUSIVE in (mode_a, mode_b):
        return False
    return not (mode_a == WRITE and mode_b == WRITE)


def strongest(locks: Iterable[Lock]) -> dict[str, str]:
    """Return ``{key: mode}`` keeping the strongest mode requested for each key."""
    merged: dict[str, str] = {}
    for key, mode in locks:
        _check_mode(mode)
        if key not in merged or _STRENGTH[mode] > _STRENGTH[merged[key]]:
            merged[key] = mode
    return merged


def can_acquire(
    requested: Sequence[Lock], held: Sequence[Lock], capacity: Mapping[str, int] | None = None
) -> str | None:
    """Return ``None`` if every requested lock can be taken at once, else why not.

    ``held`` has one entry per holder of a key (what running attempts hold). Repeated keys in
    ``requested`` collapse to the strongest mode. Keys are checked in sorted order, so the
    reason is deterministic: ``"waiting for resource 'db:x' (held exclusive)"`` (naming the
    strongest conflicting mode held) or ``"resource 'gpu:0' is at capacity 2"``; a reason names
    the key as its owner did (``public_key``), never another owner's namespace.
    """
    holders: dict[str, list[str]] = {}
    for key, mode in held:
        holders.setdefault(key, []).append(_check_mode(mode))
    limits = capacity or {}
    for key, mode in sorted(strongest(requested).items()):
        current = holders.get(key, [])
        conflicting = [other for other in current if not compatible(mode, other)]
        if conflicting:
            return HELD.format(key=public_key(key), mode=max(conflicting, key=_STRENGTH.__getitem__))
        limit = limits.get(key)
        if limit is not None and len(current) >= limit:
            return AT_CAPACITY.format(key=public_key(key), capacity=limit)
    return None


def _is_part(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and value != ""


def normalise(resources: Sequence[Mapping[str, Any]] | None) -> list[Lock]:
    """Return the locks declared by ``[{"type", "identifier", "mode"}]``, sorted by key with
    repeated keys collapsed to the strongest mode (a missing mode means ``write``).

    Raise ``ValidationError`` listing every malformed entry or invalid mode.
    """
    if resources is None:
        return []
    if not isinstance(resources, (list, tuple)):
        raise ValidationError(NOT_A_LIST)
    errors: list[str] = []
    locks: list[Lock] = []
    for index, item in enumerate(resources):
        if not isinstance(item, Mapping):
            errors.append(NOT_AN_OBJECT.format(index=index))
            continue
        missing = [name for name in ("type", "identifier") if not _is_part(item.get(name))]
        if missing:
            errors.extend(MISSING_FIELD.format(index=index, field=name) for name in missing)
            continue
        key = f"{item['type']}:{item['identifier']}"
        mode = item.get("mode") or DEFAULT_MODE
        if not isinstance(mode, str) or mode not in _STRENGTH:
            errors.append(INVALID_MODE.format(key=key, mode=mode))
            continue
        locks.append(Lock(key, mode))
    if errors:
        raise ValidationError("; ".join(errors), details={"errors": errors})
    return [Lock(key, mode) for key, mode in sorted(strongest(locks).items())]


def lock_verdict(
    locks: Sequence[Lock],
    held: Sequence[Lock],
    reserved: Sequence[Lock] = (),
    capacity: Mapping[str, int] | None = None,
) -> str | None:
    """Why a task cannot take ``locks`` now (``None``: it can), FIFO per resource.

    ``held``: one entry per holder of a key (running attempts, and tasks already picked in this
    walk of the queue); ``reserved``: the locks of the tasks *ahead* of it in the queue that are
    waiting themselves. A request that conflicts with a reserved one queues behind it, so a stream
    of readers can never starve a writer, and a freed capacity slot goes to the first in line:
    ``"waiting for resource 'db:x' (queued behind a write request)"``.
    """
    reason = can_acquire(locks, held, capacity)
    if reason is not None or not reserved:
        return reason
    limits = capacity or {}
    for key, mode in sorted(strongest(locks).items()):
        for other_key, other_mode in reserved:
            if other_key == key and not compatible(mode, other_mode):
                return QUEUED.format(key=public_key(key), mode=other_mode)
        limit = limits.get(key)
        if limit is not None:
            taken = sum(1 for k, _ in held if k == key) + sum(1 for k, _ in reserved if k == key)
            if taken >= limit:
                return AT_CAPACITY.format(key=public_key(key), capacity=limit)
    return None


class ResourceQueue:
    """The claim policy for resources: walk the ready queue in order and ``offer`` each task's
    locks; the one place that decides who gets a resource (the claimer, its watchdog and
    ``simulate`` all walk one of these).

    A task whose locks can be taken (``lock_verdict``) takes them; one that cannot keeps its
    place: its locks are *reserved*, and later tasks that conflict with them queue behind it
    (FIFO per resource). Tasks behind it that want other resources, or compatible modes, start.
    """

    def __init__(self, held: Iterable[Lock] = (), capacity: Mapping[str, int] | None = None) -> None:
        self.held: list[Lock] = list(held)  # locks of running attempts
        self.capacity: dict[str, int] = dict(capacity or {})
        self.taken: list[Lock] = []  # locks of the tasks this walk started
        self.reserved: list[Lock] = []  # locks of the tasks this walk left waiting

    def refresh(self, held: Iterable[Lock], capacity: Mapping[str, int] | None) -> None:
        """Replace what running attempts hold and the capacities (a claimer reading the queue
        page by page re-reads them for each page's resources); taken and reserved locks stay."""
        self.held = list(held)
        self.capacity = dict(capacity or {})

    def offer(self, locks: Sequence[Lock]) -> str | None:
        """The next task in queue order wants ``locks``: take them and return ``None``, or
        reserve them (the task waits in its place) and return why it waits."""
        if not locks:
            return None
        wanted = [Lock(key, mode) for key, mode in sorted(strongest(locks).items())]
        reason = lock_verdict(wanted, [*self.held, *self.taken], self.reserved, self.capacity)
        (self.reserved if reason else self.taken).extend(wanted)
        return reason

    def keep_place(self, locks: Iterable[Lock]) -> None:
        """A task ahead in the queue whose start is not decided here (a concurrent claimer has
        its row) keeps its place for ``locks``: later conflicting requests queue behind it."""
        self.reserved.extend(Lock(key, mode) for key, mode in locks)


def select_startable(
    candidates: Sequence[tuple[str, Sequence[Lock]]],
    held: Sequence[Lock] = (),
    *,
    slots: int | None = None,
    capacity: Mapping[str, int] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Pick which of the ``(task id, locks)`` candidates (given in queue order) start now, as the
    claimer does: walk them through a ``ResourceQueue`` given ``held`` (locks of running tasks)
    while fewer than ``slots`` are picked (``None``: unlimited). A candidate that cannot take its
    locks keeps its place: those behind it that conflict with what it waits for wait too (FIFO
    per resource); the others may start. Return ``(ids to start, {id: reason} for the others)``.
    """
    queue = ResourceQueue(held, capacity)
    started: list[str] = []
    waiting: dict[str, str] = {}
    for task_id, locks in candidates:
        if slots is not None and len(started) >= slots:
            waiting[task_id] = NO_SLOT
            continue
        reason = queue.offer(locks)
        if reason is not None:
            waiting[task_id] = reason
            continue
        started.append(task_id)
    return started, waiting
