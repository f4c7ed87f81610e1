/* The editor's validation (local checks, then the server's dry run) and saving the tree. */
import * as G from "../graph.js";
import { api, config } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { els, state } from "./state.js";

// ---- validation ----------------------------------------------------------------------------
export function localProblems() {
  const problems = [];
  if (!state.tasks.length) return ["Add at least one task."];
  const roots = G.roots(state.tasks);
  if (roots.length !== 1)
    problems.push(
      `A tree needs exactly one task without a parent; now ${roots.length}: ${roots.map((r) => r.name).join(", ")}.`,
    );
  const names = new Map();
  for (const t of state.tasks) {
    if (!t.name || !t.name.trim()) problems.push("Every task needs a name.");
    if (names.has(t.name)) problems.push(`Two tasks are called "${t.name}".`);
    names.set(t.name, true);
    if (!t.executor) problems.push(`"${t.name}" has no executor.`);
    problems.push(...missingInputs(t));
  }
  return problems;
}

/** Required executor inputs left empty (no value, no default). A task with dependencies may get
 * them from its upstream results at run time, so only a task without dependencies is refused. */
export function missingInputs(t) {
  const ex = state.executorsById[t.executor];
  if (!ex || (t.deps && t.deps.length)) return [];
  const inputs = t.inputs || {};
  return G.schemaFields(ex.input_schema)
    .filter(
      (f) =>
        f.required &&
        f.default === undefined &&
        (inputs[f.name] === undefined || inputs[f.name] === null || inputs[f.name] === ""),
    )
    .map((f) => `"${t.name}" needs the input “${f.title}” (required by ${ex.name || ex.id}).`);
}

export function showValidation(kind, title, list) {
  els.validation.dataset.state = kind;
  ui.clear(els.validation);
  const icon = kind === "ok" ? "✓" : kind === "error" ? "✕" : "…";
  els.validation.appendChild(h("span", { "aria-hidden": "true" }, icon));
  const body = h("div", h("strong", title));
  if (list && list.length)
    body.appendChild(
      h(
        "ul",
        list.map((x) => h("li", x)),
      ),
    );
  els.validation.appendChild(body);
}

export async function validate() {
  const seq = ++state.validateSeq;
  const local = localProblems();
  if (local.length) {
    showValidation(
      state.tasks.length ? "error" : "pending",
      state.tasks.length ? "Not valid yet" : "Add tasks to start.",
      state.tasks.length ? local : [],
    );
    return false;
  }
  showValidation("pending", "Checking with the server…");
  try {
    await api.validate(G.toTaskArray(state.tasks));
    if (seq !== state.validateSeq) return null;
    showValidation(
      "ok",
      `Valid: ${state.tasks.length} task${state.tasks.length === 1 ? "" : "s"}, ready to save.`,
    );
    return true;
  } catch (e) {
    if (seq !== state.validateSeq) return null;
    if (e.status === 400 || e.status === 422) {
      const list = e.details && Array.isArray(e.details.errors) ? e.details.errors : [];
      showValidation("error", e.message || "The server refused this tree.", list.length > 1 ? list : []);
      return false;
    }
    showValidation("pending", `Could not check with the server: ${ui.errorMessage(e)}`);
    return null;
  }
}
export const scheduleValidate = ui.debounce(validate, 450);

export async function save() {
  if (state.saving) return;
  scheduleValidate.cancel();
  const ok = await validate();
  if (ok === false) {
    ui.toast("Fix the problems shown above before saving.", "error");
    return;
  }
  state.saving = true;
  els.save.disabled = true;
  try {
    let tree;
    if (config.mode === "edit") {
      // a tree that never ran: changed in place (same id and URL), one atomic request
      tree = await api.treeEdit(config.tree, G.toTaskArray(state.tasks));
      if (els.runAfter.checked) await api.treeAction(config.tree, "execute");
    } else {
      tree = await api.treeCreate(G.toTaskArray(state.tasks), els.runAfter.checked);
    }
    state.dirty = false;
    ui.toast(`Saved “${tree.name}”.`, "ok");
    location.href = api.pages.run(tree.id);
  } catch (e) {
    ui.toast(`Could not save: ${ui.errorMessage(e)}`, "error");
    if (e.details && Array.isArray(e.details.errors)) showValidation("error", e.message, e.details.errors);
  } finally {
    state.saving = false;
    els.save.disabled = false;
  }
}
