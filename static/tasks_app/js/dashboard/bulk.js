/* The dashboard's bulk actions on the selected rows, with progress. */
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { loadStats } from "./charts.js";
import { els, state } from "./state.js";
import { load, renderBulk, renderRows } from "./table.js";

// ---- bulk actions ----------------------------------------------------------------------
export const BULK = {
  cancel: {
    verb: "Cancel",
    done: "cancelled",
    danger: true,
    run: (id) => (state.tab === "trees" ? api.treeAction(id, "cancel") : api.taskAction(id, "cancel")),
  },
  retry: {
    verb: "Retry",
    done: "retried",
    run: (id) => (state.tab === "trees" ? api.treeAction(id, "retry") : api.taskAction(id, "retry")),
  },
  copy: { verb: "Copy", done: "copied", run: (id) => api.treeAction(id, "copy", { mode: "full" }) },
  delete: { verb: "Delete", done: "deleted", danger: true, run: (id) => api.treeDelete(id) },
};

/** While a bulk action runs: its buttons and the selection are disabled, the bar shows a spinner
 * and "Deleting 1 of 3 trees…", and the table is marked aria-busy. */
export function setBusy(spec, total, what) {
  const controls = Array.from(els.bulkbar.querySelectorAll("button")).concat(
    Array.from(els.tbody.querySelectorAll("input[type=checkbox]")),
  );
  const all = document.getElementById("select-all");
  if (all) controls.push(all);
  for (const c of controls) c.disabled = true;
  els.bulkbar.dataset.busy = "1";
  els.tbody.closest("table").setAttribute("aria-busy", "true");
  const ing =
    { Cancel: "Cancelling", Retry: "Retrying", Copy: "Copying", Delete: "Deleting" }[spec.verb] || spec.verb;
  const status = h(
    "span.busy",
    { role: "status", dataset: { testid: "bulk-busy" } },
    h("span.spinner", { "aria-hidden": "true" }),
    h("span.busy-text"),
  );
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

export async function bulk(action) {
  if (action === "clear") {
    state.selected.clear();
    renderRows();
    renderBulk();
    return;
  }
  const spec = BULK[action];
  const items = Array.from(state.selected.values());
  const what = state.tab === "trees" ? "tree" : "task";
  const list = h(
    "ul.affected",
    items.slice(0, 50).map((r) => h("li", h("span", r.name), ui.badge(r))),
  );
  const body = h(
    "div",
    h("p", `${spec.verb} ${items.length} ${what}${items.length === 1 ? "" : "s"}?`),
    action === "delete"
      ? h(
          "p.notice.bad",
          "Deleting removes the trees with all their tasks, attempts and events. This cannot be undone.",
        )
      : null,
    action === "retry"
      ? h(
          "p.muted.small",
          "Failed and cancelled tasks (and the tasks they blocked) go back to pending; completed work is kept.",
        )
      : null,
    action === "cancel"
      ? h("p.muted.small", "Pending tasks are cancelled at once; running ones are asked to stop.")
      : null,
    action === "copy"
      ? h(
          "p.muted.small",
          "Each tree is copied in full as a new, pending tree; the originals are not changed.",
        )
      : null,
    list,
    items.length > 50 ? h("p.muted.small", `…and ${items.length - 50} more`) : null,
  );
  const ok = await ui.confirmDialog({
    title: `${spec.verb} ${items.length} ${what}${items.length === 1 ? "" : "s"}`,
    body,
    confirm: spec.verb,
    danger: spec.danger,
  });
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
    ui.toast(
      `${failures.length} could not be ${spec.done}: ${failures.slice(0, 3).join("; ")}${failures.length > 3 ? "…" : ""}`,
      "error",
    );
  }
  await Promise.all([load(), loadStats()]);
}
