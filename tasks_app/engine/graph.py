"""Graph algorithms over dependency edges and the organisational (parent/child) tree.

"Upstream"/"downstream" always follow dependency edges; "subtree"/"parent chain" follow the
organisational parent links, which never affect execution order.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from tasks_app.engine.snapshot import Graph, seq_key
from tasks_app.exceptions import DependencyCycle


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle of the directed graph ``edges`` (node -> successors), or ``None``.

    The path follows the edges and repeats its first node at the end (``["a", "b", "a"]``);
    a self-loop gives ``["a", "a"]``. Successors missing from ``edges`` are treated as nodes
    without successors. The search is iterative and deterministic (mapping and list order).
    """
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    adjacency = {node: list(successors) for node, successors in edges.items()}
    for start in adjacency:
        if colour.get(start, white) != white:
            continue
        path: list[str] = [start]
        position: dict[str, int] = {start: 0}
        colour[start] = grey
        stack = [iter(adjacency.get(start, ()))]
        while stack:
            successor = next(stack[-1], None)
            if successor is None:
                stack.pop()
                done = path.pop()
                del position[done]
                colour[done] = black
                continue
            state = colour.get(successor, white)
            if state == grey:
                return [*path[position[successor] :], successor]
            if state == white:
                colour[successor] = grey
                position[successor] = len(path)
                path.append(successor)
                stack.append(iter(adjacency.get(successor, ())))
    return None


def dependency_edges(graph: Graph) -> dict[str, list[str]]:
    """Return ``{id: [ids it depends on]}`` for edges inside the graph, in creation order."""
    return {
        node_id: [dep.id for dep in graph.nodes[node_id].deps if dep.id in graph.nodes]
        for node_id in graph.ordered_ids()
    }


def topological_order(graph: Graph) -> list[str]:
    """Return every id with dependencies before their dependents, ties in creation order.

    Raise ``DependencyCycle`` (naming the tasks) if the dependencies contain a cycle.
    """
    indegree: dict[str, int] = {}
    for node_id, node in graph.nodes.items():
        indegree[node_id] = len({dep.id for dep in node.deps if dep.id in graph.nodes})
    heap = [seq_key(node) for node in graph.nodes.values() if indegree[node.id] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, node_id = heapq.heappop(heap)
        order.append(node_id)
        for dependent in graph.dependents(node_id):
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(heap, seq_key(graph.nodes[dependent]))
    if len(order) != len(graph.nodes):
        placed = set(order)
        rest = {k: v for k, v in dependency_edges(graph).items() if k not in placed}
        cycle = find_cycle(rest) or []
        raise DependencyCycle([graph.name(node_id) for node_id in cycle], details={"ids": cycle})
    return order


def _walk(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        node_id = queue.popleft()
        if node_id in seen:
            continue
        seen.add(node_id)
        queue.extend(step(node_id))
    return seen


def ancestors(graph: Graph, node_id: str) -> set[str]:
    """Return every task ``node_id`` depends on, directly or transitively.

    ``node_id`` itself is included only if it lies on a dependency cycle.
    """
    graph.node(node_id)

    def step(current: str) -> list[str]:
        return [dep.id for dep in graph.nodes[current].deps if dep.id in graph.nodes]

    return _walk(step(node_id), step)


def descendants(graph: Graph, node_id: str) -> set[str]:
    """Return every task that depends on ``node_id``, directly or transitively."""
    return _walk(graph.dependents(node_id), graph.dependents)


def downstream_closure(graph: Graph, ids: Iterable[str]) -> set[str]:
    """Return ``ids`` plus every task that transitively depends on any of them."""
    return _walk(ids, graph.dependents)


def upstream_closure(graph: Graph, ids: Iterable[str]) -> set[str]:
    """Return ``ids`` plus every task any of them transitively depends on."""

    def step(current: str) -> list[str]:
        return [dep.id for dep in graph.node(current).deps if dep.id in graph.nodes]

    return _walk(ids, step)


def subtree(graph: Graph, node_id: str) -> set[str]:
    """Return ``node_id`` and all its organisational descendants (children, grandchildren, ...)."""
    return _walk([node_id], graph.children)


def parent_chain(graph: Graph, node_id: str) -> list[str]:
    """Return the organisational ancestors of ``node_id``, nearest first, stopping at a parent
    that is outside the graph or already seen (a parent cycle)."""
    chain: list[str] = []
    seen = {node_id}
    parent = graph.node(node_id).parent
    while parent is not None and parent in graph.nodes and parent not in seen:
        chain.append(parent)
        seen.add(parent)
        parent = graph.nodes[parent].parent
    return chain


def tree_root(graph: Graph, node_id: str) -> str:
    """Return the top of ``node_id``'s parent chain (``node_id`` itself for a root)."""
    chain = parent_chain(graph, node_id)
    return chain[-1] if chain else node_id


def depth(graph: Graph) -> int:
    """Return the number of levels of the deepest parent chain (a lone root is 1, empty is 0).

    Tasks caught in a parent cycle are not reachable from a root and are not counted.
    """
    deepest = 0
    level = graph.roots()
    while level:
        deepest += 1
        level = [child for node_id in level for child in graph.children(node_id)]
    return deepest


def dependency_path(graph: Graph, start: str, goal: str) -> list[str] | None:
    """Return the shortest path ``[start, ..., goal]`` where each task depends on the next one,
    or ``None`` if ``start`` does not (transitively) depend on ``goal``."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            path = [current]
            while (back := previous[path[-1]]) is not None:
                path.append(back)
            return path[::-1]
        node = graph.nodes.get(current)
        for dep in node.deps if node is not None else ():
            if dep.id not in previous and dep.id in graph.nodes:
                previous[dep.id] = current
                queue.append(dep.id)
    return None
