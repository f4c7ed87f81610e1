/*
 * Live run view of one tree. The graph is the tree's own stored tasks and dependencies (a past
 * run is drawn as it ran; copies are separate trees). Layout happens once per structure (cached
 * per tree); live events only change node data, in one cy.batch per animation frame.
 */
(function (root) {
  "use strict";
  const G = root.ArborGraph;
  const { api, cygraph } = root.Arbor;
  const ui = root.Arbor.ui;
  const { h } = ui;
  const config = api.config;
  const TREE = config.tree;

  const metrics = (root.__arborMetrics = { start: performance.now() });
  const big = root.Arbor.bigtree || null; // collapse by default, minimap, semantic zoom
  const mark = (name) => {
    metrics[name] = performance.now();
  };

  const $ = (sel) => document.querySelector(sel);
  const els = {
    cy: $("#cy"),
    loading: $("#loading"),
    detail: $("#detail"),
    list: $("#list-view"),
    legend: $("#legend"),
    gantt: $("#gantt"),
    ganttNote: $("#gantt-note"),
    status: $("#tree-status"),
    counts: $("#tree-counts"),
    live: $("#live-mode"),
    find: $("#find"),
    filterNote: $("#filter-note"),
  };

  const state = {
    tree: null,
    tasks: new Map(), // id -> task (API representation + parent/deps)
    nodes: [], // graph nodes, in position order
    index: null,
    selected: null,
    collapsed: new Set(),
    hiddenBy: new Map(), // hidden task id -> collapsed ancestor id
    filter: null, // {id, dir}
    view: "graph",
    attempts: [],
    logs: new Map(), // task id -> live log lines [{level, line, at}]
    queue: [],
    flushScheduled: false,
    live: null,
    structureKey: null,
  };
  let cy = null;

  const task = (id) => state.tasks.get(String(id));
  const nameOf = (id) => (task(id) ? task(id).name : String(id).slice(0, 8));

  // ---- loading and drawing ------------------------------------------------------------------
  function layoutCacheKey(key) {
    return `arbor.layout.v2.${TREE}.${key}`;
  }
  function cachedPositions(key) {
    try {
      const raw = localStorage.getItem(layoutCacheKey(key));
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }
  function cachePositions(key, positions) {
    try {
      for (let i = localStorage.length - 1; i >= 0; i -= 1) {
        const k = localStorage.key(i);
        if (k && k.startsWith("arbor.layout.") && k.includes(TREE) && k !== layoutCacheKey(key)) localStorage.removeItem(k);
      }
      localStorage.setItem(layoutCacheKey(key), JSON.stringify(positions));
    } catch (e) {
      /* storage full or disabled: layout again next time */
    }
  }

  function ingest(detail) {
    state.tree = detail;
    state.nodes = G.fromApiTasks(detail.tasks || []);
    state.tasks = new Map(state.nodes.map((n) => [n.id, n]));
    state.index = G.buildIndex(state.nodes);
    state.structureKey = G.structureKey(state.nodes);
  }

  async function load() {
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
    root.arborRun.cy = cy;
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
    renderHeader();
    renderLegend();
    renderDetail();
    startLive();
    loadAttempts();
    const initial = new URLSearchParams(location.search).get("task");
    if (initial && task(initial)) select(initial, true);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    mark("interactive");
    document.body.dataset.ready = "1";
  }

  /** Structure changed under us (a task or dependency added/removed): redraw, keep what we can. */
  async function reloadStructure() {
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
    renderHeader();
    renderDetail();
    if (state.view === "list") renderList();
  }

  function bindCanvas() {
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

  function select(id, center) {
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
    renderDetail();
    highlightGantt();
  }

  // ---- collapse / expand subtrees --------------------------------------------------------------
  function collapseKey() {
    return `arbor.collapsed.${TREE}`;
  }
  function restoreCollapsed() {
    try {
      const stored = localStorage.getItem(collapseKey());
      const ids = stored == null && big ? big.defaultCollapsed(state.nodes, state.index) : JSON.parse(stored || "[]");
      state.collapsed = new Set(ids.filter((id) => state.tasks.has(id)));
    } catch (e) {
      state.collapsed = new Set();
    }
  }
  /** A big tree with collapsed subtrees is laid out on its visible tasks only (bigtree.js). */
  const compact = () => big && state.nodes.length > big.COLLAPSE_ABOVE && state.collapsed.size > 0;
  async function layoutVisible(focusId) {
    const visible = state.nodes.filter((n) => !state.hiddenBy.has(String(n.id)));
    const ids = new Set(visible.map((n) => String(n.id)));
    const slim = visible.map((n) => Object.assign({}, n, { deps: (n.deps || []).filter((d) => ids.has(String(d.id))) }));
    const positions = await cygraph.computeLayout(cy, slim);
    cygraph.applyPositions(cy, positions);
    const focus = focusId && cy.getElementById(focusId);
    if (focus && !focus.empty()) cy.center(focus);
    else fitReadable();
    return positions;
  }
  /** Fit, but never so far out that the labels are dropped: then start at the root's side, at a
   * readable zoom, vertically centred (the minimap shows the rest). */
  function fitReadable() {
    cygraph.fit(cy);
    const min = big && state.lazy ? big.READABLE_ZOOM : 0;
    if (cy.zoom() >= min) return;
    const bb = cy.nodes(":visible").boundingBox();
    cy.viewport({ zoom: min, pan: { x: 40 - bb.x1 * min, y: cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * min } });
  }
  function afterCollapseChange(id) {
    if (big && state.nodes.length > big.COLLAPSE_ABOVE) layoutVisible(id);
  }
  function saveCollapsed() {
    try {
      localStorage.setItem(collapseKey(), JSON.stringify(Array.from(state.collapsed)));
    } catch (e) {
      /* ignore */
    }
  }

  function collapsedExtra(id) {
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
  function groupState(id) {
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
  function detailLabel(id) {
    const t = task(id);
    if (!t) return "";
    const bits = [t.executor];
    if (t.attempt_count) bits.push(`${t.attempt_count} attempt${t.attempt_count === 1 ? "" : "s"}`);
    return `${cygraph.nodeLabel(t, collapsedExtra(id))}\n${bits.join(" · ")}`;
  }

  /** Lazy mode (a big tree opened collapsed): Cytoscape holds the visible tasks and their edges only. */
  function syncVisibleElements() {
    const want = cygraph.elements(state.nodes.filter((n) => !state.hiddenBy.has(String(n.id))), null);
    const ids = new Set(want.map((e) => e.data.id));
    cy.batch(() => {
      cy.elements().filter((e) => !ids.has(e.id())).remove();
      const add = want.filter((e) => cy.getElementById(e.data.id).empty());
      if (add.length) cy.add(add);
    });
  }

  function applyCollapse() {
    state.hiddenBy = new Map();
    for (const id of state.collapsed) {
      if (state.hiddenBy.has(id)) continue;
      for (const d of G.descendantsOf(state.nodes, id, state.index)) if (!state.hiddenBy.has(d)) state.hiddenBy.set(d, id);
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

  function toggleCollapse(id) {
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
    renderDetail();
  }

  function expandTo(id) {
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
  function setFilter(id, dir) {
    state.filter = id && dir ? { id, dir } : null;
    applyFilter();
    renderDetail();
  }
  function applyFilter() {
    if (!cy) return;
    const f = state.filter;
    if (!f || !task(f.id)) {
      cy.elements().removeClass("dimmed");
      els.filterNote.hidden = true;
      return;
    }
    const keep = new Set([f.id]);
    if (f.dir === "up" || f.dir === "both") for (const x of G.upstreamOf(state.nodes, f.id, state.index)) keep.add(x);
    if (f.dir === "down" || f.dir === "both") for (const x of G.downstreamOf(state.nodes, f.id, state.index)) keep.add(x);
    cy.batch(() => {
      cy.nodes().forEach((n) => n.toggleClass("dimmed", !keep.has(n.id())));
      cy.edges().forEach((e) => e.toggleClass("dimmed", !(keep.has(e.source().id()) && keep.has(e.target().id()) && e.data("kind") === "dep")));
    });
    const words = { up: "upstream of", down: "downstream of", both: "upstream and downstream of" };
    ui.clear(els.filterNote);
    els.filterNote.append(`Showing ${keep.size - 1} task${keep.size === 2 ? "" : "s"} ${words[f.dir]} “${nameOf(f.id)}” `, h("button.btn.small", { type: "button", on: { click: () => setFilter(null) } }, "Clear filter"));
    els.filterNote.style.display = "";
    els.filterNote.hidden = false;
  }

  // ---- header, legend, counts ---------------------------------------------------------------------
  function counts() {
    const c = { pending: 0, in_progress: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const t of state.tasks.values()) c[t.status] = (c[t.status] || 0) + 1;
    return c;
  }

  function renderHeader() {
    const tree = state.tree;
    ui.clear(els.status).appendChild(ui.treeBadge(tree));
    const c = counts();
    const total = state.tasks.size;
    const parts = [`${c.completed}/${total} done`];
    if (c.in_progress) parts.push(`${c.in_progress} running`);
    if (c.failed) parts.push(`${c.failed} failed`);
    if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
    els.counts.textContent = parts.join(" · ");
    const running = tree.status === "in_progress";
    $("#act-run").disabled = running || tree.archived || c.pending === 0;
    $("#act-cancel").disabled = !running && c.in_progress === 0;
    $("#act-retry").disabled = running || tree.archived || c.failed + c.cancelled === 0;
    document.title = `${G.stateInfo(G.visualState({ status: tree.status })).icon} ${tree.name} · Arbor`;
  }

  function renderLegend() {
    const box = document.getElementById("legend-box");
    try {
      if (localStorage.getItem("arbor.legend") === "closed") box.open = false;
      box.addEventListener("toggle", () => localStorage.setItem("arbor.legend", box.open ? "open" : "closed"));
    } catch (e) {
      /* no storage */
    }
    ui.clear(els.legend);
    for (const key of ["pending", "waiting", "in_progress", "completed", "failed", "blocked", "cancelled", "retrying"]) {
      els.legend.appendChild(ui.badge({ status: key === "blocked" ? "cancelled" : key === "waiting" || key === "retrying" ? "pending" : key, waiting_reason: key === "waiting" ? "x" : "", error_type: key === "blocked" ? "upstream_failed" : null, attempt_count: key === "retrying" ? 1 : 0, error: key === "retrying" ? "x" : null }));
    }
    els.legend.append(h("span", h("span.line"), "requires"), h("span", h("span.line.optional"), "optional"), h("span", h("span.line.parent"), "parent ◇ child"), h("span.muted", "double-click: collapse subtree"));
  }

  // ---- detail panel ----------------------------------------------------------------------------------
  let detailToken = 0;
  function section(title, ...children) {
    return h("div.section", title ? h("h3", { style: "margin-top:0" }, title) : null, ...children);
  }
  function taskLink(id, label) {
    return h("a", { href: `?task=${encodeURIComponent(id)}`, on: { click: (ev) => (ev.preventDefault(), select(id, true)) } }, label || nameOf(id));
  }

  function renderTreeSummary() {
    const tree = state.tree;
    const c = counts();
    const box = h("div");
    box.appendChild(
      section(
        null,
        h("h2", "Run"),
        h(
          "dl.kv",
          h("dt", "Status"),
          h("dd", ui.treeBadge(tree)),
          h("dt", "Tasks"),
          h("dd", String(state.tasks.size)),
          h("dt", "Runs"),
          h("dd", String(tree.run_count || 0)),
          h("dt", "Created"),
          h("dd", ui.timeEl(tree.created_at)),
          h("dt", "Started"),
          h("dd", ui.timeEl(tree.started_at)),
          h("dt", "Finished"),
          h("dd", ui.timeEl(tree.finished_at)),
          h("dt", "Duration"),
          h("dd", tree.started_at ? G.formatDuration(ui.duration(tree.started_at, tree.finished_at)) : "—"),
          tree.original_tree ? [h("dt", "Copied from"), h("dd", h("a", { href: api.pages.run(tree.original_tree) }, "the original tree"))] : null,
          tree.archived ? [h("dt", "Archived"), h("dd", "read-only snapshot")] : null
        )
      )
    );
    const list = h("div.stack");
    for (const k of ["pending", "in_progress", "completed", "failed", "cancelled"]) {
      list.appendChild(h("div.row", ui.badge(k), h("span.grow"), h("strong", String(c[k] || 0))));
    }
    box.appendChild(section("Tasks by status", list));
    const attention = state.nodes.filter((t) => ["failed", "blocked", "waiting"].includes(G.visualState(t))).slice(0, 12);
    if (attention.length) {
      box.appendChild(section("Needs attention", h("ul", { style: "padding-left:16px;margin:0" }, attention.map((t) => h("li", taskLink(t.id), " ", ui.badge(t))))));
    }
    box.appendChild(section(null, h("p.muted.small", "Click a task for its inputs, result, attempts and logs. Actions show which tasks they will change before they run.")));
    return box;
  }

  function actionButton(label, action, t, opts) {
    const b = h(`button.btn.small${opts && opts.primary ? ".primary" : ""}`, { type: "button", dataset: { action } }, label);
    b.disabled = Boolean(opts && opts.disabled);
    if (opts && opts.id) b.id = opts.id;
    if (opts && opts.title) b.title = opts.title;
    b.addEventListener("click", () => runAction(action, t));
    return b;
  }

  function renderTaskDetail(t) {
    const token = ++detailToken;
    const box = h("div", { dataset: { task: t.id } });
    const vstate = G.visualState(t);
    const head = section(
      null,
      h("div.row", h("h2", { style: "margin:0;overflow-wrap:anywhere" }, t.name), h("span.grow"), h("button.btn.small", { type: "button", "aria-label": "Close details", on: { click: () => select(null) } }, "✕")),
      h("div.row", ui.badge(t), t.is_root ? h("span.muted.small", "root") : null, h("span.muted.small", t.executor))
    );
    if (t.status === "in_progress") {
      head.appendChild(h("div", { style: "margin-top:8px" }, ui.progressBar(t.progress, `${t.name} progress`), h("div.small.muted", `${Math.round((t.progress || 0) * 100)}%${t.progress_message ? ` · ${t.progress_message}` : ""}`)));
    }
    if (vstate === "waiting") head.appendChild(h("p.notice.warn", { style: "margin:8px 0 0" }, h("strong", "◔ Waiting: "), t.waiting_reason));
    if (vstate === "blocked") head.appendChild(h("p.notice.bad", { style: "margin:8px 0 0" }, h("strong", t.error_type === G.UPSTREAM_CANCELLED ? "⊘ Upstream cancelled: " : "⚠ Blocked: "), t.error || "a required upstream task failed or was cancelled", t.error_type === G.UPSTREAM_CANCELLED ? ". Retry the cancelled upstream task to run it." : ". Retry the failed upstream task to run it."));
    if (vstate === "retrying") head.appendChild(h("p.notice.warn", { style: "margin:8px 0 0" }, h("strong", "↻ Retry scheduled "), `after attempt ${t.attempt_count}`));
    const mark = t.status === "completed" && t.result && typeof t.result === "object" && ["success", "skipped"].includes(t.result.marked) ? t.result : null;
    if (mark) head.appendChild(h("p.notice", { style: "margin:8px 0 0", dataset: { marked: mark.marked } }, h("strong", mark.marked === "skipped" ? "⤼ Skipped " : "✓ Completed "), `(marked ${mark.marked === "skipped" ? "skipped" : "success"} by ${mark.by})`));
    box.appendChild(head);

    const terminal = ["completed", "failed", "cancelled"].includes(t.status);
    const running = state.tree.status === "in_progress";
    const markable = ["failed", "cancelled", "pending"].includes(t.status);
    box.appendChild(
      section(
        "Actions",
        h(
          "div.action-row",
          actionButton("⊘ Cancel", "cancel", t, { disabled: terminal, title: "Cancel this task; tasks that require it are cancelled too" }),
          actionButton("↻ Retry", "retry", t, { disabled: !["failed", "cancelled"].includes(t.status), title: "Retry in place, with the tasks it blocked" }),
          actionButton("✓ Mark success", "mark_success", t, { id: "task-mark-success", disabled: !markable, title: "Mark this task completed by your word; the tasks it blocked run" }),
          actionButton("⤼ Skip", "skip", t, { id: "task-skip", disabled: !markable, title: "Skip this task: completed, marked skipped; dependents run without its result" }),
          actionButton("⟲ Re-run from here", "rerun", t, { disabled: running || !terminal, title: "This task and everything downstream go back to pending and run again" }),
          actionButton("▶ Run this", "execute", t, { disabled: running || t.status !== "pending", title: "Run this task with its unfinished upstream tasks" }),
          actionButton("❐ Copy & run", "copyrun", t, { title: "Copy this task with everything that depends on it into a new tree, and run it" }),
          h("a.btn.small", { href: api.pages.copyTask(TREE, t.id, "minimal"), title: "Open a copy of this task and its dependents in the editor" }, "✎ Copy with edits")
        ),
        h(
          "div.action-row",
          { style: "margin-top:8px" },
          h("span.small.muted", { style: "align-self:center" }, "Show:"),
          filterButton(t, "up", "Upstream"),
          filterButton(t, "down", "Downstream"),
          filterButton(t, "both", "Both"),
          (state.index.children.get(t.id) || []).length
            ? h("button.btn.small", { type: "button", on: { click: () => toggleCollapse(t.id) } }, state.collapsed.has(t.id) ? "▸ Expand subtree" : "▾ Collapse subtree")
            : null
        )
      )
    );

    const kv = h("dl.kv");
    const add = (k, v) => kv.append(h("dt", k), h("dd", v));
    add("Priority", ["0 · urgent", "1 · high", "2 · normal", "3 · low"][t.priority] || String(t.priority));
    add("Attempts", String(t.attempt_count || 0) + (t.max_retries != null ? ` (max retries ${t.max_retries})` : ""));
    if (t.timeout != null) add("Timeout", G.formatDuration(t.timeout));
    if (t.resources && t.resources.length) add("Resources", t.resources.map((r) => `${r.type}:${r.identifier} (${r.mode || "exclusive"})`).join(", "));
    if (t.tags && t.tags.length) add("Tags", t.tags.join(", "));
    add("Started", ui.timeEl(t.started_at));
    add("Completed", ui.timeEl(t.completed_at));
    if (t.started_at) add("Duration", G.formatDuration(ui.duration(t.started_at, t.completed_at)));
    add("Parent", t.parent ? taskLink(t.parent) : "— (root)");
    add("Depends on", t.deps.length ? h("span", t.deps.map((d, i) => [i ? ", " : "", taskLink(d.id), d.required ? "" : " (optional)"])) : "nothing");
    const dependents = state.index.downstream.get(t.id) || [];
    add("Needed by", dependents.length ? h("span", dependents.slice(0, 20).map((d, i) => [i ? ", " : "", taskLink(d)]), dependents.length > 20 ? ` … +${dependents.length - 20}` : "") : "nothing");
    box.appendChild(section("Details", kv));

    box.appendChild(section("Inputs (as defined)", ui.json(t.inputs || {})));
    const effective = h("div", h("span.muted.small", "Loading…"));
    box.appendChild(section("Effective inputs (latest attempt)", effective));
    if (t.result !== null && t.result !== undefined) box.appendChild(section("Result", ui.json(t.result)));
    if (t.error) box.appendChild(section("Error", h("pre.json.error-text", `${t.error_type ? `[${t.error_type}] ` : ""}${t.error}`)));
    const attemptsBox = h("div", h("span.muted.small", "Loading…"));
    box.appendChild(section("Attempts", attemptsBox));
    const logsBox = h("div.logs", { id: "log-lines", "aria-label": "Log lines" });
    box.appendChild(section("Logs", logsBox));
    const lineageBox = h("div", h("span.muted.small", "Loading…"));
    box.appendChild(section("Lineage", lineageBox));

    // details that need their own requests
    (async () => {
      try {
        const attempts = api.results(await api.taskAttempts(t.id));
        if (token !== detailToken) return;
        ui.clear(attemptsBox);
        if (!attempts.length) attemptsBox.appendChild(h("span.muted.small", "Not run yet."));
        else {
          const table = h("table.data.attempts", h("thead", h("tr", h("th", "#"), h("th", "Outcome"), h("th", "Started"), h("th.num", "Duration"), h("th", "Worker"))));
          const tb = h("tbody");
          for (const a of attempts) {
            tb.appendChild(h("tr", { dataset: { outcome: a.outcome } }, h("td", String(a.number)), h("td", ui.outcomeBadge(a.outcome)), h("td", ui.timeEl(a.started_at)), h("td.num", G.formatDuration(a.duration != null ? a.duration : ui.duration(a.started_at, a.finished_at))), h("td.small", { title: a.worker }, (a.worker || "").split(":").slice(-2).join(":"))));
            if (a.error && a.outcome !== "completed") tb.appendChild(h("tr", h("td"), h("td.small", { colspan: "4", style: "color:var(--danger)" }, a.error)));
          }
          table.appendChild(tb);
          attemptsBox.appendChild(table);
        }
        const latest = attempts[attempts.length - 1];
        ui.clear(effective).appendChild(latest ? ui.json(latest.effective_inputs || {}) : h("span.muted.small", "Built when the task starts: its inputs merged with the results of its dependencies."));
        const lines = [];
        for (const a of attempts) {
          for (const l of a.logs || []) {
            const entry = typeof l === "string" ? { line: l } : Array.isArray(l) ? { level: l[0], line: l[1] } : l;
            lines.push(Object.assign({ attempt: a.number }, entry));
          }
        }
        const live = state.logs.get(t.id) || [];
        renderLogs(logsBox, lines.length ? lines : live);
      } catch (e) {
        if (token === detailToken) ui.clear(attemptsBox).appendChild(h("span.muted.small", `Could not load attempts: ${ui.errorMessage(e)}`));
      }
    })();
    (async () => {
      try {
        const lin = await api.taskLineage(t.id);
        if (token !== detailToken) return;
        ui.clear(lineageBox);
        if (lin && lin.original) lineageBox.appendChild(h("p", { style: "margin:0 0 4px" }, "Copied from ", h("a", { href: `${api.pages.run(lin.original.tree)}?task=${encodeURIComponent(lin.original.id)}` }, lin.original.name), " ", ui.badge(lin.original)));
        const copies = (lin && lin.copies) || [];
        if (copies.length) lineageBox.appendChild(h("div", "Copies: ", copies.slice(0, 10).map((c, i) => [i ? ", " : "", h("a", { href: `${api.pages.run(c.tree)}?task=${encodeURIComponent(c.id)}` }, `${c.name} (${c.origin_type})`)])));
        if (!lineageBox.childNodes.length) lineageBox.appendChild(h("span.muted.small", "An original: not copied from another task, no copies yet."));
      } catch (e) {
        if (token === detailToken) ui.clear(lineageBox).appendChild(h("span.muted.small", "No lineage available."));
      }
    })();
    return box;
  }

  function renderLogs(box, lines) {
    ui.clear(box);
    if (!lines.length) {
      box.appendChild(h("span.muted", "No log lines."));
      return;
    }
    for (const l of lines.slice(-300)) {
      box.appendChild(h("div", { class: `lvl-${l.level || "info"}` }, l.attempt ? h("span.muted", `#${l.attempt} `) : null, l.level && l.level !== "info" ? `${l.level.toUpperCase()} ` : "", l.line || l.message || JSON.stringify(l)));
    }
    box.scrollTop = box.scrollHeight;
  }

  function filterButton(t, dir, label) {
    const active = state.filter && state.filter.id === t.id && state.filter.dir === dir;
    const b = h("button.btn.small", { type: "button", "aria-pressed": String(Boolean(active)) }, label);
    b.addEventListener("click", () => setFilter(active ? null : t.id, active ? null : dir));
    return b;
  }

  function renderDetail() {
    const t = state.selected && task(state.selected);
    ui.clear(els.detail).appendChild(t ? renderTaskDetail(t) : renderTreeSummary());
  }

  /** Cheap in-place update of the open detail panel for progress ticks. */
  function refreshDetailProgress(t) {
    const bar = els.detail.querySelector('[role="progressbar"]');
    if (!bar || t.status !== "in_progress") return false;
    const pct = Math.round((t.progress || 0) * 100);
    bar.setAttribute("aria-valuenow", String(pct));
    bar.firstChild.style.width = `${pct}%`;
    const note = bar.nextSibling;
    if (note) note.textContent = `${pct}%${t.progress_message ? ` · ${t.progress_message}` : ""}`;
    return true;
  }

  // ---- actions with a preview of their effect ---------------------------------------------------------
  const ACTION_TEXT = {
    cancel: { title: "Cancel", verb: "Cancel tasks", to: "cancelled", danger: true, lead: "These tasks will be cancelled (running ones are asked to stop, then stopped):" },
    retry: { title: "Retry", verb: "Retry", to: "pending", lead: "These tasks go back to pending and run again; completed work is kept:" },
    mark_success: { title: "Mark success", verb: "Mark success", to: (x, i) => (i === 0 ? "completed" : "pending"), path: "mark-success", done: "marked success", lead: "The first task becomes completed by your word (its result feeds no inputs); the tasks it alone blocked go back to pending and run:" },
    skip: { title: "Skip", verb: "Skip", to: (x, i) => (i === 0 ? "completed" : "pending"), done: "skipped", lead: "The first task is skipped (completed, marked skipped; dependents run without its result); the tasks it alone blocked go back to pending and run:" },
    rerun: { title: "Re-run from here", verb: "Re-run", to: "pending", lead: "This task and everything downstream go back to pending and run again (earlier attempts stay in the history):" },
  };

  function affectedList(items, to) {
    return h(
      "ul.affected",
      { "aria-label": "Affected tasks" },
      items.slice(0, 200).map((x, i) => h("li", { dataset: { task: x.id } }, h("span", x.name), h("span.row", ui.badge(task(x.id) || x), h("span.muted", "→"), ui.badge(typeof to === "function" ? to(x, i) : to))))
    );
  }

  async function runAction(action, t) {
    if (action === "copyrun") return copyAndRun(t);
    if (action === "execute") return doExecute(t);
    const text = ACTION_TEXT[action];
    let preview;
    try {
      preview = await api.taskPreview(t.id, action);
    } catch (e) {
      ui.toast(`${text.title}: ${ui.errorMessage(e)}`, "error");
      return;
    }
    const items = (preview && preview.tasks) || [];
    if (!items.length) {
      ui.toast(`${text.title}: nothing would change.`);
      return;
    }
    const ids = items.map((x) => String(x.id));
    cy.batch(() => ids.forEach((id) => cy.getElementById(id).addClass("affected")));
    const ok = await ui.confirmDialog({
      title: `${text.title}: ${items.length} task${items.length === 1 ? "" : "s"}`,
      body: h("div", h("p", text.lead), affectedList(items, text.to), items.length > 200 ? h("p.muted.small", `…and ${items.length - 200} more`) : null, h("p.muted.small", "The affected tasks are outlined on the graph.")),
      confirm: text.verb,
      danger: text.danger,
    });
    cy.batch(() => ids.forEach((id) => cy.getElementById(id).removeClass("affected")));
    if (!ok) return;
    try {
      await api.taskAction(t.id, text.path || action);
      ui.toast(text.done ? `${t.name} ${text.done}${items.length > 1 ? `; ${items.length - 1} task${items.length === 2 ? "" : "s"} back to pending` : ""}.` : `${text.title}: ${items.length} task${items.length === 1 ? "" : "s"} ${action === "cancel" ? "cancelled" : "back to pending"}.`, "ok");
      kickLive();
    } catch (e) {
      ui.toast(`${text.title} refused: ${ui.errorMessage(e)}`, "error");
    }
  }

  async function doExecute(t) {
    try {
      const tree = t ? await api.taskAction(t.id, "execute") : await api.treeAction(TREE, "execute");
      if (tree && tree.status) applyTreeStatus(tree.status, tree);
      ui.toast("Run started.", "ok");
      kickLive();
    } catch (e) {
      ui.toast(`Could not start: ${ui.errorMessage(e)}`, "error");
    }
  }

  async function treeAction(action) {
    const all = Array.from(state.tasks.values());
    const affected =
      action === "cancel"
        ? all.filter((x) => x.status === "pending" || x.status === "in_progress")
        : all.filter((x) => x.status === "failed" || x.status === "cancelled");
    const text = action === "cancel" ? ACTION_TEXT.cancel : ACTION_TEXT.retry;
    const ok = await ui.confirmDialog({
      title: `${action === "cancel" ? "Cancel the run" : "Retry failed tasks"}: ${affected.length} task${affected.length === 1 ? "" : "s"}`,
      body: h("div", h("p", text.lead), affectedList(affected.map((x) => ({ id: x.id, name: x.name, status: x.status })), text.to)),
      confirm: action === "cancel" ? "Cancel run" : "Retry",
      danger: action === "cancel",
    });
    if (!ok) return;
    try {
      const tree = await api.treeAction(TREE, action);
      if (tree && tree.status) applyTreeStatus(tree.status, tree);
      ui.toast(action === "cancel" ? "Run cancelled." : "Retrying.", "ok");
      kickLive();
    } catch (e) {
      ui.toast(`${action === "cancel" ? "Cancel" : "Retry"} refused: ${ui.errorMessage(e)}`, "error");
    }
  }

  async function copyAndRun(t) {
    const whole = !t || t.is_root;
    const body = h(
      "div",
      h("p", whole ? "Copy the whole tree into a new, pending tree and run the copy. This run stays as it is." : `Copy from “${t.name}” into a new tree and run the copy. This run stays as it is.`),
      whole
        ? null
        : h(
            "fieldset",
            { style: "border:0;padding:0;margin:0" },
            h("label.check", h("input", { type: "radio", name: "copy-mode", value: "minimal", checked: true }), " Only this task, its subtree and what depends on it"),
            h("label.check", h("input", { type: "radio", name: "copy-mode", value: "full" }), " The whole tree, keeping unrelated completed results (re-runs from here)")
          )
    );
    const ok = await ui.confirmDialog({ title: "Copy & run", body, confirm: "Copy and run" });
    if (!ok) return;
    const choice = (body.querySelector("input[name=copy-mode]:checked") || {}).value || "full";
    try {
      const copy = whole ? await api.treeAction(TREE, "copy", { mode: "full" }) : await api.taskAction(t.id, "copy", { mode: choice });
      try {
        await api.treeAction(copy.id, "execute");
      } catch (e) {
        ui.toast(`Copied, but the copy did not start: ${ui.errorMessage(e)}`, "error");
      }
      location.href = api.pages.run(copy.id);
    } catch (e) {
      ui.toast(`Could not copy: ${ui.errorMessage(e)}`, "error");
    }
  }

  // ---- live updates ------------------------------------------------------------------------------------
  function applyTreeStatus(status, extra) {
    state.tree.status = status;
    if (extra) for (const k of ["started_at", "finished_at", "run_count", "last_seq", "handled_failures"]) if (extra[k] !== undefined) state.tree[k] = extra[k];
    renderHeader();
  }

  let structureReload = null;
  function onEvents(events) {
    for (const ev of events) state.queue.push(ev);
    if (!state.flushScheduled) {
      state.flushScheduled = true;
      requestAnimationFrame(flush);
    }
  }

  const refreshDetailSoon = ui.debounce(() => renderDetail(), 300);
  const refreshAttemptsSoon = ui.debounce(() => loadAttempts(), 1200);

  /** Apply every queued event in one batch: data and style only, never a layout. */
  function flush() {
    state.flushScheduled = false;
    const events = state.queue;
    state.queue = [];
    const changed = new Set();
    let treeChanged = false;
    let statusChanged = false;
    let structural = false;
    for (const ev of events) {
      if (!ev.at && ev.created_at) ev.at = ev.created_at;
      if (ev.kind === "tree.status") {
        state.tree.status = (ev.data && ev.data.status) || state.tree.status;
        state.tree.handled_failures = (ev.data && ev.data.handled_failures) || 0;
        if (ev.data && ev.data.status === "in_progress" && ev.at) state.tree.started_at = ev.at;
        if (ev.data && ["completed", "failed", "cancelled"].includes(ev.data.status) && ev.at) state.tree.finished_at = ev.at;
        treeChanged = true;
        continue;
      }
      if (ev.kind === "task.retry" || ev.kind === "task.rerun" || ev.kind === "tree.retry") {
        // the service puts the tree back in progress in the same transaction
        state.tree.status = "in_progress";
        state.tree.finished_at = null;
        treeChanged = true;
        continue;
      }
      if (/^(dependency\.|task\.(created|deleted|added|removed|moved|updated)$)/.test(ev.kind || "")) {
        structural = true;
        continue;
      }
      if (ev.kind === "task.log" && ev.task) {
        // a replay after a re-read (live.rewind) brings lines already shown: show each once
        if (typeof ev.seq === "number") {
          if (ev.seq <= (state.logSeq || 0)) continue;
          state.logSeq = ev.seq;
        }
        const list = state.logs.get(String(ev.task)) || [];
        list.push({ level: (ev.data && ev.data.level) || "info", line: ev.data && ev.data.line, at: ev.at });
        if (list.length > 500) list.splice(0, list.length - 500);
        state.logs.set(String(ev.task), list);
        if (String(ev.task) === state.selected) {
          const box = document.getElementById("log-lines");
          if (box) {
            if (box.firstChild && box.firstChild.classList && box.firstChild.classList.contains("muted")) ui.clear(box);
            box.appendChild(h("div", { class: `lvl-${(ev.data && ev.data.level) || "info"}` }, (ev.data && ev.data.line) || ""));
            box.scrollTop = box.scrollHeight;
          }
        }
        continue;
      }
      const p = G.taskPatch(ev);
      if (!p) continue;
      const t = task(p.id);
      if (!t) {
        structural = true;
        continue;
      }
      if (p.patch.status && p.patch.status !== t.status) {
        statusChanged = true;
        if (p.patch.status === "in_progress") {
          t.started_at = ev.at || new Date().toISOString();
          t.completed_at = null;
          t.progress = 0;
        }
        if (["completed", "failed", "cancelled"].includes(p.patch.status)) t.completed_at = ev.at || new Date().toISOString();
      }
      Object.assign(t, p.patch);
      changed.add(p.id);
    }
    if (changed.size) {
      const collapsedTouched = new Set();
      cy.batch(() => {
        for (const id of changed) {
          const anc = state.hiddenBy.get(id);
          if (anc) collapsedTouched.add(anc);
          cygraph.updateNode(cy, task(id), collapsedExtra(id));
        }
        for (const id of collapsedTouched) cygraph.updateNode(cy, task(id), collapsedExtra(id));
      });
      if (state.view === "list") updateListRows(changed);
    }
    if (changed.size || treeChanged) renderHeader();
    if (state.selected && changed.has(state.selected)) {
      const t = task(state.selected);
      const only = events.every((e) => e.kind === "task.progress" || String(e.task) !== state.selected);
      if (!(only && refreshDetailProgress(t))) refreshDetailSoon();
    } else if (!state.selected && (statusChanged || treeChanged)) {
      refreshDetailSoon();
    }
    if (statusChanged || treeChanged) refreshAttemptsSoon();
    if (structural && !structureReload) {
      structureReload = setTimeout(async () => {
        structureReload = null;
        try {
          await reloadStructure();
        } catch (e) {
          /* next event tries again */
        }
      }, 500);
    }
    metrics.lastFlush = performance.now();
    metrics.flushed = (metrics.flushed || 0) + events.length;
  }

  function onSnapshot(msg) {
    // events received before the snapshot are older than it: apply them first, not after it
    if (state.queue.length) flush();
    if (msg.tree) {
      for (const k of ["status", "started_at", "finished_at", "run_count", "last_seq"]) if (msg.tree[k] !== undefined) state.tree[k] = msg.tree[k];
    }
    const tasks = msg.tasks || [];
    let structural = false;
    const changed = new Set();
    for (const st of tasks) {
      const t = task(st.id);
      if (!t) {
        structural = true;
        continue;
      }
      for (const k of ["status", "progress", "progress_message", "error", "error_type", "waiting_reason", "attempt_count", "started_at", "completed_at"]) {
        if (st[k] !== undefined && st[k] !== t[k]) {
          t[k] = st[k];
          changed.add(t.id);
        }
      }
    }
    if (tasks.length && tasks.length !== state.tasks.size && tasks.every((x) => "dependencies" in x)) structural = true;
    if (changed.size) {
      cy.batch(() => changed.forEach((id) => cygraph.updateNode(cy, task(id), collapsedExtra(id))));
      if (state.view === "list") updateListRows(changed);
      refreshDetailSoon();
    }
    renderHeader();
    if (structural) reloadStructure();
  }

  function startLive() {
    const mode = (m) => {
      els.live.dataset.mode = m;
      els.live.textContent = { live: "live", polling: "live (polling every 2 s)", connecting: "connecting…", offline: "offline" }[m] || m;
    };
    mode("connecting");
    state.live = root.Arbor.live.tree(TREE, {
      seq: state.tree.last_seq || 0,
      onEvents,
      onSnapshot,
      onMode: mode,
      // self-check (live.js): the page's counts with every received event applied
      counts: () => {
        if (state.queue.length) flush();
        return counts();
      },
      onCheck: (r) => {
        metrics.checks = (metrics.checks || 0) + 1;
        if (!r.ok) metrics.mismatches = (metrics.mismatches || 0) + 1;
      },
      onResync: () => reloadStructure().catch(() => {}),
      isActive: () => state.tree.status === "in_progress",
      onDeleted: () => {
        els.live.dataset.mode = "offline";
        els.live.textContent = "deleted";
        ui.toast("This tree was deleted.", "error");
      },
      websocket: !new URLSearchParams(location.search).has("poll"),
    });
  }

  /** After an action: make sure its events arrive promptly even if the socket is quiet. */
  function kickLive() {
    if (state.live) setTimeout(() => state.live.catchUp(), 250);
  }

  // ---- list view (the accessible mirror of the graph) ---------------------------------------------------
  const listRows = new Map();
  function listCells(t) {
    return [
      h("td", h("button.linklike", { type: "button", style: "padding:0;color:var(--accent)", on: { click: () => select(t.id) } }, t.name)),
      h("td", ui.badge(t)),
      h("td", t.status === "in_progress" ? ui.progressBar(t.progress, `${t.name} progress`) : h("span.muted", "—")),
      h("td", t.executor),
      h("td.num", String(t.attempt_count || 0)),
      h("td.num.nowrap", t.started_at ? G.formatDuration(ui.duration(t.started_at, t.completed_at)) : "—"),
      h("td.small", t.parent ? nameOf(t.parent) : "—"),
      h("td.small", t.deps.map((d) => nameOf(d.id) + (d.required ? "" : " (optional)")).join(", ") || "—"),
    ];
  }
  function renderList() {
    listRows.clear();
    const tbody = h("tbody");
    for (const t of state.nodes) {
      const tr = h("tr", { dataset: { taskId: t.id, taskName: t.name, status: t.status, state: G.visualState(t) } }, listCells(t));
      listRows.set(t.id, tr);
      tbody.appendChild(tr);
    }
    const table = h("table.data", { "aria-label": "Tasks of this tree" }, h("thead", h("tr", ["Task", "Status", "Progress", "Executor", "Attempts", "Duration", "Parent", "Depends on"].map((x) => h("th", { scope: "col" }, x)))), tbody);
    ui.clear(els.list).appendChild(table);
  }
  function updateListRows(ids) {
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
  function setView(view) {
    state.view = view;
    for (const b of document.querySelectorAll("[data-view]")) b.setAttribute("aria-selected", String(b.dataset.view === view));
    els.list.hidden = view !== "list";
    document.getElementById("legend-box").hidden = view === "list";
    if (view === "list") renderList();
  }

  // ---- Gantt timeline of attempts ---------------------------------------------------------------------------
  const GANTT_MAX = 300;
  const OUTCOME_ICON = { running: "▶", completed: "✓", failed: "✕", timed_out: "◷", worker_lost: "⚠", cancelled: "⊘", interrupted: "↺" };
  let ganttTimer = null;
  async function loadAttempts() {
    if (els.gantt.hidden) return;
    if (root.Arbor.timeline) return root.Arbor.timeline.refresh(); // one run at a time: timeline.js
    try {
      const data = await api.treeAttempts(TREE);
      state.attempts = api.results(data);
      state.attemptsTotal = data && typeof data.count === "number" ? data.count : state.attempts.length;
      // later pages: fetch the most recent ones when there are many
      if (data && data.count > state.attempts.length && data.count <= 5000) {
        const last = await api.get(`trees/${encodeURIComponent(TREE)}/attempts/`, { limit: GANTT_MAX, offset: Math.max(0, data.count - GANTT_MAX) });
        state.attempts = api.results(last);
      }
    } catch (e) {
      state.attempts = [];
    }
    renderGantt();
  }

  function renderGantt() {
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
    els.ganttNote.textContent = rows.length ? `${state.attemptsTotal || rows.length} attempt${rows.length === 1 ? "" : "s"}${(state.attemptsTotal || 0) > rows.length ? `, the latest ${rows.length} shown` : ""}` : "";
    if (!rows.length) {
      els.gantt.appendChild(h("p.muted.small", { style: "margin:4px 0 8px" }, "No attempts yet: run the tree to see when each task ran."));
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
      svg.appendChild(s("text", { class: "tick-label", x: x(t), y: 10, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" }, `+${G.formatDuration((t - t0) / 1000)}`));
    }
    rows.forEach((r, i) => {
      const y = 18 + i * laneH;
      const g = s("g", { class: "lane", "data-task": r.task });
      const icon = OUTCOME_ICON[r.outcome] || "•";
      g.appendChild(s("text", { x: 0, y: y + 11 }, `${icon} ${r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label}`));
      const rect = s("rect", { class: "bar", x: x(r.start), y: y + 2, width: Math.max(3, x(r.end) - x(r.start)), height: laneH - 5, "data-outcome": r.outcome });
      rect.appendChild(s("title", {}, `${r.label}: ${r.outcome.replace(/_/g, " ")}, ${G.formatDuration((r.end - r.start) / 1000)}`));
      g.appendChild(rect);
      g.addEventListener("click", () => select(r.task, true));
      g.style.cursor = "pointer";
      svg.appendChild(g);
    });
    els.gantt.appendChild(svg);
    highlightGantt();
    if (rows.some((r) => r.running)) ganttTimer = setTimeout(renderGantt, 2000);
  }

  function highlightGantt() {
    if (root.Arbor.timeline) return root.Arbor.timeline.highlight();
    for (const g of els.gantt.querySelectorAll("g.lane")) g.style.opacity = state.selected && g.dataset.task !== state.selected ? "0.45" : "1";
  }

  // ---- toolbar -------------------------------------------------------------------------------------------------
  function bindToolbar() {
    $("#act-run").addEventListener("click", () => doExecute(null));
    $("#act-cancel").addEventListener("click", () => treeAction("cancel"));
    $("#act-retry").addEventListener("click", () => treeAction("retry"));
    $("#act-copy-run").addEventListener("click", () => copyAndRun(null));
    $("#fit").addEventListener("click", () => cy && cygraph.fit(cy));
    $("#relayout").addEventListener("click", async () => {
      if (!cy) return;
      const positions = await cygraph.computeLayout(cy, state.nodes);
      cygraph.applyPositions(cy, positions);
      cachePositions(state.structureKey, positions);
      cygraph.fit(cy);
    });
    $("#expand-all").addEventListener("click", () => {
      state.collapsed.clear();
      saveCollapsed();
      applyCollapse();
      afterCollapseChange(null);
      renderDetail();
    });
    $("#show-parent").addEventListener("change", (ev) => cy && cy.edges('[kind="parent"]').toggleClass("hidden-kind", !ev.target.checked));
    for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => setView(b.dataset.view));
    $("#gantt-toggle").addEventListener("click", (ev) => {
      els.gantt.hidden = !els.gantt.hidden;
      ev.target.textContent = els.gantt.hidden ? "Show" : "Hide";
      ev.target.setAttribute("aria-expanded", String(!els.gantt.hidden));
      if (!els.gantt.hidden) loadAttempts();
    });
    let matches = [];
    let matchIdx = 0;
    const find = () => {
      const q = els.find.value.trim().toLowerCase();
      cy.nodes(".match").removeClass("match");
      matches = q ? state.nodes.filter((t) => t.name.toLowerCase().includes(q)).map((t) => t.id) : [];
      matchIdx = 0;
      cy.batch(() => matches.forEach((id) => cy.getElementById(id).addClass("match")));
    };
    let lastQuery = "";
    const findIfChanged = () => {
      if (els.find.value !== lastQuery) {
        lastQuery = els.find.value;
        find();
      }
    };
    els.find.addEventListener("input", ui.debounce(findIfChanged, 150));
    els.find.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") findIfChanged();
      if (ev.key === "Enter" && matches.length) {
        select(matches[matchIdx % matches.length], true);
        matchIdx += 1;
      } else if (ev.key === "Escape") {
        els.find.value = "";
        lastQuery = "";
        find();
        els.find.blur();
      }
    });
    document.addEventListener("keydown", (ev) => {
      if (ui.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "/") {
        ev.preventDefault();
        els.find.focus();
      } else if (ev.key === "f" || ev.key === "F") {
        if (cy) cygraph.fit(cy);
      } else if (ev.key === "Escape") {
        setFilter(null);
        select(null);
      } // "?" and the run actions' keys: run-keys.js
    });
  }

  root.arborRun = {
    state,
    metrics,
    task: (nameOrId) => task(nameOrId) || Array.from(state.tasks.values()).find((t) => t.name === nameOrId) || null,
    /** Feed events through the same path as the websocket (used by the benchmark). */
    injectEvents: (events) => {
      const ready = state.live ? state.live.seq.push(events) : events;
      onEvents(ready);
    },
    select,
  };
  bindToolbar();
  load();
})(window);
