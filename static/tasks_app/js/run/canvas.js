/* The run view's graph: loading the tree, layout (cached per structure), selection, collapsed subtrees of big trees, the upstream/downstream filter. */
import * as G from "../graph.js";
import { api } from "../api.js";
import * as cygraph from "../cygraph.js";
import * as ui from "../ui.js";
import { h, $ } from "../ui.js";
import { TREE, big, els, mark, nameOf, state, task, view } from "./state.js";

export let cy = null;
// ---- loading and drawing ------------------------------------------------------------------
export function layoutCacheKey(key) {
  return `arbor.layout.v2.${TREE}.${key}`;
}
export function cachedPositions(key) {
  try {
    const raw = localStorage.getItem(layoutCacheKey(key));
    return raw ? JSON.parse(raw) : null;
  } catch (e) {
    return null;
  }
}
export function cachePositions(key, positions) {
  try {
    for (let i = localStorage.length - 1; i >= 0; i -= 1) {
      const k = localStorage.key(i);
      if (k && k.startsWith("arbor.layout.") && k.includes(TREE) && k !== layoutCacheKey(key))
        localStorage.removeItem(k);
    }
    localStorage.setItem(layoutCacheKey(key), JSON.stringify(positions));
  } catch (e) {
    /* storage full or disabled: layout again next time */
  }
}

export function ingest(detail) {
  state.tree = detail;
  state.nodes = G.fromApiTasks(detail.tasks || []);
  state.tasks = new Map(state.nodes.map((n) => [n.id, n]));
  state.index = G.buildIndex(state.nodes);
  state.structureKey = G.structureKey(state.nodes);
}

export async function load() {
  mark("fetchStart");
  let detail;
  try {
    detail = await api.tree(TREE);
  } catch (e) {
    els.loading.textContent = `Could not load the tree: ${ui.errorMessage(e)}`;
    return;
  }
  mark("dataReady");
  ingest(detail);
  restoreCollapsed();
  const count = state.nodes.length;
  const small = compact(); // big tree, subtrees collapsed: lay out the visible tasks only (below)
  let positions = small ? null : cachedPositions(state.structureKey);
  if (!positions && !small) {
    if (count > cygraph.LARGE) {
      positions = await cygraph.workerLayout(state.nodes);
    }
  }
  mark("layoutDone");
  // a collapsed big tree draws only its visible tasks: the others are added when their group opens
  state.lazy = small;
  cy = cygraph.create(els.cy, { count, elements: small ? [] : cygraph.elements(state.nodes, positions) });
  window.arborRun.cy = cy;
  mark("cyCreated");
  if (count > cygraph.HUGE && !small) {
    // thousands of parent links are mostly noise at overview zoom (and cost the most to draw)
    $("#show-parent").checked = false;
    cy.edges('[kind="parent"]').addClass("hidden-kind");
  }
  if (small) {
    applyCollapse();
    await layoutVisible();
  } else {
    if (!positions) {
      // small tree: dagre on the main thread (tens of ms), once
      positions = await cygraph.autoLayout(cy, state.nodes, false);
    }
    cachePositions(state.structureKey, positions);
    applyCollapse();
  }
  mark("collapseApplied");
  fitReadable();
  els.loading.hidden = true;
  await new Promise((r) => requestAnimationFrame(() => r()));
  mark("firstRender");
  if (big) {
    big.semanticZoom(cy, (id) => detailLabel(id));
    big.groupStatus(cy, groupState);
    if (count > 40) big.minimap(cy, els.cy.parentNode);
  }
  bindCanvas();
  view.renderHeader();
  view.renderLegend();
  view.renderDetail();
  view.startLive();
  view.loadAttempts();
  const initial = new URLSearchParams(location.search).get("task");
  if (initial && task(initial)) select(initial, true);
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  mark("interactive");
  document.body.dataset.ready = "1";
}

/** Structure changed under us (a task or dependency added/removed): redraw, keep what we can. */
export async function reloadStructure() {
  const detail = await api.tree(TREE);
  const before = state.structureKey;
  ingest(detail);
  // the tasks were read at or after detail.last_seq, and events after it may already have been
  // applied to the old objects: replay them onto the new ones, in order
  if (state.live) state.live.rewind(detail.last_seq);
  if (state.structureKey === before) {
    cy.batch(() => state.nodes.forEach((n) => cygraph.updateNode(cy, n)));
  } else {
    cy.elements().remove();
    cy.add(cygraph.elements(state.nodes, cachedPositions(state.structureKey)));
    const positions = await cygraph.computeLayout(cy, state.nodes);
    cygraph.applyPositions(cy, positions);
    cachePositions(state.structureKey, positions);
    applyCollapse();
    applyFilter();
  }
  view.renderHeader();
  view.renderDetail();
  if (state.view === "list") view.renderList();
}

export function bindCanvas() {
  cy.on("tap", "node", (ev) => {
    const id = ev.target.id();
    if (state.collapsed.has(id) && !state.hiddenBy.has(id)) toggleCollapse(id); // a group opens on click
    select(id);
  });
  cy.on("tap", (ev) => {
    if (ev.target === cy) select(null);
  });
  cy.on("dbltap", "node", (ev) => toggleCollapse(ev.target.id()));
}

export function select(id, center) {
  state.selected = id ? String(id) : null;
  cy.$(":selected").unselect();
  if (state.selected) {
    if (state.hiddenBy.has(state.selected)) expandTo(state.selected);
    const n = cy.getElementById(state.selected);
    n.select();
    if (center) cy.animate({ center: { eles: n }, zoom: Math.max(cy.zoom(), 0.8) }, { duration: 200 });
  }
  const q = new URLSearchParams(location.search);
  if (state.selected) q.set("task", state.selected);
  else q.delete("task");
  history.replaceState(null, "", `${location.pathname}${q.toString() ? "?" + q : ""}`);
  view.renderDetail();
  view.highlightGantt();
}

// ---- collapse / expand subtrees --------------------------------------------------------------
export function collapseKey() {
  return `arbor.collapsed.${TREE}`;
}
export function restoreCollapsed() {
  try {
    const stored = localStorage.getItem(collapseKey());
    const ids =
      stored == null && big ? big.defaultCollapsed(state.nodes, state.index) : JSON.parse(stored || "[]");
    state.collapsed = new Set(ids.filter((id) => state.tasks.has(id)));
  } catch (e) {
    state.collapsed = new Set();
  }
}
/** A big tree with collapsed subtrees is laid out on its visible tasks only (bigtree.js). */
export const compact = () => big && state.nodes.length > big.COLLAPSE_ABOVE && state.collapsed.size > 0;
export async function layoutVisible(focusId) {
  const visible = state.nodes.filter((n) => !state.hiddenBy.has(String(n.id)));
  const ids = new Set(visible.map((n) => String(n.id)));
  const slim = visible.map((n) =>
    Object.assign({}, n, { deps: (n.deps || []).filter((d) => ids.has(String(d.id))) }),
  );
  const positions = await cygraph.computeLayout(cy, slim);
  cygraph.applyPositions(cy, positions);
  const focus = focusId && cy.getElementById(focusId);
  if (focus && !focus.empty()) cy.center(focus);
  else fitReadable();
  return positions;
}
/** Fit, but never so far out that the labels are dropped: then start at the root's side, at a
 * readable zoom, vertically centred (the minimap shows the rest). */
export function fitReadable() {
  cygraph.fit(cy);
  const min = big && state.lazy ? big.READABLE_ZOOM : 0;
  if (cy.zoom() >= min) return;
  const bb = cy.nodes(":visible").boundingBox();
  cy.viewport({ zoom: min, pan: { x: 40 - bb.x1 * min, y: cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * min } });
}
export function afterCollapseChange(id) {
  if (big && state.nodes.length > big.COLLAPSE_ABOVE) layoutVisible(id);
}
export function saveCollapsed() {
  try {
    localStorage.setItem(collapseKey(), JSON.stringify(Array.from(state.collapsed)));
  } catch (e) {
    /* ignore */
  }
}

export function collapsedExtra(id) {
  if (!state.collapsed.has(id)) return null;
  const hidden = G.descendantsOf(state.nodes, id, state.index);
  const counts = {};
  for (const d of hidden) {
    const k = G.visualState(task(d));
    counts[k] = (counts[k] || 0) + 1;
  }
  const bad = (counts.failed || 0) + (counts.blocked || 0);
  const running = counts.in_progress || 0;
  let text = `▸ ${hidden.size} hidden`;
  if (running) text += `, ${running} running`;
  if (bad) text += `, ${bad} failed`;
  return text;
}

/** The worst state inside a collapsed task's subtree: "failed", "running" or "". */
export function groupState(id) {
  if (!state.collapsed.has(id)) return "";
  let running = false;
  for (const d of G.descendantsOf(state.nodes, id, state.index)) {
    const k = G.visualState(task(d));
    if (k === "failed" || k === "blocked") return "failed";
    if (k === "in_progress") running = true;
  }
  return running ? "running" : "";
}

/** The close-up label (semantic zoom): the usual label plus executor and attempts. */
export function detailLabel(id) {
  const t = task(id);
  if (!t) return "";
  const bits = [t.executor];
  if (t.attempt_count) bits.push(`${t.attempt_count} attempt${t.attempt_count === 1 ? "" : "s"}`);
  return `${cygraph.nodeLabel(t, collapsedExtra(id))}\n${bits.join(" · ")}`;
}

/** Lazy mode (a big tree opened collapsed): Cytoscape holds the visible tasks and their edges only. */
export function syncVisibleElements() {
  const want = cygraph.elements(
    state.nodes.filter((n) => !state.hiddenBy.has(String(n.id))),
    null,
  );
  const ids = new Set(want.map((e) => e.data.id));
  cy.batch(() => {
    cy.elements()
      .filter((e) => !ids.has(e.id()))
      .remove();
    const add = want.filter((e) => cy.getElementById(e.data.id).empty());
    if (add.length) cy.add(add);
  });
}

export function applyCollapse() {
  state.hiddenBy = new Map();
  for (const id of state.collapsed) {
    if (state.hiddenBy.has(id)) continue;
    for (const d of G.descendantsOf(state.nodes, id, state.index))
      if (!state.hiddenBy.has(d)) state.hiddenBy.set(d, id);
  }
  if (state.lazy) syncVisibleElements();
  cy.batch(() => {
    cy.nodes().forEach((n) => {
      const hidden = state.hiddenBy.has(n.id());
      n.toggleClass("hidden", hidden);
      n.toggleClass("collapsed", state.collapsed.has(n.id()) && !hidden);
      cygraph.updateNode(cy, task(n.id()), collapsedExtra(n.id()));
    });
    cy.edges().forEach((e) => {
      e.toggleClass("hidden", state.hiddenBy.has(e.source().id()) || state.hiddenBy.has(e.target().id()));
    });
  });
}

export function toggleCollapse(id) {
  const kids = state.index.children.get(id) || [];
  if (!kids.length) {
    ui.toast(`“${nameOf(id)}” has no subtree to collapse.`);
    return;
  }
  if (state.collapsed.has(id)) state.collapsed.delete(id);
  else state.collapsed.add(id);
  saveCollapsed();
  applyCollapse();
  afterCollapseChange(id);
  view.renderDetail();
}

export function expandTo(id) {
  let cur = state.hiddenBy.get(id);
  const opened = Boolean(cur);
  while (cur) {
    state.collapsed.delete(cur);
    applyCollapse();
    cur = state.hiddenBy.get(id);
  }
  saveCollapsed();
  if (opened) afterCollapseChange(id);
}

// ---- upstream / downstream filter -------------------------------------------------------------
export function setFilter(id, dir) {
  state.filter = id && dir ? { id, dir } : null;
  applyFilter();
  view.renderDetail();
}
export function applyFilter() {
  if (!cy) return;
  const f = state.filter;
  if (!f || !task(f.id)) {
    cy.elements().removeClass("dimmed");
    els.filterNote.hidden = true;
    return;
  }
  const keep = new Set([f.id]);
  if (f.dir === "up" || f.dir === "both")
    for (const x of G.upstreamOf(state.nodes, f.id, state.index)) keep.add(x);
  if (f.dir === "down" || f.dir === "both")
    for (const x of G.downstreamOf(state.nodes, f.id, state.index)) keep.add(x);
  cy.batch(() => {
    cy.nodes().forEach((n) => n.toggleClass("dimmed", !keep.has(n.id())));
    cy.edges().forEach((e) =>
      e.toggleClass(
        "dimmed",
        !(keep.has(e.source().id()) && keep.has(e.target().id()) && e.data("kind") === "dep"),
      ),
    );
  });
  const words = { up: "upstream of", down: "downstream of", both: "upstream and downstream of" };
  ui.clear(els.filterNote);
  els.filterNote.append(
    `Showing ${keep.size - 1} task${keep.size === 2 ? "" : "s"} ${words[f.dir]} “${nameOf(f.id)}” `,
    h("button.btn.small", { type: "button", on: { click: () => setFilter(null) } }, "Clear filter"),
  );
  els.filterNote.style.display = "";
  els.filterNote.hidden = false;
}
