/* The run view's detail panel for the selected task: status, inputs and result, attempts, logs, actions. */
import * as G from "../graph.js";
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { TREE, els, state, task, view } from "./state.js";
import { renderTreeSummary, section, taskLink } from "./header.js";
import { select, setFilter, toggleCollapse } from "./canvas.js";

// ---- detail panel ----------------------------------------------------------------------------------
export let detailToken = 0;

export function actionButton(label, action, t, opts) {
  const b = h(
    `button.btn.small${opts && opts.primary ? ".primary" : ""}`,
    { type: "button", dataset: { action } },
    label,
  );
  b.disabled = Boolean(opts && opts.disabled);
  if (opts && opts.id) b.id = opts.id;
  if (opts && opts.title) b.title = opts.title;
  b.addEventListener("click", () => view.runAction(action, t));
  return b;
}

export function renderTaskDetail(t) {
  const token = ++detailToken;
  const box = h("div", { dataset: { task: t.id } });
  const vstate = G.visualState(t);
  const head = section(
    null,
    h(
      "div.row",
      h("h2", { style: "margin:0;overflow-wrap:anywhere" }, t.name),
      h("span.grow"),
      h(
        "button.btn.small",
        { type: "button", "aria-label": "Close details", on: { click: () => select(null) } },
        "✕",
      ),
    ),
    h(
      "div.row",
      ui.badge(t),
      t.is_root ? h("span.muted.small", "root") : null,
      h("span.muted.small", t.executor),
    ),
  );
  if (t.status === "in_progress") {
    head.appendChild(
      h(
        "div",
        { style: "margin-top:8px" },
        ui.progressBar(t.progress, `${t.name} progress`),
        h(
          "div.small.muted",
          `${Math.round((t.progress || 0) * 100)}%${t.progress_message ? ` · ${t.progress_message}` : ""}`,
        ),
      ),
    );
  }
  if (vstate === "waiting")
    head.appendChild(
      h("p.notice.warn", { style: "margin:8px 0 0" }, h("strong", "◔ Waiting: "), t.waiting_reason),
    );
  if (vstate === "blocked")
    head.appendChild(
      h(
        "p.notice.bad",
        { style: "margin:8px 0 0" },
        h("strong", t.error_type === G.UPSTREAM_CANCELLED ? "⊘ Upstream cancelled: " : "⚠ Blocked: "),
        t.error || "a required upstream task failed or was cancelled",
        t.error_type === G.UPSTREAM_CANCELLED
          ? ". Retry the cancelled upstream task to run it."
          : ". Retry the failed upstream task to run it.",
      ),
    );
  if (vstate === "retrying")
    head.appendChild(
      h(
        "p.notice.warn",
        { style: "margin:8px 0 0" },
        h("strong", "↻ Retry scheduled "),
        `after attempt ${t.attempt_count}`,
      ),
    );
  const mark =
    t.status === "completed" &&
    t.result &&
    typeof t.result === "object" &&
    ["success", "skipped"].includes(t.result.marked)
      ? t.result
      : null;
  if (mark)
    head.appendChild(
      h(
        "p.notice",
        { style: "margin:8px 0 0", dataset: { marked: mark.marked } },
        h("strong", mark.marked === "skipped" ? "⤼ Skipped " : "✓ Completed "),
        `(marked ${mark.marked === "skipped" ? "skipped" : "success"} by ${mark.by})`,
      ),
    );
  box.appendChild(head);

  const terminal = ["completed", "failed", "cancelled"].includes(t.status);
  const running = state.tree.status === "in_progress";
  const markable = ["failed", "cancelled", "pending"].includes(t.status);
  box.appendChild(
    section(
      "Actions",
      h(
        "div.action-row",
        actionButton("⊘ Cancel", "cancel", t, {
          disabled: terminal,
          title: "Cancel this task; tasks that require it are cancelled too",
        }),
        actionButton("↻ Retry", "retry", t, {
          disabled: !["failed", "cancelled"].includes(t.status),
          title: "Retry in place, with the tasks it blocked",
        }),
        actionButton("✓ Mark success", "mark_success", t, {
          id: "task-mark-success",
          disabled: !markable,
          title: "Mark this task completed by your word; the tasks it blocked run",
        }),
        actionButton("⤼ Skip", "skip", t, {
          id: "task-skip",
          disabled: !markable,
          title: "Skip this task: completed, marked skipped; dependents run without its result",
        }),
        actionButton("⟲ Re-run from here", "rerun", t, {
          disabled: running || !terminal,
          title: "This task and everything downstream go back to pending and run again",
        }),
        actionButton("▶ Run this", "execute", t, {
          disabled: running || t.status !== "pending",
          title: "Run this task with its unfinished upstream tasks",
        }),
        actionButton("❐ Copy & run", "copyrun", t, {
          title: "Copy this task with everything that depends on it into a new tree, and run it",
        }),
        h(
          "a.btn.small",
          {
            href: api.pages.copyTask(TREE, t.id, "minimal"),
            title: "Open a copy of this task and its dependents in the editor",
          },
          "✎ Copy with edits",
        ),
      ),
      h(
        "div.action-row",
        { style: "margin-top:8px" },
        h("span.small.muted", { style: "align-self:center" }, "Show:"),
        filterButton(t, "up", "Upstream"),
        filterButton(t, "down", "Downstream"),
        filterButton(t, "both", "Both"),
        (state.index.children.get(t.id) || []).length
          ? h(
              "button.btn.small",
              { type: "button", on: { click: () => toggleCollapse(t.id) } },
              state.collapsed.has(t.id) ? "▸ Expand subtree" : "▾ Collapse subtree",
            )
          : null,
      ),
    ),
  );

  const kv = h("dl.kv");
  const add = (k, v) => kv.append(h("dt", k), h("dd", v));
  add("Priority", ["0 · urgent", "1 · high", "2 · normal", "3 · low"][t.priority] || String(t.priority));
  add(
    "Attempts",
    String(t.attempt_count || 0) + (t.max_retries != null ? ` (max retries ${t.max_retries})` : ""),
  );
  if (t.timeout != null) add("Timeout", G.formatDuration(t.timeout));
  if (t.resources && t.resources.length)
    add(
      "Resources",
      t.resources.map((r) => `${r.type}:${r.identifier} (${r.mode || "exclusive"})`).join(", "),
    );
  if (t.tags && t.tags.length) add("Tags", t.tags.join(", "));
  add("Started", ui.timeEl(t.started_at));
  add("Completed", ui.timeEl(t.completed_at));
  if (t.started_at) add("Duration", G.formatDuration(ui.duration(t.started_at, t.completed_at)));
  add("Parent", t.parent ? taskLink(t.parent) : "— (root)");
  add(
    "Depends on",
    t.deps.length
      ? h(
          "span",
          t.deps.map((d, i) => [i ? ", " : "", taskLink(d.id), d.required ? "" : " (optional)"]),
        )
      : "nothing",
  );
  const dependents = state.index.downstream.get(t.id) || [];
  add(
    "Needed by",
    dependents.length
      ? h(
          "span",
          dependents.slice(0, 20).map((d, i) => [i ? ", " : "", taskLink(d)]),
          dependents.length > 20 ? ` … +${dependents.length - 20}` : "",
        )
      : "nothing",
  );
  box.appendChild(section("Details", kv));

  box.appendChild(section("Inputs (as defined)", ui.json(t.inputs || {})));
  const effective = h("div", h("span.muted.small", "Loading…"));
  box.appendChild(section("Effective inputs (latest attempt)", effective));
  if (t.result !== null && t.result !== undefined) box.appendChild(section("Result", ui.json(t.result)));
  if (t.error)
    box.appendChild(
      section("Error", h("pre.json.error-text", `${t.error_type ? `[${t.error_type}] ` : ""}${t.error}`)),
    );
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
        const table = h(
          "table.data.attempts",
          h(
            "thead",
            h(
              "tr",
              h("th", "#"),
              h("th", "Outcome"),
              h("th", "Started"),
              h("th.num", "Duration"),
              h("th", "Worker"),
            ),
          ),
        );
        const tb = h("tbody");
        for (const a of attempts) {
          tb.appendChild(
            h(
              "tr",
              { dataset: { outcome: a.outcome } },
              h("td", String(a.number)),
              h("td", ui.outcomeBadge(a.outcome)),
              h("td", ui.timeEl(a.started_at)),
              h(
                "td.num",
                G.formatDuration(a.duration != null ? a.duration : ui.duration(a.started_at, a.finished_at)),
              ),
              h("td.small", { title: a.worker }, (a.worker || "").split(":").slice(-2).join(":")),
            ),
          );
          if (a.error && a.outcome !== "completed")
            tb.appendChild(
              h("tr", h("td"), h("td.small", { colspan: "4", style: "color:var(--danger)" }, a.error)),
            );
        }
        table.appendChild(tb);
        attemptsBox.appendChild(table);
      }
      const latest = attempts[attempts.length - 1];
      ui.clear(effective).appendChild(
        latest
          ? ui.json(latest.effective_inputs || {})
          : h(
              "span.muted.small",
              "Built when the task starts: its inputs merged with the results of its dependencies.",
            ),
      );
      const lines = [];
      for (const a of attempts) {
        for (const l of a.logs || []) {
          const entry =
            typeof l === "string" ? { line: l } : Array.isArray(l) ? { level: l[0], line: l[1] } : l;
          lines.push(Object.assign({ attempt: a.number }, entry));
        }
      }
      const live = state.logs.get(t.id) || [];
      renderLogs(logsBox, lines.length ? lines : live);
    } catch (e) {
      if (token === detailToken)
        ui.clear(attemptsBox).appendChild(
          h("span.muted.small", `Could not load attempts: ${ui.errorMessage(e)}`),
        );
    }
  })();
  (async () => {
    try {
      const lin = await api.taskLineage(t.id);
      if (token !== detailToken) return;
      ui.clear(lineageBox);
      if (lin && lin.original)
        lineageBox.appendChild(
          h(
            "p",
            { style: "margin:0 0 4px" },
            "Copied from ",
            h(
              "a",
              { href: `${api.pages.run(lin.original.tree)}?task=${encodeURIComponent(lin.original.id)}` },
              lin.original.name,
            ),
            " ",
            ui.badge(lin.original),
          ),
        );
      const copies = (lin && lin.copies) || [];
      if (copies.length)
        lineageBox.appendChild(
          h(
            "div",
            "Copies: ",
            copies
              .slice(0, 10)
              .map((c, i) => [
                i ? ", " : "",
                h(
                  "a",
                  { href: `${api.pages.run(c.tree)}?task=${encodeURIComponent(c.id)}` },
                  `${c.name} (${c.origin_type})`,
                ),
              ]),
          ),
        );
      if (!lineageBox.childNodes.length)
        lineageBox.appendChild(
          h("span.muted.small", "An original: not copied from another task, no copies yet."),
        );
    } catch (e) {
      if (token === detailToken)
        ui.clear(lineageBox).appendChild(h("span.muted.small", "No lineage available."));
    }
  })();
  return box;
}

export function renderLogs(box, lines) {
  ui.clear(box);
  if (!lines.length) {
    box.appendChild(h("span.muted", "No log lines."));
    return;
  }
  for (const l of lines.slice(-300)) {
    box.appendChild(
      h(
        "div",
        { class: `lvl-${l.level || "info"}` },
        l.attempt ? h("span.muted", `#${l.attempt} `) : null,
        l.level && l.level !== "info" ? `${l.level.toUpperCase()} ` : "",
        l.line || l.message || JSON.stringify(l),
      ),
    );
  }
  box.scrollTop = box.scrollHeight;
}

export function filterButton(t, dir, label) {
  const active = state.filter && state.filter.id === t.id && state.filter.dir === dir;
  const b = h("button.btn.small", { type: "button", "aria-pressed": String(Boolean(active)) }, label);
  b.addEventListener("click", () => setFilter(active ? null : t.id, active ? null : dir));
  return b;
}

export function renderDetail() {
  const t = state.selected && task(state.selected);
  ui.clear(els.detail).appendChild(t ? renderTaskDetail(t) : renderTreeSummary());
}

/** Cheap in-place update of the open detail panel for progress ticks. */
export function refreshDetailProgress(t) {
  const bar = els.detail.querySelector('[role="progressbar"]');
  if (!bar || t.status !== "in_progress") return false;
  const pct = Math.round((t.progress || 0) * 100);
  bar.setAttribute("aria-valuenow", String(pct));
  bar.firstChild.style.width = `${pct}%`;
  const note = bar.nextSibling;
  if (note) note.textContent = `${pct}%${t.progress_message ? ` · ${t.progress_message}` : ""}`;
  return true;
}
