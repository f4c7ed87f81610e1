/*
 * Big trees in the run view: which subtrees start collapsed, a minimap, and semantic zoom.
 *
 * - defaultCollapsed: above COLLAPSE_ABOVE tasks, organisational subtrees start collapsed, at the
 *   deepest level that keeps at most VISIBLE_BUDGET tasks on screen (LEVEL_BUDGET in one column); each collapsed task is drawn as
 *   one group node with a status summary of what it holds (its outline red when a task inside failed,
 *   blue while one runs), and opens on click.
 * - minimap: a small canvas overview (visible tasks by status colour) with the viewport rectangle;
 *   click or drag in it to move the view.
 * - semantic zoom: below FAR_ZOOM the labels are not drawn at all (boxes and colours only);
 *   above NEAR_ZOOM each task shows details (executor, attempts) under its name.
 */
import * as G from "./graph.js";
import * as ui from "./ui.js";

const { h } = ui;

const COLLAPSE_ABOVE = 300;
const VISIBLE_BUDGET = 60;
const LEVEL_BUDGET = 24;
const FAR_ZOOM = 0.45;
const NEAR_ZOOM = 1.15;
const READABLE_ZOOM = 0.62; // the fitted view of a collapsed big tree never starts further out (labels drawn)

/**
 * The ids to collapse by default (an empty list for a small tree). Breadth-first from the root:
 * take whole levels while the tasks shown stay within the budget; the tasks of the last level
 * taken that have children are collapsed.
 */
function defaultCollapsed(nodes, index) {
  if (nodes.length <= COLLAPSE_ABOVE) return [];
  const roots = nodes.filter((n) => n.parent == null).map((n) => String(n.id));
  let level = roots;
  let shown = level.length;
  for (;;) {
    const next = [];
    for (const id of level) for (const c of index.children.get(id) || []) next.push(String(c));
    // a level wider than LEVEL_BUDGET would not fit the screen readably (the tree is drawn left to right)
    if (!next.length || shown + next.length > VISIBLE_BUDGET || next.length > LEVEL_BUDGET) break;
    shown += next.length;
    level = next;
  }
  return level.filter((id) => (index.children.get(id) || []).length > 0);
}

// ---- semantic zoom ------------------------------------------------------------------------------
function zoomLevel(z) {
  return z < FAR_ZOOM ? "far" : z >= NEAR_ZOOM ? "near" : "mid";
}

function semanticZoom(cy, detailOf) {
  let level = null;
  const apply = () => {
    const next = zoomLevel(cy.zoom());
    if (next === level) return;
    level = next;
    cy.container().dataset.zoom = next;
    cy.batch(() => {
      const nodes = cy.nodes();
      nodes.toggleClass("z-far", next === "far");
      nodes.toggleClass("z-near", next === "near");
      if (next === "near") nodes.forEach((n) => n.data("detail", detailOf(n.id())));
    });
  };
  cy.on("zoom", apply);
  // a task's label changed (live status): its detail label follows while zoomed in
  cy.on("data", "node", (ev) => {
    if (level !== "near") return;
    const d = detailOf(ev.target.id());
    if (ev.target.data("detail") !== d) ev.target.data("detail", d);
  });
  apply();
  return { level: () => level };
}

// ---- group status: a collapsed group's outline shows the worst of what it holds ---------------
/** stateOf(id) -> "failed" | "running" | "" for a collapsed task's hidden subtree. */
function groupStatus(cy, stateOf) {
  const mark = (n) => {
    const inner = n.hasClass("collapsed") ? stateOf(n.id()) : "";
    for (const [cls, want] of [
      ["group-failed", inner === "failed"],
      ["group-running", inner === "running"],
    ]) {
      if (n.hasClass(cls) !== want) n.toggleClass(cls, want);
    }
  };
  cy.on("data class", "node", (ev) => mark(ev.target));
  cy.nodes(".collapsed").forEach(mark);
}

// ---- minimap ------------------------------------------------------------------------------------
function minimap(cy, container) {
  const W = 200;
  const H = 130;
  const box = h("div.minimap", {
    "aria-label": "Minimap: click or drag to move the view",
    role: "img",
    dataset: { testid: "minimap" },
  });
  const canvas = h("canvas", { width: String(W * 2), height: String(H * 2) });
  canvas.style.width = `${W}px`;
  canvas.style.height = `${H}px`;
  const view = h("div.minimap-view");
  box.append(canvas, view);
  container.appendChild(box);
  const ctx = canvas.getContext("2d");
  let bb = null;
  let scale = 1;
  let ox = 0;
  let oy = 0;
  let colours = {};

  function readColours() {
    colours = {};
    for (const k of Object.keys(G.STATES)) colours[k] = ui.cssVar(`--st-${k}`) || "#888";
    colours.edge = ui.cssVar("--border-strong") || "#999";
  }

  function drawNodes() {
    const nodes = cy.nodes().not(".hidden");
    if (!nodes.length) return;
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    nodes.forEach((n) => {
      const p = n.position();
      if (p.x < x1) x1 = p.x;
      if (p.y < y1) y1 = p.y;
      if (p.x > x2) x2 = p.x;
      if (p.y > y2) y2 = p.y;
    });
    const pad = 100;
    bb = { x1: x1 - pad, y1: y1 - pad, x2: x2 + pad, y2: y2 + pad };
    scale = Math.min(W / (bb.x2 - bb.x1), H / (bb.y2 - bb.y1));
    ox = (W - scale * (bb.x2 - bb.x1)) / 2;
    oy = (H - scale * (bb.y2 - bb.y1)) / 2;
    ctx.setTransform(2, 0, 0, 2, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const nw = Math.max(2, 170 * scale);
    const nh = Math.max(2, 48 * scale);
    nodes.forEach((n) => {
      const p = n.position();
      ctx.fillStyle = colours[n.data("state")] || colours.pending;
      ctx.fillRect(ox + (p.x - bb.x1) * scale - nw / 2, oy + (p.y - bb.y1) * scale - nh / 2, nw, nh);
    });
  }

  function drawView() {
    if (!bb) return;
    const ext = cy.extent();
    const l = Math.max(0, ox + (ext.x1 - bb.x1) * scale);
    const t = Math.max(0, oy + (ext.y1 - bb.y1) * scale);
    const r = Math.min(W, ox + (ext.x2 - bb.x1) * scale);
    const b = Math.min(H, oy + (ext.y2 - bb.y1) * scale);
    Object.assign(view.style, {
      left: `${l}px`,
      top: `${t}px`,
      width: `${Math.max(4, r - l)}px`,
      height: `${Math.max(4, b - t)}px`,
    });
  }

  let nodesQueued = false;
  let viewQueued = false;
  const redrawNodes = () => {
    if (nodesQueued) return;
    nodesQueued = true;
    setTimeout(() => {
      nodesQueued = false;
      drawNodes();
      drawView();
    }, 400);
  };
  const redrawView = () => {
    if (viewQueued) return;
    viewQueued = true;
    requestAnimationFrame(() => {
      viewQueued = false;
      drawView();
    });
  };

  function panTo(ev) {
    if (!bb) return;
    const rect = canvas.getBoundingClientRect();
    const mx = (ev.clientX - rect.left - ox) / scale + bb.x1;
    const my = (ev.clientY - rect.top - oy) / scale + bb.y1;
    const z = cy.zoom();
    cy.pan({ x: cy.width() / 2 - mx * z, y: cy.height() / 2 - my * z });
  }
  let dragging = false;
  box.addEventListener("pointerdown", (ev) => {
    dragging = true;
    box.setPointerCapture(ev.pointerId);
    panTo(ev);
  });
  box.addEventListener("pointermove", (ev) => {
    if (dragging) panTo(ev);
  });
  box.addEventListener("pointerup", () => {
    dragging = false;
  });

  readColours();
  drawNodes();
  drawView();
  cy.on("pan zoom resize", redrawView);
  cy.on("data position add remove class", "node", redrawNodes);
  window.addEventListener("arbor:theme", () => {
    readColours();
    drawNodes();
  });
  const mq = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (mq && mq.addEventListener) {
    mq.addEventListener("change", () => {
      readColours();
      drawNodes();
    });
  }
  return { box, redraw: () => (drawNodes(), drawView()) };
}

export {
  COLLAPSE_ABOVE,
  READABLE_ZOOM,
  VISIBLE_BUDGET,
  FAR_ZOOM,
  NEAR_ZOOM,
  defaultCollapsed,
  semanticZoom,
  zoomLevel,
  groupStatus,
  minimap,
};
