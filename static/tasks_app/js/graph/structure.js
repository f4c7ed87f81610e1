/* Indexes and reachability over tasks: upstream, downstream, descendants, cycle and parent checks. */
// ---------------------------------------------------------------------------------------
// Indexes and reachability
// ---------------------------------------------------------------------------------------
export function asList(tasks) {
  if (Array.isArray(tasks)) return tasks;
  if (tasks instanceof Map) return Array.from(tasks.values());
  return Object.values(tasks || {});
}

export function depsOf(task) {
  return (task.deps || []).map((d) => (typeof d === "string" ? { id: d, required: true } : d));
}

/** {byId, downstream: id -> [ids that depend on it], children: id -> [child ids]} */
export function buildIndex(tasks) {
  const list = asList(tasks);
  const byId = new Map();
  const downstream = new Map();
  const children = new Map();
  for (const t of list) {
    byId.set(t.id, t);
    downstream.set(t.id, []);
    children.set(t.id, []);
  }
  for (const t of list) {
    for (const d of depsOf(t)) {
      if (downstream.has(d.id)) downstream.get(d.id).push(t.id);
    }
    if (t.parent != null && children.has(t.parent)) children.get(t.parent).push(t.id);
  }
  return { list, byId, downstream, children };
}

export function walk(start, next) {
  const seen = new Set();
  const stack = [start];
  while (stack.length) {
    const id = stack.pop();
    for (const n of next(id)) {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    }
  }
  seen.delete(start);
  return seen;
}

/** Every task the given one (transitively) depends on. */
export function upstreamOf(tasks, id, index) {
  const idx = index || buildIndex(tasks);
  return walk(id, (n) => (idx.byId.has(n) ? depsOf(idx.byId.get(n)).map((d) => d.id) : []));
}

/** Every task that (transitively) depends on the given one. */
export function downstreamOf(tasks, id, index) {
  const idx = index || buildIndex(tasks);
  return walk(id, (n) => idx.downstream.get(n) || []);
}

/** Every task below the given one in the organisational (parent/child) hierarchy. */
export function descendantsOf(tasks, id, index) {
  const idx = index || buildIndex(tasks);
  return walk(id, (n) => idx.children.get(n) || []);
}

/** A path of ids from `from` to `to` following dependency edges downstream, or null. */
export function findDownstreamPath(idx, from, to) {
  const prev = new Map([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const id = queue.shift();
    if (id === to) {
      const path = [];
      for (let cur = to; cur != null; cur = prev.get(cur)) path.unshift(cur);
      return path;
    }
    for (const n of idx.downstream.get(id) || []) {
      if (!prev.has(n)) {
        prev.set(n, id);
        queue.push(n);
      }
    }
  }
  return null;
}

export function nameOf(idx, id) {
  const t = idx.byId.get(id);
  return t && t.name ? t.name : String(id);
}

/**
 * Whether `downId` may depend on `upId`. Returns null when allowed, otherwise the reason
 * (a sentence naming the tasks). Refuses self-edges, duplicates, unknown tasks, edges across
 * trees and cycles.
 */
export function checkDependency(tasks, upId, downId, index) {
  const idx = index || buildIndex(tasks);
  if (!idx.byId.has(upId) || !idx.byId.has(downId)) return "both tasks must exist in this tree";
  const up = idx.byId.get(upId);
  const down = idx.byId.get(downId);
  if (upId === downId) return `a task cannot depend on itself ("${nameOf(idx, upId)}")`;
  if (up.tree != null && down.tree != null && String(up.tree) !== String(down.tree)) {
    return `dependencies must stay inside one tree: "${up.name}" and "${down.name}" are in different trees`;
  }
  if (depsOf(down).some((d) => d.id === upId)) return `"${down.name}" already depends on "${up.name}"`;
  const path = findDownstreamPath(idx, downId, upId);
  if (path) {
    const names = [upId].concat(path).map((id) => nameOf(idx, id));
    return `this would create a cycle: ${names.join(" → ")}`;
  }
  return null;
}

/** Whether `parentId` may become the organisational parent of `childId` (null = allowed). */
export function checkParent(tasks, parentId, childId, index) {
  const idx = index || buildIndex(tasks);
  if (parentId == null) return null;
  if (!idx.byId.has(parentId) || !idx.byId.has(childId)) return "both tasks must exist in this tree";
  const parent = idx.byId.get(parentId);
  const child = idx.byId.get(childId);
  if (parentId === childId) return `a task cannot be its own parent ("${child.name}")`;
  if (parent.tree != null && child.tree != null && String(parent.tree) !== String(child.tree)) {
    return `a parent must be in the same tree: "${parent.name}" and "${child.name}" are in different trees`;
  }
  if (descendantsOf(tasks, childId, idx).has(parentId)) {
    return `"${parent.name}" is inside the subtree of "${child.name}", so it cannot be its parent`;
  }
  return null;
}

/** Tasks in the tree with no parent; the create API wants exactly one. */
export function roots(tasks) {
  return asList(tasks).filter((t) => t.parent == null);
}
