/* The Cytoscape stylesheet of the editor and the run view, built from the page's CSS tokens (so dark mode and the theme toggle restyle it). */
import * as G from "../graph.js";
import * as ui from "../ui.js";

export const NODE_W = 170;
export const NODE_H = 48;
const STATE_KEYS = Object.keys(G.STATES);

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

export function stylesheet(opts) {
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
    {
      selector: 'node[state="draft"]',
      style: {
        "background-color": p.surface,
        "border-color": p.muted,
        "border-width": 2,
        "border-style": "solid",
      },
    },
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
      style: {
        "border-width": 4,
        "border-style": "double",
        "outline-width": 3,
        "outline-color": p.muted,
        "outline-offset": 3,
        "outline-style": "dashed",
        "outline-opacity": 0.6,
      },
    },
    {
      selector: "node.collapsed.group-running",
      style: { "outline-color": p.st.in_progress.fg, "outline-opacity": 0.9 },
    },
    {
      selector: "node.collapsed.group-failed",
      style: { "outline-color": p.st.failed.fg, "outline-opacity": 0.95, "outline-style": "solid" },
    },
    {
      selector: "node:selected",
      style: {
        "border-color": p.accent,
        "border-width": 4,
        "border-style": "solid",
        "underlay-color": p.accent,
        "underlay-opacity": 0.18,
        "underlay-padding": 6,
      },
    },
    {
      selector: "node.affected",
      style: { "underlay-color": p.danger, "underlay-opacity": 0.3, "underlay-padding": 8 },
    },
    {
      selector: "node.match",
      style: { "underlay-color": p.accent, "underlay-opacity": 0.35, "underlay-padding": 8 },
    },
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
    {
      selector: 'edge[kind="dep"][!required]',
      style: {
        "line-style": "dashed",
        "line-dash-pattern": [6, 4],
        "line-color": p.optional,
        "target-arrow-color": p.optional,
        "target-arrow-fill": "hollow",
      },
    },
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
    {
      selector: "edge:selected",
      style: {
        width: 3.2,
        "line-color": p.accent,
        "target-arrow-color": p.accent,
        "source-arrow-color": p.accent,
      },
    },
    { selector: "edge.hidden-kind", style: { display: "none" } },
    { selector: ".hidden", style: { display: "none" } },
    // semantic zoom (bigtree.js): far out, boxes and colours only; close up, details under the name
    { selector: "node.z-far", style: { label: "", "border-width": 2 } },
    { selector: "node.z-near", style: { label: "data(detail)", height: NODE_H + 18, "font-size": 10.5 } },
    // edgehandles
    {
      selector: ".eh-ghost-edge, edge.eh-preview",
      style: { "line-color": p.accent, "target-arrow-color": p.accent, "line-style": "dashed", width: 2 },
    },
    { selector: "node.eh-ghost-node, node.eh-ghost", style: { width: 1, height: 1, opacity: 0, label: "" } },
    { selector: "node.eh-hover, node.eh-target", style: { "border-color": p.accent, "border-width": 4 } },
    {
      selector: "node.refused",
      style: {
        "border-color": p.danger,
        "border-width": 4,
        "border-style": "solid",
        "underlay-color": p.danger,
        "underlay-opacity": 0.25,
        "underlay-padding": 6,
      },
    },
  );
  if (huge) {
    s.push(
      { selector: "node", style: { "border-style": "solid" } },
      { selector: "edge", style: { "line-style": "solid" } },
      {
        selector: 'edge[kind="parent"]',
        style: { "line-opacity": 0.45, "curve-style": "haystack", "source-arrow-shape": "none" },
      },
    );
  }
  return s;
}
