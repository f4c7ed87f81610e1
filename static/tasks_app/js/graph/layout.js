/* The layered layout for large graphs (also run in the layout worker) and the structure key that caches layouts. */
import { asList, buildIndex, depsOf } from "./structure.js";

// ---------------------------------------------------------------------------------------
// Layered layout (cheap Sugiyama): used for large graphs, in a Web Worker.
// ---------------------------------------------------------------------------------------
export class MinHeap {
  constructor(less) {
    this.items = [];
    this.less = less;
  }
  get size() {
    return this.items.length;
  }
  push(x) {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop() {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Rank and order tasks left to right. Dependency edges always go forward; a parent -> child
 * edge is used as a constraint only when it agrees with the dependency order (a parent that
 * depends on its children, as aggregators do, stays to their right).
 * Returns {positions: {id: {x, y}}, ranks: {id: rank}, width, height}.
 */
export function layeredLayout(tasks, options) {
  const opts = Object.assign(
    { nodeWidth: 170, nodeHeight: 46, rankGap: 70, nodeGap: 22, sweeps: 4 },
    options,
  );
  const idx = buildIndex(tasks);
  const list = idx.list;
  const pos = new Map(list.map((t, i) => [t.id, i]));
  // depth in the parent hierarchy, to prefer parents before children
  const depth = new Map();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    let d = 0;
    let cur = idx.byId.get(id);
    const guard = new Set();
    while (cur && cur.parent != null && idx.byId.has(cur.parent) && !guard.has(cur.id)) {
      guard.add(cur.id);
      d += 1;
      cur = idx.byId.get(cur.parent);
    }
    depth.set(id, d);
    return d;
  };
  // Kahn's algorithm over dependency edges
  const indeg = new Map(list.map((t) => [t.id, 0]));
  for (const t of list) {
    for (const d of depsOf(t)) if (idx.byId.has(d.id)) indeg.set(t.id, indeg.get(t.id) + 1);
  }
  const heap = new MinHeap((a, b) => {
    const da = depthOf(a);
    const db = depthOf(b);
    return da !== db ? da < db : pos.get(a) < pos.get(b);
  });
  for (const t of list) if (indeg.get(t.id) === 0) heap.push(t.id);
  const topo = [];
  while (heap.size) {
    const id = heap.pop();
    topo.push(id);
    for (const n of idx.downstream.get(id)) {
      indeg.set(n, indeg.get(n) - 1);
      if (indeg.get(n) === 0) heap.push(n);
    }
  }
  if (topo.length < list.length) {
    // a cycle (only possible in invalid input): append the rest in list order
    const inTopo = new Set(topo);
    for (const t of list) if (!inTopo.has(t.id)) topo.push(t.id);
  }
  const order = new Map(topo.map((id, i) => [id, i]));
  // predecessors in the combined constraint graph
  const preds = new Map(list.map((t) => [t.id, []]));
  for (const t of list) {
    for (const d of depsOf(t)) {
      if (idx.byId.has(d.id) && order.get(d.id) < order.get(t.id)) preds.get(t.id).push(d.id);
    }
    if (t.parent != null && idx.byId.has(t.parent) && order.get(t.parent) < order.get(t.id)) {
      preds.get(t.id).push(t.parent);
    }
  }
  const rank = new Map();
  for (const id of topo) {
    let r = 0;
    for (const p of preds.get(id)) r = Math.max(r, rank.get(p) + 1);
    rank.set(id, r);
  }
  const succs = new Map(list.map((t) => [t.id, []]));
  for (const [id, ps] of preds) for (const p of ps) succs.get(p).push(id);
  // layers, initially in topological order
  const layers = [];
  for (const id of topo) {
    const r = rank.get(id);
    (layers[r] = layers[r] || []).push(id);
  }
  const frac = new Map();
  const refresh = (layer) => layer.forEach((id, i) => frac.set(id, (i + 0.5) / layer.length));
  layers.forEach(refresh);
  const bary = (id, neigh) => {
    const ns = neigh.get(id);
    if (!ns.length) return frac.get(id);
    let s = 0;
    for (const n of ns) s += frac.get(n);
    return s / ns.length;
  };
  for (let s = 0; s < opts.sweeps; s += 1) {
    const forward = s % 2 === 0;
    const seq = forward ? layers.keys() : Array.from(layers.keys()).reverse();
    for (const r of seq) {
      if (forward ? r === 0 : r === layers.length - 1) continue;
      const neigh = forward ? preds : succs;
      const layer = layers[r];
      const key = new Map(layer.map((id) => [id, bary(id, neigh)]));
      layer.sort((a, b) => key.get(a) - key.get(b) || order.get(a) - order.get(b));
      refresh(layer);
    }
  }
  // A very wide rank (hundreds of siblings) is folded into several sub-columns of at most
  // `maxRows` tasks, so a large tree keeps a readable aspect ratio instead of one tall column.
  const maxRows = opts.maxRows || Math.max(24, Math.ceil(Math.sqrt(list.length) * 1.5));
  const positions = {};
  const ranks = {};
  let tallest = 0;
  for (const layer of layers) tallest = Math.max(tallest, Math.min(layer.length, maxRows));
  const rowH = opts.nodeHeight + opts.nodeGap;
  const colW = opts.nodeWidth + opts.rankGap;
  const subW = opts.nodeWidth + opts.nodeGap * 2;
  let x = 0;
  layers.forEach((layer, r) => {
    const cols = Math.ceil(layer.length / maxRows);
    const perCol = Math.ceil(layer.length / cols);
    layer.forEach((id, i) => {
      const c = Math.floor(i / perCol);
      const row = i % perCol;
      const inCol = Math.min(perCol, layer.length - c * perCol);
      const offset = ((tallest - inCol) * rowH) / 2;
      positions[id] = { x: x + c * subW, y: offset + row * rowH };
      ranks[id] = r;
    });
    x += (cols - 1) * subW + colW;
  });
  return { positions, ranks, width: x, height: tallest * rowH };
}

/** A short hash of the structure (ids, parents, dependencies): a layout cache key. */
export function structureKey(tasks) {
  const parts = asList(tasks)
    .map(
      (t) =>
        `${t.id}|${t.parent || ""}|${depsOf(t)
          .map((d) => d.id)
          .sort()
          .join(",")}`,
    )
    .sort();
  let h = 0x811c9dc5;
  const text = parts.join(";");
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${parts.length}-${h.toString(16)}`;
}
