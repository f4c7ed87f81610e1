/* The run view's actions (with a preview of what they change), copy-and-run, and the toolbar (run, cancel, retry, find, views). */
import { api } from "../api.js";
import * as cygraph from "../cygraph.js";
import * as ui from "../ui.js";
import { h, $ } from "../ui.js";
import { loadAttempts, setView } from "./views.js";
import { TREE, els, state, task } from "./state.js";
import { applyTreeStatus, kickLive } from "./live.js";
import { renderDetail } from "./detail.js";
import {
  afterCollapseChange,
  applyCollapse,
  cachePositions,
  cy,
  saveCollapsed,
  select,
  setFilter,
} from "./canvas.js";

// ---- actions with a preview of their effect ---------------------------------------------------------
export const ACTION_TEXT = {
  cancel: {
    title: "Cancel",
    verb: "Cancel tasks",
    to: "cancelled",
    danger: true,
    lead: "These tasks will be cancelled (running ones are asked to stop, then stopped):",
  },
  retry: {
    title: "Retry",
    verb: "Retry",
    to: "pending",
    lead: "These tasks go back to pending and run again; completed work is kept:",
  },
  mark_success: {
    title: "Mark success",
    verb: "Mark success",
    to: (x, i) => (i === 0 ? "completed" : "pending"),
    path: "mark-success",
    done: "marked success",
    lead: "The first task becomes completed by your word (its result feeds no inputs); the tasks it alone blocked go back to pending and run:",
  },
  skip: {
    title: "Skip",
    verb: "Skip",
    to: (x, i) => (i === 0 ? "completed" : "pending"),
    done: "skipped",
    lead: "The first task is skipped (completed, marked skipped; dependents run without its result); the tasks it alone blocked go back to pending and run:",
  },
  rerun: {
    title: "Re-run from here",
    verb: "Re-run",
    to: "pending",
    lead: "This task and everything downstream go back to pending and run again (earlier attempts stay in the history):",
  },
};

export function affectedList(items, to) {
  return h(
    "ul.affected",
    { "aria-label": "Affected tasks" },
    items
      .slice(0, 200)
      .map((x, i) =>
        h(
          "li",
          { dataset: { task: x.id } },
          h("span", x.name),
          h(
            "span.row",
            ui.badge(task(x.id) || x),
            h("span.muted", "→"),
            ui.badge(typeof to === "function" ? to(x, i) : to),
          ),
        ),
      ),
  );
}

export async function runAction(action, t) {
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
    body: h(
      "div",
      h("p", text.lead),
      affectedList(items, text.to),
      items.length > 200 ? h("p.muted.small", `…and ${items.length - 200} more`) : null,
      h("p.muted.small", "The affected tasks are outlined on the graph."),
    ),
    confirm: text.verb,
    danger: text.danger,
  });
  cy.batch(() => ids.forEach((id) => cy.getElementById(id).removeClass("affected")));
  if (!ok) return;
  try {
    await api.taskAction(t.id, text.path || action);
    ui.toast(
      text.done
        ? `${t.name} ${text.done}${items.length > 1 ? `; ${items.length - 1} task${items.length === 2 ? "" : "s"} back to pending` : ""}.`
        : `${text.title}: ${items.length} task${items.length === 1 ? "" : "s"} ${action === "cancel" ? "cancelled" : "back to pending"}.`,
      "ok",
    );
    kickLive();
  } catch (e) {
    ui.toast(`${text.title} refused: ${ui.errorMessage(e)}`, "error");
  }
}

export async function doExecute(t) {
  try {
    const tree = t ? await api.taskAction(t.id, "execute") : await api.treeAction(TREE, "execute");
    if (tree && tree.status) applyTreeStatus(tree.status, tree);
    ui.toast("Run started.", "ok");
    kickLive();
  } catch (e) {
    ui.toast(`Could not start: ${ui.errorMessage(e)}`, "error");
  }
}

export async function treeAction(action) {
  const all = Array.from(state.tasks.values());
  const affected =
    action === "cancel"
      ? all.filter((x) => x.status === "pending" || x.status === "in_progress")
      : all.filter((x) => x.status === "failed" || x.status === "cancelled");
  const text = action === "cancel" ? ACTION_TEXT.cancel : ACTION_TEXT.retry;
  const ok = await ui.confirmDialog({
    title: `${action === "cancel" ? "Cancel the run" : "Retry failed tasks"}: ${affected.length} task${affected.length === 1 ? "" : "s"}`,
    body: h(
      "div",
      h("p", text.lead),
      affectedList(
        affected.map((x) => ({ id: x.id, name: x.name, status: x.status })),
        text.to,
      ),
    ),
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

export async function copyAndRun(t) {
  const whole = !t || t.is_root;
  const body = h(
    "div",
    h(
      "p",
      whole
        ? "Copy the whole tree into a new, pending tree and run the copy. This run stays as it is."
        : `Copy from “${t.name}” into a new tree and run the copy. This run stays as it is.`,
    ),
    whole
      ? null
      : h(
          "fieldset",
          { style: "border:0;padding:0;margin:0" },
          h(
            "label.check",
            h("input", { type: "radio", name: "copy-mode", value: "minimal", checked: true }),
            " Only this task, its subtree and what depends on it",
          ),
          h(
            "label.check",
            h("input", { type: "radio", name: "copy-mode", value: "full" }),
            " The whole tree, keeping unrelated completed results (re-runs from here)",
          ),
        ),
  );
  const ok = await ui.confirmDialog({ title: "Copy & run", body, confirm: "Copy and run" });
  if (!ok) return;
  const choice = (body.querySelector("input[name=copy-mode]:checked") || {}).value || "full";
  try {
    const copy = whole
      ? await api.treeAction(TREE, "copy", { mode: "full" })
      : await api.taskAction(t.id, "copy", { mode: choice });
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

// ---- toolbar -------------------------------------------------------------------------------------------------
export function bindToolbar() {
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
  $("#show-parent").addEventListener(
    "change",
    (ev) => cy && cy.edges('[kind="parent"]').toggleClass("hidden-kind", !ev.target.checked),
  );
  for (const b of document.querySelectorAll("[data-view]"))
    b.addEventListener("click", () => setView(b.dataset.view));
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
