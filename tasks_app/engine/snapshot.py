"""Immutable snapshot of task trees: the only input the engine's decisions depend on.

``selectors.graph_snapshot`` turns ORM rows into a ``Graph``; every engine function is then a
pure function of that value. ``Graph`` never mutates: ``replace`` / ``with_status`` return a
new graph (indexes are reused when the structure did not change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks_app.engine.states import Status
from tasks_app.exceptions import NotFound, ValidationError

NODE_NOT_FOUND = "task '{id}' not found"
DUPLICATE_NODE = "duplicate task id '{id}' in graph"

# Fields whose change alters the graph's indexes (children / dependents / ordering).
_STRUCTURAL_FIELDS = frozenset({"id", "deps", "parent", "created"})


@dataclass(frozen=True, slots=True)
class Dep:
    """An edge: the owning task depends on task ``id``."""

    id: str
    required: bool = True


def coerce_dep(value: Dep | str | tuple[str, bool] | Mapping[str, Any]) -> Dep:
    """Return ``value`` as a ``Dep``: a ``Dep``, an id, an ``(id, required)`` pair or a dict."""
    if isinstance(value, Dep):
        return value
    if isinstance(value, str):
        return Dep(value)
    if isinstance(value, Mapping):
        return Dep(str(value["id"]), bool(value.get("required", True)))
    dep_id, required = value
    return Dep(str(dep_id), bool(required))


@dataclass(frozen=True, slots=True)
class Node:
    """One task as the engine sees it.

    ``created`` is the creation sequence (ties in ordering), ``ready_at`` the time the task became
    (or, for a retry with backoff, becomes) ready, and ``in_scope`` whether the task belongs to
    the current run of its tree. ``status`` may be given as a plain string and ``deps`` as ids,
    ``(id, required)`` pairs or ``{"id", "required"}`` dicts; they are normalised.
    """

    id: str
    name: str
    status: Status = Status.PENDING
    priority: int = 2
    deps: tuple[Dep, ...] = ()
    parent: str | None = None
    created: int = 0
    ready_at: float | None = None
    result: Any = field(default=None, hash=False)
    inputs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    executor: str = ""
    error_type: str | None = None
    in_scope: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))
        if not (isinstance(self.deps, tuple) and all(isinstance(d, Dep) for d in self.deps)):
            object.__setattr__(self, "deps", tuple(coerce_dep(d) for d in self.deps))

    @property
    def terminal(self) -> bool:
        return self.status.terminal


def seq_key(node: Node) -> tuple[int, str]:
    """Creation order: the tie-breaker used everywhere a deterministic order is needed."""
    return (node.created, node.id)


class Graph:
    """Task nodes by id, with children and dependents indexes.

    A dependency or parent id that is not in the graph is tolerated (the edge is kept on the
    node but not indexed); readiness treats such a dependency as never satisfied.
    """

    __slots__ = ("_children", "_dependents", "_roots", "nodes")

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.nodes: dict[str, Node] = {}
        for node in nodes:
            if node.id in self.nodes:
                raise ValidationError(DUPLICATE_NODE.format(id=node.id), details={"id": node.id})
            self.nodes[node.id] = node
        self._index()

    def _index(self) -> None:
        children: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        dependents: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        roots: list[str] = []
        for node in sorted(self.nodes.values(), key=seq_key):
            if node.parent is None:
                roots.append(node.id)
            elif node.parent in children:
                children[node.parent].append(node.id)
            seen: set[str] = set()
            for dep in node.deps:
                if dep.id in dependents and dep.id not in seen:
                    seen.add(dep.id)
                    dependents[dep.id].append(node.id)
        self._children = children
        self._dependents = dependents
        self._roots = roots

    # -- lookups ---------------------------------------------------------------------------

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes)"

    def node(self, node_id: str) -> Node:
        """Return the node ``node_id``; raise ``NotFound`` if the graph has no such task."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise NotFound(NODE_NOT_FOUND.format(id=node_id), details={"id": node_id}) from None

    def get(self, node_id: str) -> Node | None:
        return self.nodes.get(node_id)

    def name(self, node_id: str) -> str:
        """Return the task's name, or the id itself for a task outside the graph."""
        node = self.nodes.get(node_id)
        return node.name if node is not None else node_id

    def upstream(self, node_id: str) -> tuple[Dep, ...]:
        """Return the dependencies of ``node_id`` in their declared order."""
        return self.node(node_id).deps

    def dependents(self, node_id: str) -> list[str]:
        """Return the ids of tasks that depend directly on ``node_id``, in creation order."""
        self.node(node_id)
        return list(self._dependents[node_id])

    def children(self, node_id: str) -> list[str]:
        """Return the organisational children of ``node_id``, in creation order."""
        self.node(node_id)
        return list(self._children[node_id])

    def roots(self) -> list[str]:
        """Return the ids of tasks without a parent, in creation order."""
        return list(self._roots)

    def ordered_ids(self) -> list[str]:
        """Return every id in creation order."""
        return [node.id for node in sorted(self.nodes.values(), key=seq_key)]

    # -- derived graphs ---------------------------------------------------------------------

    def replace(
        self, changes: Mapping[str, Mapping[str, Any]] | None = None, /, **changes_by_id: Mapping[str, Any]
    ) -> Graph:
        """Return a new graph with fields of some nodes replaced.

        ``changes`` maps a node id to ``{field: value}``; keyword arguments do the same for ids
        that are valid identifiers. Raise ``NotFound`` for an unknown id.
        """
        merged: dict[str, Mapping[str, Any]] = dict(changes or {})
        merged.update(changes_by_id)
        nodes = dict(self.nodes)
        structural = False
        for node_id, fields in merged.items():
            nodes[node_id] = dataclasses.replace(self.node(node_id), **fields)
            structural = structural or not _STRUCTURAL_FIELDS.isdisjoint(fields)
        if structural:
            return Graph(nodes.values())
        new = Graph.__new__(Graph)
        new.nodes = nodes
        new._children, new._dependents, new._roots = self._children, self._dependents, self._roots
        return new

    def with_status(self, node_id: str, status: Status | str, **fields: Any) -> Graph:
        """Return a new graph where ``node_id`` has ``status`` (and the other given fields)."""
        return self.replace({node_id: {"status": Status(status), **fields}})
