/* The run view's header (status, counts, legend) and the tree summary shown when no task is selected. */
import * as G from "../graph.js";
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h, $ } from "../ui.js";
import { els, nameOf, state } from "./state.js";
import { select } from "./canvas.js";

// ---- header, legend, counts ---------------------------------------------------------------------
export function counts() {
  const c = { pending: 0, in_progress: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const t of state.tasks.values()) c[t.status] = (c[t.status] || 0) + 1;
  return c;
}

export function renderHeader() {
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

export function renderLegend() {
  const box = document.getElementById("legend-box");
  try {
    if (localStorage.getItem("arbor.legend") === "closed") box.open = false;
    box.addEventListener("toggle", () => localStorage.setItem("arbor.legend", box.open ? "open" : "closed"));
  } catch (e) {
    /* no storage */
  }
  ui.clear(els.legend);
  for (const key of [
    "pending",
    "waiting",
    "in_progress",
    "completed",
    "failed",
    "blocked",
    "cancelled",
    "retrying",
  ]) {
    els.legend.appendChild(
      ui.badge({
        status: key === "blocked" ? "cancelled" : key === "waiting" || key === "retrying" ? "pending" : key,
        waiting_reason: key === "waiting" ? "x" : "",
        error_type: key === "blocked" ? "upstream_failed" : null,
        attempt_count: key === "retrying" ? 1 : 0,
        error: key === "retrying" ? "x" : null,
      }),
    );
  }
  els.legend.append(
    h("span", h("span.line"), "requires"),
    h("span", h("span.line.optional"), "optional"),
    h("span", h("span.line.parent"), "parent ◇ child"),
    h("span.muted", "double-click: collapse subtree"),
  );
}

export function renderTreeSummary() {
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
        tree.original_tree
          ? [
              h("dt", "Copied from"),
              h("dd", h("a", { href: api.pages.run(tree.original_tree) }, "the original tree")),
            ]
          : null,
        tree.archived ? [h("dt", "Archived"), h("dd", "read-only snapshot")] : null,
      ),
    ),
  );
  const list = h("div.stack");
  for (const k of ["pending", "in_progress", "completed", "failed", "cancelled"]) {
    list.appendChild(h("div.row", ui.badge(k), h("span.grow"), h("strong", String(c[k] || 0))));
  }
  box.appendChild(section("Tasks by status", list));
  const attention = state.nodes
    .filter((t) => ["failed", "blocked", "waiting"].includes(G.visualState(t)))
    .slice(0, 12);
  if (attention.length) {
    box.appendChild(
      section(
        "Needs attention",
        h(
          "ul",
          { style: "padding-left:16px;margin:0" },
          attention.map((t) => h("li", taskLink(t.id), " ", ui.badge(t))),
        ),
      ),
    );
  }
  box.appendChild(
    section(
      null,
      h(
        "p.muted.small",
        "Click a task for its inputs, result, attempts and logs. Actions show which tasks they will change before they run.",
      ),
    ),
  );
  return box;
}

export function section(title, ...children) {
  return h("div.section", title ? h("h3", { style: "margin-top:0" }, title) : null, ...children);
}
export function taskLink(id, label) {
  return h(
    "a",
    {
      href: `?task=${encodeURIComponent(id)}`,
      on: { click: (ev) => (ev.preventDefault(), select(id, true)) },
    },
    label || nameOf(id),
  );
}
