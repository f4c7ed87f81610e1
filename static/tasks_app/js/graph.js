/*
 * Arbor graph helpers: pure functions over plain task objects, no DOM, no Cytoscape.
 *
 * Loaded three ways: a classic <script> (window.ArborGraph), importScripts() in the layout
 * Web Worker (self.ArborGraph), and require() under `node --test` (module.exports).
 *
 * Task shape used throughout ("node"): {id, name, parent: id|null, deps: [{id, required}], ...}.
 * A dependency edge points from the upstream task to the task that needs it (execution flow).
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.ArborGraph = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // ---------------------------------------------------------------------------------------
  // Statuses: every visual state has a label and an icon, never colour alone.
  // ---------------------------------------------------------------------------------------
  const STATES = {
    pending: { label: "Pending", icon: "○" },
    waiting: { label: "Waiting for resource", icon: "◔" },
    retrying: { label: "Retry scheduled", icon: "↻" },
    in_progress: { label: "Running", icon: "▶" },
    completed: { label: "Completed", icon: "✓" },
    failed: { label: "Failed", icon: "✕" },
    cancelled: { label: "Cancelled", icon: "⊘" },
    blocked: { label: "Blocked: upstream failed", icon: "⚠" },
  };
  const STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"];
  const UPSTREAM_FAILED = "upstream_failed";
  const UPSTREAM_CANCELLED = "upstream_cancelled";
  // a task that never ran because a required upstream task was cancelled by a user: drawn like a
  // blocked task, but never called a failure (SEMANTICS "Failure, cancellation, retries")
  const BLOCKED_CANCELLED = { label: "Blocked: upstream cancelled", icon: "⊘" };

  /** The visual state of a task: its status, refined by why a pending task waits or a
   * cancelled one never ran. */
  function visualState(task) {
    const status = task && task.status ? task.status : "pending";
    if (status === "pending") {
      if (task.waiting_reason) return "waiting";
      if ((task.attempt_count || 0) > 0 && task.error) return "retrying";
      return "pending";
    }
    if (status === "cancelled" && (task.error_type === UPSTREAM_FAILED || task.error_type === UPSTREAM_CANCELLED)) return "blocked";
    return STATES[status] ? status : "pending";
  }

  /** Label and icon of a visual state; given the task, a task blocked by a cancel says so. */
  function stateInfo(key, task) {
    if (key === "blocked" && task && task.error_type === UPSTREAM_CANCELLED) return BLOCKED_CANCELLED;
    return STATES[key] || STATES.pending;
  }

  /** A tree's (or run's) status as words: "Completed · 1 failure handled" when an optional
   * dependency handled failures (they did not fail the run). */
  function treeStatusLabel(tree) {
    const label = stateInfo(tree && tree.status ? tree.status : "pending").label;
    const n = (tree && tree.handled_failures) || 0;
    return n ? `${label} · ${n} failure${n === 1 ? "" : "s"} handled` : label;
  }

  // ---------------------------------------------------------------------------------------
  // Indexes and reachability
  // ---------------------------------------------------------------------------------------
  function asList(tasks) {
    if (Array.isArray(tasks)) return tasks;
    if (tasks instanceof Map) return Array.from(tasks.values());
    return Object.values(tasks || {});
  }

  function depsOf(task) {
    return (task.deps || []).map((d) => (typeof d === "string" ? { id: d, required: true } : d));
  }

  /** {byId, downstream: id -> [ids that depend on it], children: id -> [child ids]} */
  function buildIndex(tasks) {
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

  function walk(start, next) {
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
  function upstreamOf(tasks, id, index) {
    const idx = index || buildIndex(tasks);
    return walk(id, (n) => (idx.byId.has(n) ? depsOf(idx.byId.get(n)).map((d) => d.id) : []));
  }

  /** Every task that (transitively) depends on the given one. */
  function downstreamOf(tasks, id, index) {
    const idx = index || buildIndex(tasks);
    return walk(id, (n) => idx.downstream.get(n) || []);
  }

  /** Every task below the given one in the organisational (parent/child) hierarchy. */
  function descendantsOf(tasks, id, index) {
    const idx = index || buildIndex(tasks);
    return walk(id, (n) => idx.children.get(n) || []);
  }

  /** A path of ids from `from` to `to` following dependency edges downstream, or null. */
  function findDownstreamPath(idx, from, to) {
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

  function nameOf(idx, id) {
    const t = idx.byId.get(id);
    return t && t.name ? t.name : String(id);
  }

  /**
   * Whether `downId` may depend on `upId`. Returns null when allowed, otherwise the reason
   * (a sentence naming the tasks). Refuses self-edges, duplicates, unknown tasks, edges across
   * trees and cycles.
   */
  function checkDependency(tasks, upId, downId, index) {
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
  function checkParent(tasks, parentId, childId, index) {
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
  function roots(tasks) {
    return asList(tasks).filter((t) => t.parent == null);
  }

  // ---------------------------------------------------------------------------------------
  // The tasks.create array format <-> editor nodes
  // ---------------------------------------------------------------------------------------
  const OPTIONAL_FIELDS = [
    "priority", "inputs", "params", "resources", "timeout", "max_retries", "retry_delay", "tags", "metadata",
    "schemas", "description",
  ];

  function isEmpty(value) {
    if (value == null || value === "") return true;
    if (Array.isArray(value)) return value.length === 0;
    if (typeof value === "object") return Object.keys(value).length === 0;
    return false;
  }

  /** Editor nodes -> the array POST /api/v1/trees/ and /api/v1/validate/ accept. */
  function toTaskArray(tasks) {
    return asList(tasks).map((t) => {
      const out = { id: String(t.id), name: t.name, executor: t.executor };
      if (t.parent != null) out.parent_id = String(t.parent);
      const deps = depsOf(t);
      if (deps.length) out.dependencies = deps.map((d) => ({ id: String(d.id), required: d.required !== false }));
      for (const key of OPTIONAL_FIELDS) {
        if (!isEmpty(t[key])) out[key] = t[key];
      }
      return out;
    });
  }

  /** The create array (or {tasks: [...]}) -> {tasks: editor nodes, errors: [messages]}. */
  function fromTaskArray(input) {
    const errors = [];
    let array = input;
    if (array && !Array.isArray(array) && Array.isArray(array.tasks)) array = array.tasks;
    if (!Array.isArray(array)) return { tasks: [], errors: ["expected a JSON array of tasks (or {\"tasks\": [...]})"] };
    const tasks = [];
    const seen = new Set();
    array.forEach((raw, i) => {
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
        errors.push(`task #${i + 1} is not an object`);
        return;
      }
      const id = raw.id != null ? String(raw.id) : `t${i + 1}`;
      if (seen.has(id)) errors.push(`duplicate task id "${id}"`);
      seen.add(id);
      const node = {
        id,
        name: raw.name != null ? String(raw.name) : id,
        executor: raw.executor || (raw.params && raw.params.executor_id) || (raw.schemas && raw.schemas.method) || "",
        parent: raw.parent_id != null ? String(raw.parent_id) : raw.parent != null ? String(raw.parent) : null,
        deps: (raw.dependencies || []).map((d) =>
          typeof d === "string" ? { id: d, required: true } : { id: String(d.id), required: d.required !== false }
        ),
      };
      for (const key of OPTIONAL_FIELDS) {
        if (raw[key] !== undefined && raw[key] !== null) node[key] = raw[key];
      }
      tasks.push(node);
    });
    for (const t of tasks) {
      if (t.parent != null && !seen.has(t.parent)) errors.push(`"${t.name}": unknown parent_id "${t.parent}"`);
      for (const d of t.deps) {
        if (!seen.has(d.id)) errors.push(`"${t.name}": unknown dependency "${d.id}"`);
      }
    }
    return { tasks, errors };
  }

  /** Task representations of the REST API -> graph nodes (keeps every other field). */
  function fromApiTasks(apiTasks) {
    return (apiTasks || []).map((t) => {
      const node = Object.assign({}, t);
      node.id = String(t.id);
      node.parent = t.parent != null ? String(t.parent) : null;
      node.deps = (t.dependencies || []).map((d) => ({ id: String(d.id), required: d.required !== false }));
      return node;
    });
  }

  function nextId(tasks) {
    const ids = new Set(asList(tasks).map((t) => String(t.id)));
    let n = ids.size + 1;
    while (ids.has(`t${n}`)) n += 1;
    return `t${n}`;
  }

  function uniqueName(tasks, base) {
    const names = new Set(asList(tasks).map((t) => t.name));
    if (!names.has(base)) return base;
    let n = 2;
    while (names.has(`${base}-${n}`)) n += 1;
    return `${base}-${n}`;
  }

  // ---------------------------------------------------------------------------------------
  // Layered layout (cheap Sugiyama): used for large graphs, in a Web Worker.
  // ---------------------------------------------------------------------------------------
  class MinHeap {
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
  function layeredLayout(tasks, options) {
    const opts = Object.assign({ nodeWidth: 170, nodeHeight: 46, rankGap: 70, nodeGap: 22, sweeps: 4 }, options);
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
  function structureKey(tasks) {
    const parts = asList(tasks)
      .map((t) => `${t.id}|${t.parent || ""}|${depsOf(t).map((d) => d.id).sort().join(",")}`)
      .sort();
    let h = 0x811c9dc5;
    const text = parts.join(";");
    for (let i = 0; i < text.length; i += 1) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return `${parts.length}-${h.toString(16)}`;
  }

  // ---------------------------------------------------------------------------------------
  // Live events: per-tree sequence numbers, applied in order exactly once.
  // ---------------------------------------------------------------------------------------
  class EventSequencer {
    constructor(seq) {
      this.seq = seq || 0;
      this.buffer = new Map();
    }
    /** Reset to a snapshot's sequence number; buffered events at or below it are dropped. */
    reset(seq) {
      this.seq = seq || 0;
      for (const s of Array.from(this.buffer.keys())) if (s <= this.seq) this.buffer.delete(s);
    }
    /** Offer events (any order, duplicates allowed); returns the ones now ready, in order. */
    push(events) {
      for (const ev of [].concat(events || [])) {
        if (ev && typeof ev.seq === "number" && ev.seq > this.seq) this.buffer.set(ev.seq, ev);
      }
      const ready = [];
      while (this.buffer.has(this.seq + 1)) {
        this.seq += 1;
        ready.push(this.buffer.get(this.seq));
        this.buffer.delete(this.seq);
      }
      return ready;
    }
    /** True while a later event waits for a missing one (the caller should catch up over REST). */
    hasGap() {
      return this.buffer.size > 0;
    }
  }

  /** What an event changes on a task: {id, patch} or null (tree-level or unknown events). */
  function taskPatch(ev) {
    if (!ev || !ev.task) return null;
    const data = ev.data || {};
    const patch = {};
    if (ev.kind === "task.status") {
      patch.status = data.status;
      for (const key of ["error", "error_type", "waiting_reason", "progress", "progress_message", "result"]) {
        if (key in data) patch[key] = data[key];
      }
      if (data.status === "pending" && !("waiting_reason" in data)) patch.waiting_reason = "";
      if ("attempt" in data && typeof data.attempt === "number") patch.attempt_count = data.attempt;
      if (data.status === "completed") patch.progress = 1;
      if (data.status === "pending" && !("error" in data)) patch.error = null;
      if (data.status !== "cancelled" && !("error_type" in data)) patch.error_type = null;
    } else if (ev.kind === "task.progress") {
      if ("progress" in data) patch.progress = data.progress;
      if ("message" in data) patch.progress_message = data.message;
    } else if (ev.kind === "task.waiting") {
      patch.waiting_reason = data.reason || data.waiting_reason || "";
    } else if (ev.kind === "task.ready") {
      patch.waiting_reason = "";
    } else {
      return null;
    }
    return { id: String(ev.task), patch };
  }

  // ---------------------------------------------------------------------------------------
  // Executor input_schema -> form fields
  // ---------------------------------------------------------------------------------------
  function schemaFields(schema) {
    if (!schema || typeof schema !== "object" || !schema.properties) return [];
    const required = new Set(schema.required || []);
    return Object.keys(schema.properties).map((name) => {
      const prop = schema.properties[name] || {};
      let type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
      if (Array.isArray(prop.enum)) type = "enum";
      else if (!["number", "integer", "boolean", "string"].includes(type)) type = "json";
      return {
        name,
        type,
        title: prop.title || name,
        description: prop.description || "",
        default: prop.default,
        enum: prop.enum || null,
        minimum: prop.minimum,
        maximum: prop.maximum,
        required: required.has(name),
      };
    });
  }

  /** Parse one form value for a schema field: {value} (undefined = leave unset) or {error}. */
  function coerceField(field, raw) {
    if (field.type === "boolean") return { value: Boolean(raw) };
    const text = raw == null ? "" : String(raw).trim();
    if (text === "") {
      return field.required ? { error: `${field.title} is required` } : { value: undefined };
    }
    if (field.type === "number" || field.type === "integer") {
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: `${field.title} must be a number` };
      if (field.type === "integer" && !Number.isInteger(n)) return { error: `${field.title} must be a whole number` };
      if (field.minimum != null && n < field.minimum) return { error: `${field.title} must be ≥ ${field.minimum}` };
      if (field.maximum != null && n > field.maximum) return { error: `${field.title} must be ≤ ${field.maximum}` };
      return { value: n };
    }
    if (field.type === "enum") {
      const match = field.enum.find((v) => String(v) === text);
      return match === undefined ? { error: `${field.title} must be one of ${field.enum.join(", ")}` } : { value: match };
    }
    if (field.type === "json") {
      try {
        return { value: JSON.parse(text) };
      } catch (e) {
        return { value: text }; // a bare string is a fine JSON value for an untyped field
      }
    }
    return { value: text };
  }

  // ---------------------------------------------------------------------------------------
  // Undo / redo: a stack of snapshots (editor models are small; snapshots are simple and exact).
  // ---------------------------------------------------------------------------------------
  class UndoStack {
    constructor(limit) {
      this.limit = limit || 200;
      this.past = [];
      this.future = [];
    }
    /** Remember the state before a change (and forget anything undone). */
    record(before) {
      this.past.push(before);
      if (this.past.length > this.limit) this.past.shift();
      this.future = [];
    }
    undo(current) {
      if (!this.past.length) return null;
      this.future.push(current);
      return this.past.pop();
    }
    redo(current) {
      if (!this.future.length) return null;
      this.past.push(current);
      return this.future.pop();
    }
    get canUndo() {
      return this.past.length > 0;
    }
    get canRedo() {
      return this.future.length > 0;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Time helpers for the Gantt chart and the throughput chart
  // ---------------------------------------------------------------------------------------
  function toMs(value) {
    if (value == null) return null;
    const t = typeof value === "number" ? value : Date.parse(value);
    return Number.isFinite(t) ? t : null;
  }

  /** Attempts -> Gantt rows sorted by start: {id, task, label, start, end, outcome, running}. */
  function ganttRows(attempts, namesById, now) {
    const rows = [];
    for (const a of attempts || []) {
      const start = toMs(a.started_at);
      if (start == null) continue;
      const end = toMs(a.finished_at);
      const taskId = String(a.task || a.task_id || "");
      rows.push({
        id: String(a.id),
        task: taskId,
        label: `${(namesById && namesById[taskId]) || taskId} #${a.number || 1}`,
        start,
        end: end == null ? now : end,
        outcome: a.outcome || (end == null ? "running" : "completed"),
        running: end == null,
      });
    }
    rows.sort((a, b) => a.start - b.start || a.label.localeCompare(b.label));
    return rows;
  }

  /** Count timestamps into `count` buckets of `bucketMs` ending at `now` (oldest first). */
  function bucketTimes(timestamps, bucketMs, now, count) {
    const buckets = new Array(count).fill(0);
    const start = now - bucketMs * count;
    for (const ts of timestamps) {
      const t = toMs(ts);
      if (t == null || t < start || t > now) continue;
      const i = Math.min(count - 1, Math.floor((t - start) / bucketMs));
      buckets[i] += 1;
    }
    return buckets;
  }

  function formatDuration(seconds) {
    if (seconds == null || !Number.isFinite(seconds)) return "—";
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    const m = Math.floor(seconds / 60);
    const s = Math.round(seconds % 60);
    if (m < 60) return `${m} min ${s} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  return {
    STATES,
    STATUSES,
    UPSTREAM_FAILED,
    UPSTREAM_CANCELLED,
    visualState,
    stateInfo,
    treeStatusLabel,
    buildIndex,
    upstreamOf,
    downstreamOf,
    descendantsOf,
    checkDependency,
    checkParent,
    roots,
    toTaskArray,
    fromTaskArray,
    fromApiTasks,
    nextId,
    uniqueName,
    layeredLayout,
    structureKey,
    EventSequencer,
    taskPatch,
    schemaFields,
    coerceField,
    UndoStack,
    ganttRows,
    bucketTimes,
    formatDuration,
  };
});
