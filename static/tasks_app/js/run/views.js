/* The run view's list (the accessible mirror of the graph) and its attempts timeline (delegated to timeline.js when present). */
import { timeline } from "../timeline.js";
import * as G from "../graph.js";
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { TREE, els, nameOf, state, task } from "./state.js";
import { select } from "./canvas.js";

// ---- list view (the accessible mirror of the graph) ---------------------------------------------------
export const listRows = new Map();
export function listCells(t) {
  return [
    h(
      "td",
      h(
        "button.linklike",
        { type: "button", style: "padding:0;color:var(--accent)", on: { click: () => select(t.id) } },
        t.name,
      ),
    ),
    h("td", ui.badge(t)),
    h(
      "td",
      t.status === "in_progress" ? ui.progressBar(t.progress, `${t.name} progress`) : h("span.muted", "—"),
    ),
    h("td", t.executor),
    h("td.num", String(t.attempt_count || 0)),
    h("td.num.nowrap", t.started_at ? G.formatDuration(ui.duration(t.started_at, t.completed_at)) : "—"),
    h("td.small", t.parent ? nameOf(t.parent) : "—"),
    h("td.small", t.deps.map((d) => nameOf(d.id) + (d.required ? "" : " (optional)")).join(", ") || "—"),
  ];
}
export function renderList() {
  listRows.clear();
  const tbody = h("tbody");
  for (const t of state.nodes) {
    const tr = h(
      "tr",
      { dataset: { taskId: t.id, taskName: t.name, status: t.status, state: G.visualState(t) } },
      listCells(t),
    );
    listRows.set(t.id, tr);
    tbody.appendChild(tr);
  }
  const table = h(
    "table.data",
    { "aria-label": "Tasks of this tree" },
    h(
      "thead",
      h(
        "tr",
        ["Task", "Status", "Progress", "Executor", "Attempts", "Duration", "Parent", "Depends on"].map((x) =>
          h("th", { scope: "col" }, x),
        ),
      ),
    ),
    tbody,
  );
  ui.clear(els.list).appendChild(table);
}
export function updateListRows(ids) {
  for (const id of ids) {
    const tr = listRows.get(id);
    const t = task(id);
    if (!tr || !t) continue;
    tr.dataset.status = t.status;
    tr.dataset.state = G.visualState(t);
    ui.clear(tr);
    for (const c of listCells(t)) tr.appendChild(c);
  }
}
export function setView(view) {
  state.view = view;
  for (const b of document.querySelectorAll("[data-view]"))
    b.setAttribute("aria-selected", String(b.dataset.view === view));
  els.list.hidden = view !== "list";
  document.getElementById("legend-box").hidden = view === "list";
  if (view === "list") renderList();
}

// ---- Gantt timeline of attempts ---------------------------------------------------------------------------
export const GANTT_MAX = 300;
export const OUTCOME_ICON = {
  running: "▶",
  completed: "✓",
  failed: "✕",
  timed_out: "◷",
  worker_lost: "⚠",
  cancelled: "⊘",
  interrupted: "↺",
};
export let ganttTimer = null;
export async function loadAttempts() {
  if (els.gantt.hidden) return;
  if (timeline) return timeline.refresh(); // one run at a time: timeline.js
  try {
    const data = await api.treeAttempts(TREE);
    state.attempts = api.results(data);
    state.attemptsTotal = data && typeof data.count === "number" ? data.count : state.attempts.length;
    // later pages: fetch the most recent ones when there are many
    if (data && data.count > state.attempts.length && data.count <= 5000) {
      const last = await api.get(`trees/${encodeURIComponent(TREE)}/attempts/`, {
        limit: GANTT_MAX,
        offset: Math.max(0, data.count - GANTT_MAX),
      });
      state.attempts = api.results(last);
    }
  } catch (e) {
    state.attempts = [];
  }
  renderGantt();
}

export function renderGantt() {
  clearTimeout(ganttTimer);
  const svgNS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text != null) el.textContent = text;
    return el;
  };
  const names = {};
  for (const t of state.tasks.values()) names[t.id] = t.name;
  const now = Date.now();
  const rows = G.ganttRows(state.attempts, names, now).slice(-GANTT_MAX);
  ui.clear(els.gantt);
  els.ganttNote.textContent = rows.length
    ? `${state.attemptsTotal || rows.length} attempt${rows.length === 1 ? "" : "s"}${(state.attemptsTotal || 0) > rows.length ? `, the latest ${rows.length} shown` : ""}`
    : "";
  if (!rows.length) {
    els.gantt.appendChild(
      h(
        "p.muted.small",
        { style: "margin:4px 0 8px" },
        "No attempts yet: run the tree to see when each task ran.",
      ),
    );
    return;
  }
  const t0 = Math.min(...rows.map((r) => r.start));
  const t1 = Math.max(...rows.map((r) => r.end), t0 + 1000);
  const labelW = 180;
  const width = Math.max(600, els.gantt.clientWidth - 28);
  const laneH = 18;
  const height = rows.length * laneH + 22;
  const x = (t) => labelW + ((t - t0) / (t1 - t0)) * (width - labelW - 10);
  const svg = s("svg", { width, height, role: "img", "aria-label": "Attempts over time" });
  const ticks = 6;
  for (let i = 0; i <= ticks; i += 1) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    svg.appendChild(s("line", { class: "tick", x1: x(t), x2: x(t), y1: 14, y2: height }));
    svg.appendChild(
      s(
        "text",
        {
          class: "tick-label",
          x: x(t),
          y: 10,
          "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle",
        },
        `+${G.formatDuration((t - t0) / 1000)}`,
      ),
    );
  }
  rows.forEach((r, i) => {
    const y = 18 + i * laneH;
    const g = s("g", { class: "lane", "data-task": r.task });
    const icon = OUTCOME_ICON[r.outcome] || "•";
    g.appendChild(
      s("text", { x: 0, y: y + 11 }, `${icon} ${r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label}`),
    );
    const rect = s("rect", {
      class: "bar",
      x: x(r.start),
      y: y + 2,
      width: Math.max(3, x(r.end) - x(r.start)),
      height: laneH - 5,
      "data-outcome": r.outcome,
    });
    rect.appendChild(
      s(
        "title",
        {},
        `${r.label}: ${r.outcome.replace(/_/g, " ")}, ${G.formatDuration((r.end - r.start) / 1000)}`,
      ),
    );
    g.appendChild(rect);
    g.addEventListener("click", () => select(r.task, true));
    g.style.cursor = "pointer";
    svg.appendChild(g);
  });
  els.gantt.appendChild(svg);
  highlightGantt();
  if (rows.some((r) => r.running)) ganttTimer = setTimeout(renderGantt, 2000);
}

export function highlightGantt() {
  if (timeline) return timeline.highlight();
  for (const g of els.gantt.querySelectorAll("g.lane"))
    g.style.opacity = state.selected && g.dataset.task !== state.selected ? "0.45" : "1";
}
