"""Who may lock what (docs/security.md).

A resource nobody declared is private to each user: a lock on it is taken in its owner's
namespace (``engine.resources.lock_key``), so two users naming ``db:x`` never wait for each other.
A ``ResourcePool`` row declares a shared resource: every user it is granted to (``everyone``,
``users``, members of ``groups``) locks it under its plain key, within its capacity. Naming a
shared resource without a grant is refused when a task is written (``check_granted``: create,
PATCH, copy) and again when it is claimed (``shared_resources(...).refused``: a grant revoked
since then fails the task instead of taking the lock).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

from tasks_app.engine.resources import NOT_GRANTED, Lock
from tasks_app.engine.resources import normalise as normalise_resources
from tasks_app.exceptions import ResourceNotGranted
from tasks_app.models import ResourcePool


@dataclass(frozen=True)
class SharedResources:
    """The shared resources among some keys, and which of some owners each is granted to."""

    capacity: dict[str, int] = field(default_factory=dict)  # shared key -> capacity
    grants: dict[str, frozenset | None] = field(default_factory=dict)  # key -> owner ids (None: everyone)

    @property
    def keys(self) -> Collection[str]:
        return self.capacity.keys()

    def refused(self, owner_id, locks: Iterable[Lock]) -> list[str]:
        """The shared keys among ``locks`` (as the owner named them) not granted to ``owner_id``."""
        out = []
        for key, _mode in locks:
            if key in self.grants:
                granted = self.grants[key]
                if granted is not None and owner_id not in granted:
                    out.append(key)
        return out


NONE = SharedResources()
CHUNK = 500


def shared_resources(keys: Iterable[str], owner_ids: Iterable) -> SharedResources:
    """Read the shared resources among ``keys`` (``type:identifier``) and their grants to
    ``owner_ids``: one query (per 500 keys), plus two when one of them is not granted to everyone."""
    keys = sorted(set(keys))
    if not keys:
        return NONE
    pools = [  # a big tree may name many keys: in chunks, within every backend's parameter limit
        row
        for start in range(0, len(keys), CHUNK)
        for row in ResourcePool.objects.filter(key__in=keys[start : start + CHUNK]).values_list(
            "id", "key", "capacity", "everyone"
        )
    ]
    if not pools:
        return NONE
    capacity = {key: cap for _id, key, cap, _everyone in pools}
    restricted = {pool_id: key for pool_id, key, _cap, everyone in pools if not everyone}
    granted: dict[str, set] = {key: set() for key in restricted.values()}
    owners = {owner for owner in owner_ids if owner is not None}
    if restricted and owners:
        direct = ResourcePool.objects.filter(id__in=restricted, users__in=owners).values_list("id", "users")
        via_group = ResourcePool.objects.filter(id__in=restricted, groups__user__in=owners).values_list(
            "id", "groups__user"
        )
        for pool_id, owner in chain(direct, via_group):
            granted[restricted[pool_id]].add(owner)
    grants: dict[str, frozenset | None] = dict.fromkeys(capacity)
    grants.update({key: frozenset(ids) for key, ids in granted.items()})
    return SharedResources(capacity, grants)


def not_granted_message(keys: Sequence[str]) -> str:
    return "; ".join(NOT_GRANTED.format(key=key) for key in keys)


def check_granted(owner_id, resource_lists: Iterable) -> None:
    """Refuse (``ResourceNotGranted``, 403) if any of ``resource_lists`` (task ``resources``
    values, already validated) names a shared resource not granted to the user ``owner_id``."""
    wanted = {lock for resources in resource_lists if resources for lock in normalise_resources(resources)}
    if not wanted:
        return
    refused = sorted(set(shared_resources({key for key, _ in wanted}, [owner_id]).refused(owner_id, wanted)))
    if refused:
        raise ResourceNotGranted(not_granted_message(refused), details={"resources": refused})
