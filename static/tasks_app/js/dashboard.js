/*
 * Dashboard: counts by status, charts, the trees/tasks table (server-side filters, ordering and
 * limit/offset pagination: only one page is ever loaded), bulk actions, live refresh.
 */
(function (root) {
  "use strict";
  const G = root.ArborGraph;
  const { api } = root.Arbor;
  const ui = root.Arbor.ui;
  const { h } = ui;

  const $ = (sel) => document.querySelector(sel);
  const els = {
    counts: $("#counts"),
    tbody: $("#list tbody"),
    thead: $("#list thead"),
    search: $("#f-search"),
    status: $("#f-status"),
    executor: $("#f-executor"),
    tag: $("#f-tag"),
    after: $("#f-after"),
    size: $("#f-size"),
    prev: $("#prev"),
    next: $("#next"),
    pageInfo: $("#page-info"),
    summary: $("#list-summary"),
    bulkbar: $("#bulkbar"),
    bulkCount: $("#bulk-count"),
    live: $("#live-mode"),
  };

  const COLUMNS = {
    trees: [
      { key: "name", label: "Tree", sort: "name" },
      { key: "status", label: "Status", sort: "status" },
      { key: "counts", label: "Tasks" },
      { key: "run_count", label: "Runs", num: true },
      { key: "created_at", label: "Created", sort: "created_at" },
      { key: "started_at", label: "Started" },
      { key: "duration", label: "Duration", num: true },
    ],
    tasks: [
      { key: "name", label: "Task", sort: "name" },
      { key: "tree", label: "Tree" },
      { key: "executor", label: "Executor", sort: "executor" },
      { key: "status", label: "Status", sort: "status" },
      { key: "priority", label: "Priority", sort: "priority", num: true },
      { key: "attempt_count", label: "Attempts", num: true },
      { key: "created_at", label: "Created", sort: "created_at" },
      { key: "duration", label: "Duration", num: true },
    ],
  };

  const state = {
    tab: "trees",
    offset: 0,
    limit: 25,
    ordering: "-created_at",
    count: 0,
    rows: [],
    selected: new Map(), // id -> row
    loading: null,
  };

  // ---- URL state: filters survive a reload and can be shared ------------------------------
  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.tab = q.get("tab") === "tasks" ? "tasks" : "trees";
    els.search.value = q.get("search") || "";
    els.status.value = q.get("status") || "";
    els.tag.value = q.get("tag") || "";
    els.after.value = q.get("after") || "";
    state.pendingExecutor = q.get("executor") || "";
    state.offset = Math.max(0, parseInt(q.get("offset") || "0", 10) || 0);
    state.limit = [25, 50, 100].includes(+q.get("limit")) ? +q.get("limit") : 25;
    els.size.value = String(state.limit);
    state.ordering = q.get("ordering") || "-created_at";
  }
  function writeUrl() {
    const q = api.query({
      tab: state.tab === "trees" ? "" : state.tab,
      search: els.search.value.trim(),
      status: els.status.value,
      executor: state.tab === "tasks" ? els.executor.value : "",
      tag: state.tab === "tasks" ? els.tag.value.trim() : "",
      after: els.after.value,
      offset: state.offset || "",
      limit: state.limit === 25 ? "" : state.limit,
      ordering: state.ordering === "-created_at" ? "" : state.ordering,
    });
    history.replaceState(null, "", location.pathname + q);
  }

  function params() {
    const p = {
      limit: state.limit,
      offset: state.offset,
      ordering: state.ordering,
      search: els.search.value.trim(),
      status: els.status.value,
      created_after: els.after.value ? `${els.after.value}T00:00:00Z` : "",
    };
    if (state.tab === "tasks") {
      p.executor = els.executor.value;
      p.tag = els.tag.value.trim();
    }
    return p;
  }

  // ---- table ----------------------------------------------------------------------------
  function renderHead() {
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
          active ? (desc ? " ▾" : " ▴") : ""
        );
      }
      tr.appendChild(h("th", { class: c.num ? "num" : "", "aria-sort": c.sort ? sortState : null, scope: "col" }, content));
    }
    ui.clear(els.thead).appendChild(tr);
  }

  function durationOf(row) {
    const start = row.started_at;
    const end = row.finished_at || row.completed_at;
    if (!start) return "—";
    if (!end) return row.status === "in_progress" ? `${G.formatDuration(ui.duration(start))} …` : "—";
    return G.formatDuration(ui.duration(start, end));
  }

  function cell(row, col) {
    switch (col.key) {
      case "name": {
        const link = state.tab === "trees" ? api.pages.run(row.id) : `${api.pages.run(row.tree)}?task=${encodeURIComponent(row.id)}`;
        const extra = [];
        if (row.archived) extra.push(h("span.muted.small", " · archived"));
        if (row.original_tree) extra.push(h("span.muted.small", { title: "Copied from another tree" }, " · copy"));
        return h("td", h("a", { href: link, dataset: { testid: "row-link" } }, row.name), extra);
      }
      case "tree": {
        const id = String(row.tree || "");
        const name = treeNames.get(id);
        return h("td", h("a.small", { href: api.pages.run(row.tree), title: id, dataset: { treeName: id } }, name || "…"));
      }
      case "status": {
        const td = h("td", state.tab === "trees" ? ui.treeBadge(row) : ui.badge(row));
        if (row.status === "in_progress" && state.tab === "tasks" && row.progress) td.appendChild(ui.progressBar(row.progress));
        return td;
      }
      case "counts": {
        const c = row.counts || {};
        const total = row.task_count || Object.values(c).reduce((a, b) => a + b, 0) || 0;
        const bar = h("div.stackbar", { "aria-hidden": "true" });
        for (const k of ["completed", "in_progress", "failed", "cancelled"]) {
          if (c[k]) bar.appendChild(h("span", { dataset: { state: k }, style: `width:${(100 * c[k]) / Math.max(1, total)}%` }));
        }
        const parts = [];
        if (c.completed) parts.push(`✓ ${c.completed}`);
        if (c.in_progress) parts.push(`▶ ${c.in_progress}`);
        if (c.failed) parts.push(`✕ ${c.failed}`);
        if (c.cancelled) parts.push(`⊘ ${c.cancelled}`);
        const text = `${parts.join("  ")}${parts.length ? " of " : ""}${total}`;
        return h("td.nowrap", { title: Object.entries(c).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") }, bar, h("span.small", text));
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
  const treeNames = new Map();
  async function loadTreeNames(rows) {
    const missing = Array.from(new Set(rows.map((r) => String(r.tree || "")).filter((id) => id && !treeNames.has(id))));
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
        })
    );
    for (const a of els.tbody.querySelectorAll("a[data-tree-name]")) {
      const name = treeNames.get(a.dataset.treeName);
      if (name) a.textContent = name;
    }
  }

  function renderRows() {
    const cols = COLUMNS[state.tab];
    const body = ui.clear(els.tbody);
    if (!state.rows.length) {
      body.appendChild(h("tr", h("td.empty", { colspan: String(cols.length + 1) }, state.error || (state.tab === "trees" ? "No trees match. Create one with “New tree”." : "No tasks match."))));
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
      const tr = h("tr", { dataset: { id: row.id, name: row.name, status: row.status }, class: checked ? "selected" : "" }, h("td", box));
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

  function renderBulk() {
    const n = state.selected.size;
    els.bulkbar.hidden = n === 0;
    els.bulkCount.textContent = `${n} selected`;
    for (const b of els.bulkbar.querySelectorAll("[data-only]")) b.hidden = b.dataset.only !== state.tab;
  }

  async function load() {
    writeUrl();
    if (state.loading) state.loading.abort();
    const ctrl = new AbortController();
    state.loading = ctrl;
    renderHead();
    try {
      const data = state.tab === "trees" ? await api.trees(params(), { signal: ctrl.signal }) : await api.tasks(params(), { signal: ctrl.signal });
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

  // ---- bulk actions ----------------------------------------------------------------------
  const BULK = {
    cancel: { verb: "Cancel", done: "cancelled", danger: true, run: (id) => (state.tab === "trees" ? api.treeAction(id, "cancel") : api.taskAction(id, "cancel")) },
    retry: { verb: "Retry", done: "retried", run: (id) => (state.tab === "trees" ? api.treeAction(id, "retry") : api.taskAction(id, "retry")) },
    copy: { verb: "Copy", done: "copied", run: (id) => api.treeAction(id, "copy", { mode: "full" }) },
    delete: { verb: "Delete", done: "deleted", danger: true, run: (id) => api.treeDelete(id) },
  };

  /** While a bulk action runs: its buttons and the selection are disabled, the bar shows a spinner
   * and "Deleting 1 of 3 trees…", and the table is marked aria-busy. */
  function setBusy(spec, total, what) {
    const controls = Array.from(els.bulkbar.querySelectorAll("button")).concat(Array.from(els.tbody.querySelectorAll("input[type=checkbox]")));
    const all = document.getElementById("select-all");
    if (all) controls.push(all);
    for (const c of controls) c.disabled = true;
    els.bulkbar.dataset.busy = "1";
    els.tbody.closest("table").setAttribute("aria-busy", "true");
    const ing = { Cancel: "Cancelling", Retry: "Retrying", Copy: "Copying", Delete: "Deleting" }[spec.verb] || spec.verb;
    const status = h("span.busy", { role: "status", dataset: { testid: "bulk-busy" } }, h("span.spinner", { "aria-hidden": "true" }), h("span.busy-text"));
    els.bulkbar.appendChild(status);
    return {
      progress(i) {
        status.lastChild.textContent = `${ing} ${Math.min(i + 1, total)} of ${total} ${what}${total === 1 ? "" : "s"}…`;
      },
      end() {
        status.remove();
        delete els.bulkbar.dataset.busy;
        els.tbody.closest("table").removeAttribute("aria-busy");
        for (const c of controls) c.disabled = false;
      },
    };
  }

  async function bulk(action) {
    if (action === "clear") {
      state.selected.clear();
      renderRows();
      renderBulk();
      return;
    }
    const spec = BULK[action];
    const items = Array.from(state.selected.values());
    const what = state.tab === "trees" ? "tree" : "task";
    const list = h("ul.affected", items.slice(0, 50).map((r) => h("li", h("span", r.name), ui.badge(r))));
    const body = h(
      "div",
      h("p", `${spec.verb} ${items.length} ${what}${items.length === 1 ? "" : "s"}?`),
      action === "delete" ? h("p.notice.bad", "Deleting removes the trees with all their tasks, attempts and events. This cannot be undone.") : null,
      action === "retry" ? h("p.muted.small", "Failed and cancelled tasks (and the tasks they blocked) go back to pending; completed work is kept.") : null,
      action === "cancel" ? h("p.muted.small", "Pending tasks are cancelled at once; running ones are asked to stop.") : null,
      action === "copy" ? h("p.muted.small", "Each tree is copied in full as a new, pending tree; the originals are not changed.") : null,
      list,
      items.length > 50 ? h("p.muted.small", `…and ${items.length - 50} more`) : null
    );
    const ok = await ui.confirmDialog({ title: `${spec.verb} ${items.length} ${what}${items.length === 1 ? "" : "s"}`, body, confirm: spec.verb, danger: spec.danger });
    if (!ok) return;
    let done = 0;
    const failures = [];
    const busy = setBusy(spec, items.length, what);
    try {
      for (const item of items) {
        busy.progress(done + failures.length);
        try {
          await spec.run(item.id);
          done += 1;
          state.selected.delete(item.id);
        } catch (e) {
          failures.push(`${item.name}: ${ui.errorMessage(e)}`);
        }
      }
    } finally {
      busy.end();
    }
    if (done) ui.toast(`${done} ${what}${done === 1 ? "" : "s"} ${spec.done}.`, "ok");
    if (failures.length) {
      ui.toast(`${failures.length} could not be ${spec.done}: ${failures.slice(0, 3).join("; ")}${failures.length > 3 ? "…" : ""}`, "error");
    }
    await Promise.all([load(), loadStats()]);
  }

  // ---- counts and charts -----------------------------------------------------------------
  const svgNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, text) {
    const el = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text != null) el.textContent = text;
    return el;
  }

  function renderCounts(stats) {
    const counts = (stats && stats.counts) || {};
    const total = stats && typeof stats.total === "number" ? stats.total : Object.values(counts).reduce((a, b) => a + b, 0);
    for (const card of els.counts.querySelectorAll("[data-count]")) {
      const key = card.dataset.count;
      const n = key === "total" ? total : counts[key] || 0;
      card.querySelector(".n").textContent = n.toLocaleString();
      const lbl = ui.clear(card.querySelector(".lbl"));
      if (key === "total") lbl.appendChild(h("span.muted", "All tasks"));
      else lbl.appendChild(ui.badge(key));
    }
  }

  function barChart(svg, values, labels, opts) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = svg.clientWidth || 400;
    const H = 116;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const padL = 28;
    const padB = 18;
    const max = Math.max(1, ...values);
    const bw = (W - padL) / values.length;
    svg.appendChild(s("line", { class: "axis", x1: padL, y1: H - padB, x2: W, y2: H - padB }));
    svg.appendChild(s("text", { x: 0, y: 10 }, String(max)));
    svg.appendChild(s("text", { x: 0, y: H - padB }, "0"));
    values.forEach((v, i) => {
      const bh = ((H - padB - 6) * v) / max;
      const rect = s("rect", { class: "bar", x: padL + i * bw + 1, y: H - padB - bh, width: Math.max(1, bw - 2), height: bh });
      rect.appendChild(s("title", {}, `${labels[i]}: ${v} ${opts.unit}`));
      svg.appendChild(rect);
    });
    const step = Math.ceil(values.length / 6);
    labels.forEach((l, i) => {
      if (i % step === 0) svg.appendChild(s("text", { x: padL + i * bw, y: H - 4 }, l));
    });
  }

  function hbarChart(svg, items) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = svg.clientWidth || 300;
    const rowH = 23;
    const H = Math.max(116, items.length * rowH + 4);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.style.height = `${H}px`;
    if (!items.length) {
      svg.appendChild(s("text", { x: 4, y: 20 }, "No finished tasks yet."));
      return;
    }
    const max = Math.max(...items.map((x) => x.seconds), 0.001);
    items.forEach((it, i) => {
      const y = i * rowH + 2;
      const bw = Math.max(2, ((W - 70) * it.seconds) / max);
      const a = s("a", { href: `${api.pages.run(it.tree)}?task=${encodeURIComponent(it.id)}` });
      const rect = s("rect", { class: "bar slow", x: 0, y: y + 13, width: bw, height: 8, rx: 2 });
      a.appendChild(rect);
      a.appendChild(s("text", { x: 0, y: y + 10 }, `${it.name}`));
      a.appendChild(s("text", { x: Math.min(bw + 4, W - 64), y: y + 21 }, G.formatDuration(it.seconds)));
      a.appendChild(s("title", {}, `${it.name}: ${G.formatDuration(it.seconds)} (${it.status})`));
      svg.appendChild(a);
    });
  }

  function renderAverage(stats) {
    const body = ui.clear(document.querySelector("#chart-average [data-role=body]"));
    const avg = stats ? stats.average_execution_seconds : null;
    body.appendChild(h("div", h("div.big", { style: "font-size:26px;font-weight:700" }, G.formatDuration(avg)), h("div.muted.small", "average per finished task")));
    const kv = h("dl.kv");
    const add = (k, v) => kv.append(h("dt", k), h("dd", v));
    if (stats && stats.finished != null) add("Finished", Number(stats.finished).toLocaleString());
    if (stats && stats.total_execution_seconds != null) add("Total time", G.formatDuration(stats.total_execution_seconds));
    if (stats && stats.slowest && stats.slowest[0]) add("Slowest", G.formatDuration(stats.slowest[0].seconds));
    const outcomes = stats && stats.attempts && stats.attempts.by_outcome;
    if (outcomes) add("Attempts", Object.entries(outcomes).map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`).join(", ") || "—");
    body.appendChild(kv);
  }

  /** Throughput: the stats' series when it has one, else /stats/throughput/ (an aggregate, never a sample). */
  async function renderThroughput(stats) {
    const svg = document.querySelector("#chart-throughput svg");
    const rangeEl = document.querySelector("#chart-throughput [data-role=range]");
    let series = stats && (stats.throughput || stats.throughput_per_minute || stats.timeline);
    if (Array.isArray(series) && series.length && typeof series[0] === "object") {
      const values = series.map((p) => p.count != null ? p.count : p.completed || 0);
      const labels = series.map((p) => {
        const t = p.t || p.time || p.bucket || p.start;
        return t ? new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
      });
      rangeEl.textContent = "(tasks finished)";
      barChart(svg, values, labels, { unit: "tasks" });
      return;
    }
    // completions per bucket from the API's aggregate (a GROUP BY over every completion): the
    // first window, from the finest, that has any completion
    const windows = [
      { bucket: "minute", count: 60, label: "per minute, last hour", fmt: (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) },
      { bucket: "hour", count: 24, label: "per hour, last 24 h", fmt: (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) },
      { bucket: "day", count: 30, label: "per day, last 30 days", fmt: (d) => d.toLocaleDateString([], { month: "short", day: "numeric" }) },
    ];
    let chosen = windows[0];
    let data = null;
    for (const w of windows) {
      chosen = w;
      try {
        data = await api.throughput({ bucket: w.bucket, count: w.count });
      } catch (e) {
        data = null;
      }
      if (data && data.total) break;
    }
    const points = (data && data.series) || [];
    const values = points.map((p) => p.count);
    const labels = points.map((p) => chosen.fmt(new Date(p.t)));
    rangeEl.textContent = `(completed tasks ${chosen.label}${data ? `, ${data.total.toLocaleString()} in all` : ""})`;
    barChart(svg, values, labels, { unit: "tasks" });
  }

  async function loadStats() {
    let stats = null;
    try {
      stats = await api.stats();
    } catch (e) {
      stats = null;
    }
    renderCounts(stats);
    renderAverage(stats);
    hbarChart(document.querySelector("#chart-slowest svg"), ((stats && stats.slowest) || []).slice(0, 5));
    await renderThroughput(stats);
  }

  async function loadExecutors() {
    try {
      const list = api.results(await api.executors());
      for (const ex of list) els.executor.appendChild(h("option", { value: ex.id }, ex.name ? `${ex.name} (${ex.id})` : ex.id));
      if (state.pendingExecutor) els.executor.value = state.pendingExecutor;
    } catch (e) {
      /* the filter just stays empty */
    }
  }

  // ---- wiring -----------------------------------------------------------------------------
  function setTab(tab) {
    state.tab = tab;
    state.offset = 0;
    state.selected.clear();
    state.ordering = "-created_at";
    for (const b of document.querySelectorAll("[role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    for (const el of document.querySelectorAll(".toolbar [data-only]")) el.hidden = el.dataset.only !== tab;
    load();
  }

  function init() {
    readUrl();
    for (const b of document.querySelectorAll("[role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === state.tab));
    for (const el of document.querySelectorAll(".toolbar [data-only]")) el.hidden = el.dataset.only !== state.tab;
    for (const b of document.querySelectorAll("[role=tab]")) b.addEventListener("click", () => setTab(b.dataset.tab));
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
    for (const b of els.bulkbar.querySelectorAll("[data-bulk]")) b.addEventListener("click", () => bulk(b.dataset.bulk));
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
      for (const k of ["status", "handled_failures", "counts", "task_count", "started_at", "finished_at", "run_count"]) {
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
        if (["status", "counts", "duration", "run_count", "started_at"].includes(c.key)) tr.replaceChild(cell(row, c), tr.children[i + 1]);
      });
    };
    const mode = (m) => {
      els.live.dataset.mode = m;
      els.live.textContent = m === "live" ? "live" : m === "polling" ? "refreshing every 5 s" : m;
    };
    mode("connecting");
    root.Arbor.dashboardLive = root.Arbor.live.dashboard({
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
          updateTreeRow({ id: frame.tree, status: frame.status, counts: frame.counts, task_count: frame.task_count });
          refreshStatsSoon();
          return;
        }
        if (frame.type === "event") {
          if (frame.kind === "tree.status" && frame.data && frame.data.status) updateTreeRow({ id: frame.tree, status: frame.data.status, handled_failures: frame.data.handled_failures || 0 });
          if (frame.kind === "tree.created" || frame.kind === "tree.deleted") refreshSoon();
          else refreshStatsSoon();
        }
      },
    });
  }

  init();
})(window);
