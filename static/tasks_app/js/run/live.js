/* The run view's live updates: applying events in one cy.batch per animation frame, snapshots, reloading the structure when it changes. */
import { treeLive } from "../live.js";
import * as G from "../graph.js";
import * as cygraph from "../cygraph.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { loadAttempts, updateListRows } from "./views.js";
import { TREE, els, metrics, state, task } from "./state.js";
import { counts, renderHeader } from "./header.js";
import { refreshDetailProgress, renderDetail } from "./detail.js";
import { collapsedExtra, cy, reloadStructure } from "./canvas.js";

// ---- live updates ------------------------------------------------------------------------------------
export function applyTreeStatus(status, extra) {
  state.tree.status = status;
  if (extra)
    for (const k of ["started_at", "finished_at", "run_count", "last_seq", "handled_failures"])
      if (extra[k] !== undefined) state.tree[k] = extra[k];
  renderHeader();
}

export let structureReload = null;
export function onEvents(events) {
  for (const ev of events) state.queue.push(ev);
  if (!state.flushScheduled) {
    state.flushScheduled = true;
    requestAnimationFrame(flush);
  }
}

export const refreshDetailSoon = ui.debounce(() => renderDetail(), 300);
export const refreshAttemptsSoon = ui.debounce(() => loadAttempts(), 1200);

/** Apply every queued event in one batch: data and style only, never a layout. */
export function flush() {
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
      if (ev.data && ["completed", "failed", "cancelled"].includes(ev.data.status) && ev.at)
        state.tree.finished_at = ev.at;
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
          if (box.firstChild && box.firstChild.classList && box.firstChild.classList.contains("muted"))
            ui.clear(box);
          box.appendChild(
            h(
              "div",
              { class: `lvl-${(ev.data && ev.data.level) || "info"}` },
              (ev.data && ev.data.line) || "",
            ),
          );
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
      if (["completed", "failed", "cancelled"].includes(p.patch.status))
        t.completed_at = ev.at || new Date().toISOString();
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

export function onSnapshot(msg) {
  // events received before the snapshot are older than it: apply them first, not after it
  if (state.queue.length) flush();
  if (msg.tree) {
    for (const k of ["status", "started_at", "finished_at", "run_count", "last_seq"])
      if (msg.tree[k] !== undefined) state.tree[k] = msg.tree[k];
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
    for (const k of [
      "status",
      "progress",
      "progress_message",
      "error",
      "error_type",
      "waiting_reason",
      "attempt_count",
      "started_at",
      "completed_at",
    ]) {
      if (st[k] !== undefined && st[k] !== t[k]) {
        t[k] = st[k];
        changed.add(t.id);
      }
    }
  }
  if (tasks.length && tasks.length !== state.tasks.size && tasks.every((x) => "dependencies" in x))
    structural = true;
  if (changed.size) {
    cy.batch(() => changed.forEach((id) => cygraph.updateNode(cy, task(id), collapsedExtra(id))));
    if (state.view === "list") updateListRows(changed);
    refreshDetailSoon();
  }
  renderHeader();
  if (structural) reloadStructure();
}

export function startLive() {
  const mode = (m) => {
    els.live.dataset.mode = m;
    els.live.textContent =
      { live: "live", polling: "live (polling every 2 s)", connecting: "connecting…", offline: "offline" }[
        m
      ] || m;
  };
  mode("connecting");
  state.live = treeLive(TREE, {
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
export function kickLive() {
  if (state.live) setTimeout(() => state.live.catchUp(), 250);
}
