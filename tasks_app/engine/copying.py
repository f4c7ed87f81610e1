"""Which tasks a copy contains and how its edges are remapped (SEMANTICS "Re-execution and
copies", apflow's legacy ``tasks.copy`` modes).

A copy is always one tree: when the selected tasks are spread over several branches, the
organisational ancestors needed to join them under their lowest common ancestor are copied
too ("connectors"), and that ancestor becomes the copy's root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tasks_app.engine.graph import (
    downstream_closure,
    parent_chain,
    subtree,
    topological_order,
    tree_root,
)
from tasks_app.engine.snapshot import Dep, Graph
from tasks_app.engine.states import Status
from tasks_app.exceptions import InvalidReference, ValidationError

CopyMode = Literal["minimal", "full", "custom"]
COPY_MODES: tuple[str, ...] = ("minimal", "full", "custom")

UNKNOWN_MODE = "unknown copy mode '{mode}'; expected minimal, full or custom"
CUSTOM_NEEDS_IDS = "a custom copy needs at least one task id"
NOT_IN_TREE = "task '{ref}' is not in this tree"
MISSING_NEW_ID = "no new id for copied task '{name}'"


@dataclass(frozen=True)
class CopyPlan:
    """The tasks to copy.

    ``ids``: every copied task, dependencies first (ties in creation order). ``carry``: ids
    whose status and result are carried over as ``completed`` (``full`` mode only); every
    other copied task is reset. ``root``: the task whose copy becomes the new tree's root.
    ``connectors``: ancestors copied only to keep the copy one tree.
    """

    ids: list[str]
    carry: frozenset[str]
    root: str
    connectors: frozenset[str] = field(default_factory=frozenset)
    mode: str = "minimal"

    @property
    def reset(self) -> list[str]:
        """Return the copied ids that start over as ``pending``, in ``ids`` order."""
        return [node_id for node_id in self.ids if node_id not in self.carry]


@dataclass(frozen=True)
class CopyRemap:
    """Edges of a copy, keyed by *original* id, with values in *new* ids.

    ``parents``: new parent id (``None`` for the copy's root). ``deps``: dependencies whose
    upstream task is copied too. ``dropped``: ``(task id, upstream id)`` original edges that
    pointed outside the copy and were left out.
    """

    parents: dict[str, str | None]
    deps: dict[str, tuple[Dep, ...]]
    dropped: list[tuple[str, str]]


def plan_copy(
    graph: Graph,
    task_id: str,
    *,
    mode: CopyMode | str = "minimal",
    children: bool = False,
    custom_ids: Iterable[str] = (),
    custom_include_children: bool = False,
) -> CopyPlan:
    """Return the ``CopyPlan`` for copying ``task_id`` (only its tree is considered).

    - ``minimal``: the organisational subtree of ``task_id`` plus every task that depends on
      any task in it, transitively (shared dependents once), plus connectors. With no
      dependent outside the subtree the copy is rooted at ``task_id``.
    - ``full``: the whole tree. The tasks that must re-run -- the subtree of ``task_id`` and
      everything downstream of it -- are reset; every other ``completed`` task is carried over
      (``carry``); other unrelated tasks are reset.
    - ``custom``: ``custom_ids`` (all in the tree, else ``InvalidReference``), their subtrees if
      ``custom_include_children``, then every upstream dependency of those, plus connectors.

    ``children`` is apflow's ``copy_children``: each direct child's subtree is added. Minimal
    and full copies already contain the whole subtree of ``task_id``, so there it changes
    nothing; in custom mode it means the same as ``custom_include_children``.

    Raise ``ValidationError`` for an unknown mode and ``NotFound`` for an unknown ``task_id``.
    """
    graph.node(task_id)
    if mode not in COPY_MODES:
        raise ValidationError(UNKNOWN_MODE.format(mode=mode), details={"mode": mode})
    tree = subtree(graph, tree_root(graph, task_id))

    if mode == "full":
        rerun = downstream_closure(graph, subtree(graph, task_id)) & tree
        carry = frozenset(
            node_id
            for node_id in tree
            if node_id not in rerun and graph.nodes[node_id].status is Status.COMPLETED
        )
        return CopyPlan(_ordered(graph, tree), carry, tree_root(graph, task_id), mode=mode)

    if mode == "minimal":
        selected = downstream_closure(graph, subtree(graph, task_id)) & tree
    else:
        wanted = list(dict.fromkeys(custom_ids))
        if not wanted:
            raise ValidationError(CUSTOM_NEEDS_IDS)
        unknown = [ref for ref in wanted if ref not in tree]
        if unknown:
            raise InvalidReference([NOT_IN_TREE.format(ref=ref) for ref in unknown], details={"ids": unknown})
        base = set(wanted)
        if custom_include_children or children:
            for node_id in wanted:
                base |= subtree(graph, node_id)
        selected = _upstream(graph, base) & tree

    root, connectors = _connect(graph, selected)
    return CopyPlan(
        _ordered(graph, selected | connectors), frozenset(), root, frozenset(connectors), mode=mode
    )


def _upstream(graph: Graph, ids: set[str]) -> set[str]:
    seen = set(ids)
    stack = list(ids)
    while stack:
        for dep in graph.nodes[stack.pop()].deps:
            if dep.id in graph and dep.id not in seen:
                seen.add(dep.id)
                stack.append(dep.id)
    return seen


def _ordered(graph: Graph, ids: set[str]) -> list[str]:
    return [node_id for node_id in topological_order(graph) if node_id in ids]


def _connect(graph: Graph, selected: set[str]) -> tuple[str, set[str]]:
    """Return the lowest common organisational ancestor of ``selected`` and the tasks on the
    paths up to it that are not selected themselves."""
    chains = {node_id: [node_id, *parent_chain(graph, node_id)] for node_id in selected}
    common: list[str] | None = None
    for chain in chains.values():
        top_down = chain[::-1]
        if common is None:
            common = top_down
            continue
        length = 0
        while length < min(len(common), len(top_down)) and common[length] == top_down[length]:
            length += 1
        common = common[:length]
    assert common, "every selected task lies in one tree, so the chains share its root"
    root = common[-1]
    connectors: set[str] = set()
    for chain in chains.values():
        for node_id in chain:
            if node_id == root:
                break
            connectors.add(node_id)
    connectors.add(root)
    return root, connectors - selected


def remap(plan: CopyPlan, graph: Graph, new_ids: Mapping[str, str]) -> CopyRemap:
    """Return the copy's parents and dependencies expressed in ``new_ids`` (original -> new).

    The copy's root gets no parent; any other task gets its nearest copied organisational
    ancestor. Dependencies on tasks outside the copy are dropped and listed in ``dropped``.
    Raise ``ValidationError`` if ``new_ids`` misses a copied task.
    """
    missing = [node_id for node_id in plan.ids if node_id not in new_ids]
    if missing:
        raise ValidationError(MISSING_NEW_ID.format(name=graph.name(missing[0])), details={"ids": missing})
    copied = set(plan.ids)
    parents: dict[str, str | None] = {}
    deps: dict[str, tuple[Dep, ...]] = {}
    dropped: list[tuple[str, str]] = []
    for node_id in plan.ids:
        parents[node_id] = None
        if node_id != plan.root:
            parents[node_id] = next(
                (new_ids[ancestor] for ancestor in parent_chain(graph, node_id) if ancestor in copied), None
            )
        kept: list[Dep] = []
        for dep in graph.nodes[node_id].deps:
            if dep.id in copied:
                kept.append(Dep(new_ids[dep.id], dep.required))
            else:
                dropped.append((node_id, dep.id))
        deps[node_id] = tuple(kept)
    return CopyRemap(parents, deps, dropped)


def copy_order(plan: CopyPlan, graph: Graph) -> Sequence[str]:
    """Return ``plan.ids`` with every parent before its children (for inserting rows)."""
    position = {node_id: len(parent_chain(graph, node_id)) for node_id in plan.ids}
    return sorted(plan.ids, key=lambda node_id: (position[node_id], graph.nodes[node_id].created, node_id))
