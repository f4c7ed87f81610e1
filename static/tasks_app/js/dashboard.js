/*
 * Dashboard: counts by status, charts, the trees/tasks table (server-side filters, ordering and
 * limit/offset pagination: only one page is ever loaded), bulk actions, live refresh.
 */
import { api } from "./api.js";
import { dashboardLive } from "./live.js";
import * as ui from "./ui.js";
import { bulk } from "./dashboard/bulk.js";
import { loadExecutors, loadStats } from "./dashboard/charts.js";
import { COLUMNS, els, readUrl, state } from "./dashboard/state.js";
import { cell, load } from "./dashboard/table.js";

// ---- wiring -----------------------------------------------------------------------------
export function setTab(tab) {
  state.tab = tab;
  state.offset = 0;
  state.selected.clear();
  state.ordering = "-created_at";
  for (const b of document.querySelectorAll("[role=tab]"))
    b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  for (const el of document.querySelectorAll(".toolbar [data-only]")) el.hidden = el.dataset.only !== tab;
  load();
}

export function init() {
  readUrl();
  for (const b of document.querySelectorAll("[role=tab]"))
    b.setAttribute("aria-selected", String(b.dataset.tab === state.tab));
  for (const el of document.querySelectorAll(".toolbar [data-only]"))
    el.hidden = el.dataset.only !== state.tab;
  for (const b of document.querySelectorAll("[role=tab]"))
    b.addEventListener("click", () => setTab(b.dataset.tab));
  const refilter = ui.debounce(() => {
    state.offset = 0;
    state.selected.clear();
    load();
  }, 250);
  els.search.addEventListener("input", refilter);
  els.tag.addEventListener("input", refilter);
  for (const el of [els.status, els.executor, els.after]) el.addEventListener("change", refilter);
  els.size.addEventListener("change", () => {
    state.limit = +els.size.value;
    state.offset = 0;
    load();
  });
  els.prev.addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    load();
  });
  els.next.addEventListener("click", () => {
    state.offset += state.limit;
    load();
  });
  for (const b of els.bulkbar.querySelectorAll("[data-bulk]"))
    b.addEventListener("click", () => bulk(b.dataset.bulk));
  document.addEventListener("keydown", (ev) => {
    if (ui.isTyping(ev)) return;
    if (ev.key === "/") {
      ev.preventDefault();
      els.search.focus();
    } else if (ev.key === "n" || ev.key === "N") {
      location.href = api.pages.newTree();
    }
  });

  loadExecutors();
  load();
  loadStats();

  // live: update rows in place from events, refresh the counts now and then
  const refreshSoon = ui.debounce(() => {
    load();
    loadStats();
  }, 1500);
  const refreshStatsSoon = ui.debounce(loadStats, 3000);
  // a tree's row changed: update it in place (no reload of the page of rows)
  const updateTreeRow = (info) => {
    if (state.tab !== "trees") return;
    const row = state.rows.find((r) => String(r.id) === String(info.id));
    if (!row) return;
    let changed = false;
    for (const k of [
      "status",
      "handled_failures",
      "counts",
      "task_count",
      "started_at",
      "finished_at",
      "run_count",
    ]) {
      if (info[k] !== undefined && JSON.stringify(row[k]) !== JSON.stringify(info[k])) {
        row[k] = info[k];
        changed = true;
      }
    }
    if (!changed) return;
    const tr = els.tbody.querySelector(`tr[data-id="${CSS.escape(String(row.id))}"]`);
    if (!tr) return;
    tr.dataset.status = row.status;
    COLUMNS.trees.forEach((c, i) => {
      if (["status", "counts", "duration", "run_count", "started_at"].includes(c.key))
        tr.replaceChild(cell(row, c), tr.children[i + 1]);
    });
  };
  const mode = (m) => {
    els.live.dataset.mode = m;
    els.live.textContent = m === "live" ? "live" : m === "polling" ? "refreshing every 5 s" : m;
  };
  mode("connecting");
  dashboardLive({
    onMode: mode,
    poll: () => {
      if (!state.loading && !document.hidden) {
        load();
        loadStats();
      }
    },
    onFrame: (frame) => {
      if (frame.type === "snapshot") {
        if (Array.isArray(frame.trees)) frame.trees.forEach(updateTreeRow);
        return;
      }
      if (frame.type === "tree") {
        updateTreeRow({
          id: frame.tree,
          status: frame.status,
          counts: frame.counts,
          task_count: frame.task_count,
        });
        refreshStatsSoon();
        return;
      }
      if (frame.type === "event") {
        if (frame.kind === "tree.status" && frame.data && frame.data.status)
          updateTreeRow({
            id: frame.tree,
            status: frame.data.status,
            handled_failures: frame.data.handled_failures || 0,
          });
        if (frame.kind === "tree.created" || frame.kind === "tree.deleted") refreshSoon();
        else refreshStatsSoon();
      }
    },
  });
}

init();
