/*
 * The Cytoscape side shared by the editor and the run view: stylesheet (built from the page's
 * CSS tokens, so dark mode follows the OS), element builders, layout (dagre for small graphs,
 * the layered layout in a Web Worker for large ones) and cheap status updates.
 */
(function (root) {
  "use strict";
  const G = root.ArborGraph;
  const ui = root.Arbor.ui;

  const NODE_W = 170;
  const NODE_H = 48;
  const LARGE = 300; // above this many tasks: layout off the main thread
  const HUGE = 1000; // above this many elements: cheaper rendering while panning/zooming
  const STATE_KEYS = Object.keys(G.STATES);

  function scriptBase() {
    const el = document.querySelector('script[src*="cygraph.js"]');
    return el ? el.src.replace(/cygraph\.js.*$/, "") : "/static/tasks_app/js/";
  }

  function stripes(color) {
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="12" height="12">` +
      `<path d="M-3,3 l6,-6 M0,12 l12,-12 M9,15 l6,-6" stroke="${color}" stroke-width="2.2" stroke-opacity="0.45"/></svg>`;
    return `data:image/svg+xml;utf8,${encodeURIComponent(svg)}`;
  }

  function palette() {
    const p = {
      text: ui.cssVar("--text"),
      muted: ui.cssVar("--text-muted"),
      surface: ui.cssVar("--surface"),
      accent: ui.cssVar("--accent"),
      required: ui.cssVar("--edge-required"),
      optional: ui.cssVar("--edge-optional"),
      parent: ui.cssVar("--edge-parent"),
      danger: ui.cssVar("--danger"),
      st: {},
    };
    for (const key of STATE_KEYS) p.st[key] = { fg: ui.cssVar(`--st-${key}`), bg: ui.cssVar(`--st-${key}-bg`) };
    return p;
  }

  function stylesheet(opts) {
    const p = palette();
    const large = opts && opts.large;
    // Huge graphs: dashed/dotted strokes cost ~5x as much to draw on a canvas; every state keeps
    // its icon and text label, the stripes of waiting/blocked tasks and its border width.
    const huge = opts && opts.huge;
    const s = [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          width: NODE_W,
          height: NODE_H,
          "background-color": p.st.pending.bg,
          "border-color": p.st.pending.fg,
          "border-width": 2,
          label: "data(label)",
          "text-wrap": "wrap",
          "text-max-width": NODE_W - 16,
          "text-overflow-wrap": "anywhere",
          "font-size": 11.5,
          "font-family": "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif",
          color: p.text,
          "text-valign": "center",
          "text-halign": "center",
          "min-zoomed-font-size": large ? 7 : 4,
          "overlay-opacity": 0,
        },
      },
    ];
    for (const key of STATE_KEYS) {
      const st = p.st[key];
      s.push({ selector: `node[state="${key}"]`, style: { "background-color": st.bg, "border-color": st.fg } });
    }
    s.push(
      { selector: 'node[state="draft"]', style: { "background-color": p.surface, "border-color": p.muted, "border-width": 2, "border-style": "solid" } },
      { selector: 'node[state="pending"]', style: { "border-style": "dashed" } },
      { selector: 'node[state="retrying"]', style: { "border-style": "dashed", "border-width": 3 } },
      { selector: 'node[state="failed"]', style: { "border-width": 4, "border-style": "double" } },
      { selector: 'node[state="cancelled"]', style: { "border-style": "dotted", "border-width": 3 } },
      {
        selector: 'node[state="waiting"]',
        style: {
          "background-image": stripes(p.st.waiting.fg),
          "background-repeat": "repeat",
          "background-fit": "none",
          "background-clip": "node",
          "border-width": 3,
        },
      },
      {
        selector: 'node[state="blocked"]',
        style: {
          "background-image": stripes(p.st.blocked.fg),
          "background-repeat": "repeat",
          "background-fit": "none",
          "background-clip": "node",
          "border-style": "dotted",
          "border-width": 3,
        },
      },
      {
        // running tasks: the fill is a progress bar
        selector: 'node[state="in_progress"]',
        style: {
          "border-width": 3,
          "background-fill": "linear-gradient",
          "background-gradient-direction": "to-right",
          "background-gradient-stop-colors": `${p.st.in_progress.fg} ${p.st.in_progress.fg} ${p.st.in_progress.bg} ${p.st.in_progress.bg}`,
          "background-gradient-stop-positions": (ele) => {
            const pct = Math.round(Math.max(0, Math.min(1, ele.data("progress") || 0)) * 100);
            return `0% ${pct}% ${pct}% 100%`;
          },
          "background-opacity": 1,
          "text-background-color": p.surface,
          "text-background-opacity": 0.85,
          "text-background-padding": 2,
          "text-background-shape": "round-rectangle",
        },
      },
      {
        selector: "node.collapsed",
        style: { "border-width": 4, "border-style": "double", "outline-width": 3, "outline-color": p.muted, "outline-offset": 3, "outline-style": "dashed", "outline-opacity": 0.6 },
      },
      { selector: "node.collapsed.group-running", style: { "outline-color": p.st.in_progress.fg, "outline-opacity": 0.9 } },
      { selector: "node.collapsed.group-failed", style: { "outline-color": p.st.failed.fg, "outline-opacity": 0.95, "outline-style": "solid" } },
      { selector: "node:selected", style: { "border-color": p.accent, "border-width": 4, "border-style": "solid", "underlay-color": p.accent, "underlay-opacity": 0.18, "underlay-padding": 6 } },
      { selector: "node.affected", style: { "underlay-color": p.danger, "underlay-opacity": 0.3, "underlay-padding": 8 } },
      { selector: "node.match", style: { "underlay-color": p.accent, "underlay-opacity": 0.35, "underlay-padding": 8 } },
      { selector: ".dimmed", style: { opacity: 0.15 } },
      {
        selector: "edge",
        style: {
          width: 1.6,
          "curve-style": large ? "straight" : "bezier",
          "line-color": p.required,
          "target-arrow-color": p.required,
          "target-arrow-shape": "triangle",
          "arrow-scale": 0.9,
          "overlay-opacity": 0,
        },
      },
      { selector: 'edge[kind="dep"][!required]', style: { "line-style": "dashed", "line-dash-pattern": [6, 4], "line-color": p.optional, "target-arrow-color": p.optional, "target-arrow-fill": "hollow" } },
      {
        selector: 'edge[kind="parent"]',
        style: {
          "line-style": "dotted",
          "line-color": p.parent,
          "line-opacity": 0.85,
          width: 1.6,
          "target-arrow-shape": "none",
          "source-arrow-shape": "diamond",
          "source-arrow-color": p.parent,
          "source-arrow-fill": "hollow",
          "curve-style": large ? "straight" : "unbundled-bezier",
          "control-point-distances": [24],
          "control-point-weights": [0.5],
        },
      },
      { selector: "edge:selected", style: { width: 3.2, "line-color": p.accent, "target-arrow-color": p.accent, "source-arrow-color": p.accent } },
      { selector: "edge.hidden-kind", style: { display: "none" } },
      { selector: ".hidden", style: { display: "none" } },
      // semantic zoom (bigtree.js): far out, boxes and colours only; close up, details under the name
      { selector: "node.z-far", style: { label: "", "border-width": 2 } },
      { selector: "node.z-near", style: { label: "data(detail)", height: NODE_H + 18, "font-size": 10.5 } },
      // edgehandles
      { selector: ".eh-ghost-edge, edge.eh-preview", style: { "line-color": p.accent, "target-arrow-color": p.accent, "line-style": "dashed", width: 2 } },
      { selector: "node.eh-ghost-node, node.eh-ghost", style: { width: 1, height: 1, opacity: 0, label: "" } },
      { selector: "node.eh-hover, node.eh-target", style: { "border-color": p.accent, "border-width": 4 } },
      { selector: "node.refused", style: { "border-color": p.danger, "border-width": 4, "border-style": "solid", "underlay-color": p.danger, "underlay-opacity": 0.25, "underlay-padding": 6 } }
    );
    if (huge) {
      s.push(
        { selector: "node", style: { "border-style": "solid" } },
        { selector: "edge", style: { "line-style": "solid" } },
        { selector: 'edge[kind="parent"]', style: { "line-opacity": 0.45, "curve-style": "haystack", "source-arrow-shape": "none" } }
      );
    }
    return s;
  }

  /** The label drawn inside a node: icon, name, status text (and progress / hidden count). */
  function nodeLabel(task, extra) {
    const state = G.visualState(task);
    const info = G.stateInfo(state, task);
    let second = info.label;
    if (state === "in_progress" && task.progress) second += ` ${Math.round(task.progress * 100)}%`;
    if (extra) second += ` · ${extra}`;
    return `${info.icon} ${task.name}\n${second}`;
  }

  function nodeData(task, extra, editor) {
    if (editor) {
      const bits = [task.executor || "no executor"];
      if (task.priority != null && task.priority !== 2) bits.push(`priority ${task.priority}`);
      if (task.resources && task.resources.length) bits.push(`${task.resources.length} lock${task.resources.length === 1 ? "" : "s"}`);
      return { id: String(task.id), label: `${task.name}\n${bits.join(" · ")}`, name: task.name, status: "draft", state: "draft", progress: 0 };
    }
    return {
      id: String(task.id),
      label: nodeLabel(task, extra),
      name: task.name,
      status: task.status || "pending",
      state: G.visualState(task),
      progress: task.progress || 0,
    };
  }

  function depEdgeId(up, down) {
    return `d:${up}>${down}`;
  }
  function parentEdgeId(parent, child) {
    return `p:${parent}>${child}`;
  }

  /** Cytoscape elements for graph nodes {id, name, parent, deps, status...}. */
  function elements(tasks, positions, editor) {
    const els = [];
    const ids = new Set(tasks.map((t) => String(t.id)));
    for (const t of tasks) {
      const el = { group: "nodes", data: nodeData(t, null, editor) };
      if (positions && positions[t.id]) el.position = { x: positions[t.id].x, y: positions[t.id].y };
      els.push(el);
    }
    for (const t of tasks) {
      for (const d of t.deps || []) {
        if (!ids.has(String(d.id))) continue;
        els.push({ group: "edges", data: { id: depEdgeId(d.id, t.id), source: String(d.id), target: String(t.id), kind: "dep", required: d.required !== false } });
      }
      if (t.parent != null && ids.has(String(t.parent))) {
        els.push({ group: "edges", data: { id: parentEdgeId(t.parent, t.id), source: String(t.parent), target: String(t.id), kind: "parent" } });
      }
    }
    return els;
  }

  function create(container, opts) {
    const count = (opts && opts.count) || 0;
    const huge = count > HUGE;
    const cy = root.cytoscape({
      container,
      elements: [],
      style: stylesheet({ large: count > LARGE, huge: count > HUGE }),
      layout: { name: "preset" },
      minZoom: 0.05,
      maxZoom: 3,
      boxSelectionEnabled: !!(opts && opts.boxSelection),
      selectionType: "single",
      hideEdgesOnViewport: huge,
      textureOnViewport: huge,
      motionBlur: false,
      pixelRatio: huge ? 1 : "auto",
    });
    // adding elements after construction is ~10x faster than passing them to the constructor
    // (measured: 2,000 tasks 110 ms vs 1,300 ms)
    if (opts && opts.elements && opts.elements.length) cy.add(opts.elements);
    // follow the OS theme without a reload
    const mq = root.matchMedia ? root.matchMedia("(prefers-color-scheme: dark)") : null;
    const restyle = () => cy.style(stylesheet({ large: count > LARGE, huge: count > HUGE }));
    if (mq && mq.addEventListener) mq.addEventListener("change", restyle);
    root.addEventListener("arbor:theme", restyle); // the header's theme toggle
    return cy;
  }

  let worker = null;
  let workerSeq = 0;
  const workerWaiting = new Map();
  function layoutWorker() {
    if (worker) return worker;
    worker = new Worker(`${scriptBase()}layout-worker.js`);
    worker.onmessage = (ev) => {
      const cb = workerWaiting.get(ev.data.id);
      workerWaiting.delete(ev.data.id);
      if (cb) cb(ev.data);
    };
    return worker;
  }

  /** Layered layout positions computed in a Web Worker (falls back to the main thread). */
  function workerLayout(tasks) {
    const slim = tasks.map((t) => ({ id: String(t.id), parent: t.parent != null ? String(t.parent) : null, deps: (t.deps || []).map((d) => ({ id: String(d.id) })) }));
    const opts = { nodeWidth: NODE_W, nodeHeight: NODE_H };
    return new Promise((resolve) => {
      try {
        const w = layoutWorker();
        const id = ++workerSeq;
        workerWaiting.set(id, (data) => resolve(data.error ? G.layeredLayout(slim, opts).positions : data.positions));
        w.postMessage({ id, tasks: slim, options: opts });
      } catch (e) {
        resolve(G.layeredLayout(slim, opts).positions);
      }
    });
  }

  /**
   * Positions for the given tasks: dagre (nicer) for small graphs, the layered layout in a worker
   * for large ones. Parent edges that point against the dependency flow are left out of the layout.
   */
  function computeLayout(cy, tasks) {
    if (tasks.length > LARGE || !root.cytoscapeDagre) return workerLayout(tasks);
    const ranks = G.layeredLayout(tasks, { sweeps: 0 }).ranks;
    const ignore = cy.edges('[kind="parent"]').filter((e) => ranks[e.source().id()] >= ranks[e.target().id()]);
    const eles = cy.elements().not(ignore).not(".hidden");
    return new Promise((resolve) => {
      const layout = eles.layout({
        name: "dagre",
        rankDir: "LR",
        nodeSep: 18,
        rankSep: 60,
        edgeSep: 8,
        ranker: "network-simplex",
        edgeWeight: (e) => (e.data("kind") === "parent" ? 1 : 3),
        animate: false,
        fit: false,
        stop: () => {
          const positions = {};
          eles.nodes().forEach((n) => {
            positions[n.id()] = Object.assign({}, n.position());
          });
          resolve(positions);
        },
      });
      layout.run();
    });
  }

  function applyPositions(cy, positions) {
    cy.batch(() => {
      cy.nodes().positions((n) => positions[n.id()] || n.position());
    });
  }

  async function autoLayout(cy, tasks, fitAfter) {
    const positions = await computeLayout(cy, tasks);
    applyPositions(cy, positions);
    if (fitAfter !== false) fit(cy);
    return positions;
  }

  /** Fit to node positions only (no label or edge geometry): the cheap fit for huge graphs. */
  function fitPositions(cy, padding) {
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    cy.nodes().not(".hidden").forEach((n) => {
      const p = n.position();
      x1 = Math.min(x1, p.x);
      y1 = Math.min(y1, p.y);
      x2 = Math.max(x2, p.x);
      y2 = Math.max(y2, p.y);
    });
    if (!Number.isFinite(x1)) return;
    x1 -= NODE_W / 2;
    x2 += NODE_W / 2;
    y1 -= NODE_H / 2;
    y2 += NODE_H / 2;
    const w = cy.width();
    const hgt = cy.height();
    const zoom = Math.max(cy.minZoom(), Math.min(1.2, (w - 2 * padding) / (x2 - x1), (hgt - 2 * padding) / (y2 - y1)));
    cy.viewport({ zoom, pan: { x: w / 2 - zoom * (x1 + x2) / 2, y: hgt / 2 - zoom * (y1 + y2) / 2 } });
  }

  function fit(cy) {
    if (cy.nodes().length > HUGE) {
      fitPositions(cy, 48);
      return;
    }
    const visible = cy.elements().not(".hidden");
    cy.fit(visible.length ? visible : undefined, 48);
    if (cy.zoom() > 1.2) {
      cy.zoom(1.2);
      cy.center(visible);
    }
  }

  /** Update the status of one node in place (call inside cy.batch for many). */
  function updateNode(cy, task, extra) {
    const n = cy.getElementById(String(task.id));
    if (!n || n.empty()) return;
    const data = nodeData(task, extra);
    const cur = n.data();
    if (cur.label !== data.label || cur.state !== data.state || cur.progress !== data.progress || cur.status !== data.status) {
      n.data({ label: data.label, state: data.state, status: data.status, progress: data.progress, name: data.name });
    }
  }

  root.Arbor = root.Arbor || {};
  root.Arbor.cygraph = {
    NODE_W, NODE_H, LARGE, HUGE,
    stylesheet, elements, create, computeLayout, autoLayout, applyPositions, fit, updateNode, nodeLabel, nodeData,
    depEdgeId, parentEdgeId, workerLayout,
  };
})(window);
