/* The dashboard's trees/tasks table: server-side filters, ordering, one page at a time. */
import * as G from "../graph.js";
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { COLUMNS, els, params, state, writeUrl } from "./state.js";

// ---- table ----------------------------------------------------------------------------
export function renderHead() {
  const cols = COLUMNS[state.tab];
  const all = h("input", { type: "checkbox", "aria-label": "Select all on this page", id: "select-all" });
  all.addEventListener("change", () => {
    for (const r of state.rows) {
      if (all.checked) state.selected.set(r.id, r);
      else state.selected.delete(r.id);
    }
    renderRows();
    renderBulk();
  });
  const tr = h("tr", h("th", { style: "width:28px" }, all));
  for (const c of cols) {
    let content = c.label;
    let sortState = "none";
    if (c.sort) {
      const active = state.ordering.replace(/^-/, "") === c.sort;
      const desc = state.ordering.startsWith("-");
      sortState = active ? (desc ? "descending" : "ascending") : "none";
      content = h(
        "button.sort",
        {
          type: "button",
          on: {
            click: () => {
              state.ordering = active && !desc ? `-${c.sort}` : c.sort;
              state.offset = 0;
              load();
            },
          },
        },
        c.label,
        active ? (desc ? " ▾" : " ▴") : "",
      );
    }
    tr.appendChild(
      h("th", { class: c.num ? "num" : "", "aria-sort": c.sort ? sortState : null, scope: "col" }, content),
    );
  }
  ui.clear(els.thead).appendChild(tr);
}

export function durationOf(row) {
  const start = row.started_at;
  const end = row.finished_at || row.completed_at;
  if (!start) return "—";
  if (!end) return row.status === "in_progress" ? `${G.formatDuration(ui.duration(start))} …` : "—";
  return G.formatDuration(ui.duration(start, end));
}

export function cell(row, col) {
  switch (col.key) {
    case "name": {
      const link =
        state.tab === "trees"
          ? api.pages.run(row.id)
          : `${api.pages.run(row.tree)}?task=${encodeURIComponent(row.id)}`;
      const extra = [];
      if (row.archived) extra.push(h("span.muted.small", " · archived"));
      if (row.original_tree)
        extra.push(h("span.muted.small", { title: "Copied from another tree" }, " · copy"));
      return h("td", h("a", { href: link, dataset: { testid: "row-link" } }, row.name), extra);
    }
    case "tree": {
      const id = String(row.tree || "");
      const name = treeNames.get(id);
      return h(
        "td",
        h("a.small", { href: api.pages.run(row.tree), title: id, dataset: { treeName: id } }, name || "…"),
      );
    }
    case "status": {
      const td = h("td", state.tab === "trees" ? ui.treeBadge(row) : ui.badge(row));
      if (row.status === "in_progress" && state.tab === "tasks" && row.progress)
        td.appendChild(ui.progressBar(row.progress));
      return td;
    }
    case "counts": {
      const c = row.counts || {};
      const total = row.task_count || Object.values(c).reduce((a, b) => a + b, 0) || 0;
      const bar = h("div.stackbar", { "aria-hidden": "true" });
      for (const k of ["completed", "in_progress", "failed", "cancelled"]) {
        if (c[k])
          bar.appendChild(
            h("span", { dataset: { state: k }, style: `width:${(100 * c[k]) / Math.max(1, total)}%` }),
          );
      }
      const parts = [];
      if (c.completed) parts.push(`✓ ${c.completed}`);
      if (c.in_progress) parts.push(`▶ ${c.in_progress}`);
      if (c.failed) parts.push(`✕ ${c.failed}`);
      if (c.cancelled) parts.push(`⊘ ${c.cancelled}`);
      const text = `${parts.join("  ")}${parts.length ? " of " : ""}${total}`;
      return h(
        "td.nowrap",
        {
          title: Object.entries(c)
            .map(([k, v]) => `${v} ${k.replace("_", " ")}`)
            .join(", "),
        },
        bar,
        h("span.small", text),
      );
    }
    case "priority":
      return h("td.num", ["0 urgent", "1 high", "2 normal", "3 low"][row.priority] || String(row.priority));
    case "created_at":
    case "started_at":
      return h("td.nowrap", ui.timeEl(row[col.key]));
    case "duration":
      return h("td.num.nowrap", durationOf(row));
    default:
      return h(col.num ? "td.num" : "td", row[col.key] == null ? "—" : String(row[col.key]));
  }
}

// tree id -> name for the Tasks tab. A tree's id is its root task's id and its name the root's
// name, so one light GET per tree not yet known (a page holds few distinct trees).
export const treeNames = new Map();
export async function loadTreeNames(rows) {
  const missing = Array.from(
    new Set(rows.map((r) => String(r.tree || "")).filter((id) => id && !treeNames.has(id))),
  );
  for (const r of rows) if (r.is_root) treeNames.set(String(r.tree), r.name);
  await Promise.all(
    missing
      .filter((id) => !treeNames.has(id))
      .map(async (id) => {
        try {
          const root = await api.task(id);
          treeNames.set(id, root.name);
        } catch (e) {
          treeNames.set(id, id.slice(0, 8));
        }
      }),
  );
  for (const a of els.tbody.querySelectorAll("a[data-tree-name]")) {
    const name = treeNames.get(a.dataset.treeName);
    if (name) a.textContent = name;
  }
}

export function renderRows() {
  const cols = COLUMNS[state.tab];
  const body = ui.clear(els.tbody);
  if (!state.rows.length) {
    body.appendChild(
      h(
        "tr",
        h(
          "td.empty",
          { colspan: String(cols.length + 1) },
          state.error ||
            (state.tab === "trees" ? "No trees match. Create one with “New tree”." : "No tasks match."),
        ),
      ),
    );
  }
  for (const row of state.rows) {
    const checked = state.selected.has(row.id);
    const box = h("input", { type: "checkbox", "aria-label": `Select ${row.name}`, checked });
    box.addEventListener("change", () => {
      if (box.checked) state.selected.set(row.id, row);
      else state.selected.delete(row.id);
      tr.classList.toggle("selected", box.checked);
      renderBulk();
    });
    const tr = h(
      "tr",
      { dataset: { id: row.id, name: row.name, status: row.status }, class: checked ? "selected" : "" },
      h("td", box),
    );
    for (const c of cols) tr.appendChild(cell(row, c));
    body.appendChild(tr);
  }
  const all = document.getElementById("select-all");
  if (all) all.checked = state.rows.length > 0 && state.rows.every((r) => state.selected.has(r.id));
  const from = state.count ? state.offset + 1 : 0;
  const to = Math.min(state.offset + state.rows.length, state.count);
  els.pageInfo.textContent = `${from.toLocaleString()}–${to.toLocaleString()} of ${state.count.toLocaleString()}`;
  els.summary.textContent = `${state.count.toLocaleString()} ${state.tab}`;
  els.prev.disabled = state.offset === 0;
  els.next.disabled = state.offset + state.limit >= state.count;
}

export function renderBulk() {
  const n = state.selected.size;
  els.bulkbar.hidden = n === 0;
  els.bulkCount.textContent = `${n} selected`;
  for (const b of els.bulkbar.querySelectorAll("[data-only]")) b.hidden = b.dataset.only !== state.tab;
}

export async function load() {
  writeUrl();
  if (state.loading) state.loading.abort();
  const ctrl = new AbortController();
  state.loading = ctrl;
  renderHead();
  try {
    const data =
      state.tab === "trees"
        ? await api.trees(params(), { signal: ctrl.signal })
        : await api.tasks(params(), { signal: ctrl.signal });
    state.rows = api.results(data);
    state.count = data && typeof data.count === "number" ? data.count : state.rows.length;
    state.error = null;
    if (state.offset > 0 && state.rows.length === 0 && state.count > 0) {
      state.offset = Math.max(0, Math.floor((state.count - 1) / state.limit) * state.limit);
      return load();
    }
  } catch (e) {
    if (e.name === "AbortError") return;
    state.rows = [];
    state.count = 0;
    state.error = `Could not load the list: ${ui.errorMessage(e)}`;
  } finally {
    if (state.loading === ctrl) state.loading = null;
  }
  renderRows();
  renderBulk();
  if (state.tab === "tasks" && state.rows.length) loadTreeNames(state.rows);
}
