/* The run view's list (the accessible mirror of the graph); its attempts timeline is timeline.js. */
import { timeline } from "../timeline.js";
import * as G from "../graph.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { els, nameOf, state, task } from "./state.js";
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
// the attempts timeline is timeline.js (runs, compare, zoom); this module only asks it to refresh
export async function loadAttempts() {
  if (els.gantt.hidden || !timeline) return;
  return timeline.refresh();
}

export function highlightGantt() {
  if (timeline) timeline.highlight();
}
