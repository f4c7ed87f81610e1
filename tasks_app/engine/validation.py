"""Structural validation of task trees and of dependency edits (SEMANTICS "Readiness and order" 4).

Every problem is collected before raising, and every message names the offending task by
name. The error class is the most specific one that covers *all* problems: only unknown
references -> ``InvalidReference``; only cycles (self-dependencies included) ->
``DependencyCycle``; only size limits -> ``LimitExceeded``; a mix -> ``TreeValidationError``
(``details["codes"]`` lists the code of each problem, in the same order as ``errors``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks_app.engine.graph import dependency_path, find_cycle
from tasks_app.engine.snapshot import Dep, Graph, coerce_dep
from tasks_app.exceptions import (
    DependencyCycle,
    InvalidReference,
    LimitExceeded,
    OrchestratorError,
    TreeValidationError,
    cycle_message,
)

EMPTY_TREE = "tree has no tasks"
TOO_MANY_TASKS = "tree has {count} tasks; the limit is {limit} (max_tasks)"
TOO_MANY_DEPS = "task '{name}' has {count} dependencies; the limit is {limit} (max_deps)"
TOO_DEEP = "tree is {depth} levels deep; the limit is {limit} (max_depth)"
DUPLICATE_NAME = "duplicate task name '{name}'"
DUPLICATE_KEY = "duplicate task id '{key}' (tasks {names})"
UNKNOWN_PARENT = "task '{name}' has unknown parent '{ref}'"
UNKNOWN_DEPENDENCY = "task '{name}' depends on unknown task '{ref}'"
UNKNOWN_TASK = "unknown task '{ref}'"
SELF_DEPENDENCY = "task '{name}' depends on itself"
SELF_PARENT = "task '{name}' is its own parent"
PARENT_CYCLE = "parent cycle: {path}"
WRONG_ROOT_COUNT = "tree has {count} roots: {names}; exactly one task must have no parent"
NO_ROOT = "tree has no root; exactly one task must have no parent"
NOT_AN_OBJECT = "task at index {index} is not an object"
NO_NAME = "task at index {index} has no name"
BAD_ID = "task '{name}' has an id that is not a string"
BAD_PARENT = "task '{name}' has a parent_id that is not a string"
BAD_DEPENDENCIES = "task '{name}' has dependencies that are not a list"
DEPENDENCY_WITHOUT_REF = "task '{name}' has a dependency without an id or name"
BAD_REQUIRED = "task '{name}' has a dependency on '{ref}' whose 'required' is not true or false"

# Problem kinds, mapped to the error code they would have on their own.
_REFERENCE, _CYCLE, _LIMIT, _STRUCTURE = (
    "invalid_reference",
    "circular_dependency",
    "limit_exceeded",
    "tree_validation",
)

# At most this many distinct dependency cycles are reported for one tree.
MAX_REPORTED_CYCLES = 10


@dataclass(frozen=True, slots=True)
class SpecTask:
    """One task of a tree being created, with references resolved to other tasks' ``key``.

    ``deps`` is a tuple of ``(key, required)`` pairs.
    """

    key: str
    name: str
    parent: str | None = None
    deps: tuple[tuple[str, bool], ...] = ()


@dataclass
class _Problems:
    items: list[tuple[str, str]]
    cycles: list[list[str]]
    limits: list[str]

    def add(self, kind: str, message: str) -> None:
        self.items.append((kind, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        kinds = {kind for kind, _ in self.items}
        messages = [message for _, message in self.items]
        codes = {"codes": [kind for kind, _ in self.items]}
        error: OrchestratorError
        if kinds == {_REFERENCE}:
            error = InvalidReference(messages)
        elif kinds == {_CYCLE}:
            error = DependencyCycle(self.cycles[0], errors=messages, details={"cycles": self.cycles})
        elif kinds == {_LIMIT}:
            error = LimitExceeded(
                "; ".join(messages), limit=self.limits[0], details={"limits": self.limits, "errors": messages}
            )
        else:
            error = TreeValidationError(messages, details=codes)
        raise error


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def check_task_count(count: int, max_tasks: int | None) -> None:
    """Raise ``LimitExceeded`` if a tree of ``count`` tasks is over ``max_tasks``."""
    if max_tasks is not None and count > max_tasks:
        raise LimitExceeded(
            TOO_MANY_TASKS.format(count=count, limit=max_tasks),
            limit="max_tasks",
            details={"count": count, "max": max_tasks},
        )


def validate_tree(
    tasks: Sequence[SpecTask],
    *,
    max_tasks: int | None = None,
    max_depth: int | None = None,
    max_deps: int | None = None,
) -> list[str]:
    """Return the tasks' keys in a valid order (dependencies first, ties in input order).

    Raise ``TreeValidationError`` (or one of its subclasses, see the module docstring) listing
    every problem: no tasks, duplicate names or keys, unknown parent or dependency references,
    self-dependencies, dependency cycles, a parent cycle, not exactly one root, more than
    ``max_deps`` dependencies on one task, or a tree deeper than ``max_depth`` levels (a lone
    root is one level). A tree over ``max_tasks`` is refused with ``LimitExceeded`` before
    anything else is checked.
    """
    if not tasks:
        raise TreeValidationError([EMPTY_TREE])
    check_task_count(len(tasks), max_tasks)
    problems = _Problems([], [], [])

    index: dict[str, int] = {}
    names_seen: dict[str, int] = {}
    key_names: dict[str, list[str]] = {}
    for position, task in enumerate(tasks):
        index.setdefault(task.key, position)
        key_names.setdefault(task.key, []).append(task.name)
        names_seen[task.name] = names_seen.get(task.name, 0) + 1
    for name, count in names_seen.items():
        if count > 1:
            problems.add(_STRUCTURE, DUPLICATE_NAME.format(name=name))
    for key, names in key_names.items():
        if len(names) > 1 and len(set(names)) > 1:
            problems.add(_STRUCTURE, DUPLICATE_KEY.format(key=key, names=_quoted(dict.fromkeys(names))))

    name_of = {key: tasks[position].name for key, position in index.items()}
    dep_edges: dict[str, list[str]] = {}
    parent_edges: dict[str, list[str]] = {}
    for position, task in enumerate(tasks):
        first = index[task.key] == position  # only the first task with a key joins the graph checks
        if task.parent is not None and task.parent not in index:
            problems.add(_REFERENCE, UNKNOWN_PARENT.format(name=task.name, ref=task.parent))
        deps = task.deps
        dep_keys = [deps[0][0]] if len(deps) == 1 else list(dict.fromkeys([key for key, _ in deps]))
        for key in dep_keys:
            if key not in index:
                problems.add(_REFERENCE, UNKNOWN_DEPENDENCY.format(name=task.name, ref=key))
            elif key == task.key:
                problems.add(_CYCLE, SELF_DEPENDENCY.format(name=task.name))
                problems.cycles.append([task.name, task.name])
        if max_deps is not None and len(dep_keys) > max_deps:
            problems.add(_LIMIT, TOO_MANY_DEPS.format(name=task.name, count=len(dep_keys), limit=max_deps))
            problems.limits.append("max_deps")
        if first:
            dep_edges[task.key] = [key for key in dep_keys if key in index and key != task.key]
            parent_edges[task.key] = [task.parent] if task.parent in index else []

    order = _ordered_keys(tasks, dep_edges, index)
    if len(order) < len(dep_edges):  # only then is there a cycle to find
        for cycle in _all_cycles(dep_edges):
            names = [name_of[key] for key in cycle]
            problems.add(_CYCLE, cycle_message(names))
            problems.cycles.append(names)

    roots = [task.name for task in tasks if task.parent is None]
    if len(roots) > 1:
        problems.add(_STRUCTURE, WRONG_ROOT_COUNT.format(count=len(roots), names=_quoted(roots)))
    elif not roots:
        problems.add(_STRUCTURE, NO_ROOT)

    levels, reached = _tree_levels(parent_edges)
    remaining = dict(parent_edges) if reached < len(parent_edges) else {}  # unreached: on or under a cycle
    while (loop := find_cycle(remaining)) is not None:
        if len(loop) == 2:
            problems.add(_STRUCTURE, SELF_PARENT.format(name=name_of[loop[0]]))
        else:
            problems.add(_STRUCTURE, PARENT_CYCLE.format(path=" -> ".join(name_of[key] for key in loop)))
        for key in loop:
            remaining.pop(key, None)

    if max_depth is not None and levels > max_depth:
        problems.add(_LIMIT, TOO_DEEP.format(depth=levels, limit=max_depth))
        problems.limits.append("max_depth")

    problems.raise_if_any()
    return order


def _all_cycles(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Return up to ``MAX_REPORTED_CYCLES`` distinct cycles, removing one edge of each found."""
    remaining = {key: list(values) for key, values in edges.items()}
    cycles: list[list[str]] = []
    while len(cycles) < MAX_REPORTED_CYCLES and (cycle := find_cycle(remaining)) is not None:
        cycles.append(cycle)
        remaining[cycle[-2]].remove(cycle[-1])
    return cycles


def _tree_levels(parent_edges: Mapping[str, list[str]]) -> tuple[int, int]:
    """Return how many levels the organisational tree has below its roots, and how many tasks
    those levels reach (fewer than all: some task is on or under a parent cycle)."""
    children: dict[str, list[str]] = {key: [] for key in parent_edges}
    level = []
    for key, parents in parent_edges.items():
        if parents:
            children[parents[0]].append(key)
        else:
            level.append(key)
    levels = reached = 0
    while level:
        levels += 1
        reached += len(level)
        level = [child for key in level for child in children[key]]
    return levels, reached


def _ordered_keys(
    tasks: Sequence[SpecTask], dep_edges: Mapping[str, list[str]], index: Mapping[str, int]
) -> list[str]:
    indegree = {key: len(deps) for key, deps in dep_edges.items()}
    dependents: dict[str, list[str]] = {key: [] for key in dep_edges}
    for key, deps in dep_edges.items():
        for dep in deps:
            dependents[dep].append(key)
    heap = [(index[key], key) for key, count in indegree.items() if count == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, key = heapq.heappop(heap)
        order.append(key)
        for dependent in dependents[key]:
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(heap, (index[dependent], dependent))
    return order


# -- apflow's task array ------------------------------------------------------------------------


def _as_ref(value: Any) -> str | None:
    """Return a reference as a string (ints are accepted), ``None`` for empty, raise for others."""
    if type(value) is str:  # the usual case first
        return value or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError
    return str(value)


def resolve_refs(raw: Sequence[Mapping[str, Any]], *, strict: bool = True) -> list[SpecTask]:
    """Return ``SpecTask``s for apflow's array format, with references resolved to keys.

    Each item has a required ``name``, an optional client ``id`` (the key is the id, else the
    name), an optional ``parent_id`` and optional ``dependencies``; references may be ids or
    names of tasks in the same array (an id match wins over a name match). A dependency is a
    bare string, ``{"id": x, "required": bool}`` or ``{"name": x, ...}``; ``required`` defaults
    to true. Repeated references to one task collapse into one dependency (first position kept,
    required if any occurrence is required).

    Raise ``TreeValidationError`` for malformed items. Unknown references raise
    ``InvalidReference`` listing all of them; with ``strict=False`` they are kept as given
    instead, so that ``validate_tree`` reports them together with every other problem.
    Duplicate names and ids are left for ``validate_tree`` to report (the first task wins
    reference lookups).
    """
    shape: list[str] = []
    references: list[str] = []
    prepared: list[tuple[str, str, Any, Any]] = []
    by_key: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for position, item in enumerate(raw):
        if type(item) is not dict and not isinstance(item, Mapping):  # (the ABC check is slow)
            shape.append(NOT_AN_OBJECT.format(index=position))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            shape.append(NO_NAME.format(index=position))
            continue
        try:
            client_id = _as_ref(item.get("id"))
        except TypeError:
            shape.append(BAD_ID.format(name=name))
            continue
        key = client_id if client_id is not None else name
        by_key.setdefault(key, key)
        by_name.setdefault(name, key)
        prepared.append((key, name, item.get("parent_id"), item.get("dependencies")))

    def resolve(ref: str) -> str | None:
        return by_key.get(ref, by_name.get(ref))

    specs: list[SpecTask] = []
    for key, name, raw_parent, raw_deps in prepared:
        try:
            parent_ref = _as_ref(raw_parent)
        except TypeError:
            shape.append(BAD_PARENT.format(name=name))
            parent_ref = None
        parent = None
        if parent_ref is not None:
            parent = resolve(parent_ref)
            if parent is None:
                references.append(UNKNOWN_PARENT.format(name=name, ref=parent_ref))
                parent = parent_ref
        deps: dict[str, bool] = {}
        if raw_deps is None:
            raw_deps = []
        if not isinstance(raw_deps, (list, tuple)):
            shape.append(BAD_DEPENDENCIES.format(name=name))
            raw_deps = []
        for raw_dep in raw_deps:
            required: Any = True
            try:
                if type(raw_dep) is not str and isinstance(raw_dep, Mapping):
                    ref = _as_ref(raw_dep.get("id")) or _as_ref(raw_dep.get("name"))
                    required = raw_dep.get("required", True)
                else:
                    ref = _as_ref(raw_dep)
            except TypeError:
                ref = None
            if ref is None:
                shape.append(DEPENDENCY_WITHOUT_REF.format(name=name))
                continue
            if not isinstance(required, bool):
                shape.append(BAD_REQUIRED.format(name=name, ref=ref))
                continue
            target = resolve(ref)
            if target is None:
                message = UNKNOWN_DEPENDENCY.format(name=name, ref=ref)
                if message not in references:
                    references.append(message)
                target = ref
            deps[target] = deps.get(target, False) or required
        specs.append(SpecTask(key, name, parent, tuple(deps.items())))

    if shape:
        raise TreeValidationError(shape + references)
    if references and strict:
        raise InvalidReference(references)
    return specs


def validate_spec(
    raw: Sequence[Mapping[str, Any]],
    *,
    max_tasks: int | None = None,
    max_depth: int | None = None,
    max_deps: int | None = None,
) -> tuple[list[SpecTask], list[str]]:
    """Resolve and validate apflow's task array in one step, reporting every problem at once.

    Return ``(specs, keys in a valid order)``; raise like ``resolve_refs`` / ``validate_tree``.
    """
    if not raw:
        raise TreeValidationError([EMPTY_TREE])
    check_task_count(len(raw), max_tasks)
    specs = resolve_refs(raw, strict=False)
    return specs, validate_tree(specs, max_depth=max_depth, max_deps=max_deps)


# -- edits to an existing graph ---------------------------------------------------------------


def _cycle_through(graph: Graph, downstream_id: str, upstream_id: str) -> list[str] | None:
    """Return the cycle (as ids) that a new edge ``downstream -> upstream`` would close, if any."""
    path = dependency_path(graph, upstream_id, downstream_id)
    return None if path is None else [downstream_id, *path]


def validate_new_edge(graph: Graph, upstream_id: str, downstream_id: str) -> None:
    """Check that ``downstream_id`` may start depending on ``upstream_id``.

    Raise ``InvalidReference`` for an id that is not in the graph (which holds one tree, so
    this also refuses cross-tree edges) and ``DependencyCycle`` for a self-dependency or an
    edge that would close a cycle (the message names the path). An existing edge is accepted.
    """
    missing = [ref for ref in dict.fromkeys([downstream_id, upstream_id]) if ref not in graph]
    if missing:
        raise InvalidReference([UNKNOWN_TASK.format(ref=ref) for ref in missing], details={"ids": missing})
    if upstream_id == downstream_id:
        name = graph.name(upstream_id)
        raise DependencyCycle([name, name], errors=[SELF_DEPENDENCY.format(name=name)])
    cycle = _cycle_through(graph, downstream_id, upstream_id)
    if cycle is not None:
        raise DependencyCycle([graph.name(node_id) for node_id in cycle], details={"ids": cycle})


def validate_dependencies(
    graph: Graph,
    task_id: str,
    deps: Iterable[Dep | str | tuple[str, bool] | Mapping[str, Any]],
    *,
    max_deps: int | None = None,
) -> tuple[Dep, ...]:
    """Return ``deps`` normalised (``Dep``s, repeats collapsed) as the new dependency list of
    ``task_id``, replacing its current one.

    Raise like ``validate_new_edge`` (all problems collected), and ``LimitExceeded`` if more
    than ``max_deps`` remain.
    """
    graph.node(task_id)
    merged: dict[str, bool] = {}
    for raw_dep in deps:
        dep = coerce_dep(raw_dep)
        merged[dep.id] = merged.get(dep.id, False) or dep.required
    problems = _Problems([], [], [])
    name = graph.name(task_id)
    for dep_id in merged:
        if dep_id not in graph:
            problems.add(_REFERENCE, UNKNOWN_DEPENDENCY.format(name=name, ref=dep_id))
        elif dep_id == task_id:
            problems.add(_CYCLE, SELF_DEPENDENCY.format(name=name))
            problems.cycles.append([name, name])
        elif (cycle := _cycle_through(graph, task_id, dep_id)) is not None:
            names = [graph.name(node_id) for node_id in cycle]
            problems.add(_CYCLE, cycle_message(names))
            problems.cycles.append(names)
    if max_deps is not None and len(merged) > max_deps:
        problems.add(_LIMIT, TOO_MANY_DEPS.format(name=name, count=len(merged), limit=max_deps))
        problems.limits.append("max_deps")
    problems.raise_if_any()
    return tuple(Dep(dep_id, required) for dep_id, required in merged.items())
