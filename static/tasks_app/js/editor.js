/*
 * The visual tree editor. The model (a list of tasks in the tasks.create shape plus canvas
 * positions) is the source of truth; Cytoscape only draws it. Every change is a command that
 * records an undo snapshot, updates the model, then syncs the canvas.
 */
import { api, config } from "./api.js";
import * as cygraph from "./cygraph.js";
import * as ui from "./ui.js";
import { banner, initCanvas, layout, sync, toggleRequired, refuse } from "./editor/canvas.js";
import { addTask, removeSelected, siblingParent } from "./editor/commands.js";
import { renderInspector } from "./editor/inspector.js";
import { loadArray, openExport, openHelp, openImport, setEdgeKind } from "./editor/io.js";
import { doRedo, doUndo, els, state, undo, cy, view } from "./editor/state.js";
import { save, showValidation, validate, scheduleValidate } from "./editor/validate.js";
import { $ } from "./ui.js";

// ---- startup ----------------------------------------------------------------------------------
export function bindToolbar() {
  // Enter or Esc in a one-line inspector field commits it and hands the keys back to the canvas
  els.inspector.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (
      t.tagName === "INPUT" &&
      (t.type === "text" || t.type === "number") &&
      (ev.key === "Enter" || ev.key === "Escape")
    ) {
      ev.preventDefault();
      t.blur();
      els.cy.focus();
    }
  });
  $("#add-task").addEventListener("click", () => addTask(null, siblingParent()));
  $("#add-first").addEventListener("click", () => addTask());
  $("#import-first").addEventListener("click", openImport);
  $("#layout").addEventListener("click", layout);
  $("#fit").addEventListener("click", () => cygraph.fit(cy));
  els.undo.addEventListener("click", doUndo);
  els.redo.addEventListener("click", doRedo);
  $("#import").addEventListener("click", openImport);
  $("#export").addEventListener("click", openExport);
  $("#help").addEventListener("click", openHelp);
  els.save.addEventListener("click", save);
  for (const b of document.querySelectorAll("[data-edge-kind]"))
    b.addEventListener("click", () => setEdgeKind(b.dataset.edgeKind));
  document.addEventListener("keydown", (ev) => {
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && (ev.key === "s" || ev.key === "S")) {
      ev.preventDefault();
      save();
      return;
    }
    if (ui.isTyping(ev)) return;
    if (mod && (ev.key === "z" || ev.key === "Z")) {
      ev.preventDefault();
      if (ev.shiftKey) doRedo();
      else doUndo();
    } else if (mod && (ev.key === "y" || ev.key === "Y")) {
      ev.preventDefault();
      doRedo();
    } else if (mod || ev.altKey) {
      /* leave other browser shortcuts alone */
    } else if (ev.key === "Delete" || ev.key === "Backspace") {
      ev.preventDefault();
      removeSelected();
    } else if (ev.key === "n" || ev.key === "N") {
      ev.preventDefault();
      addTask(null, siblingParent());
    } else if (ev.key === "l" || ev.key === "L") {
      layout();
    } else if (ev.key === "f" || ev.key === "F") {
      cygraph.fit(cy);
    } else if (ev.key === "e" || ev.key === "E") {
      const kinds = ["required", "optional", "parent"];
      setEdgeKind(kinds[(kinds.indexOf(state.edgeKind) + 1) % kinds.length]);
      banner(
        `Dragging now draws: ${state.edgeKind === "parent" ? "a parent → child link" : `an ${state.edgeKind === "optional" ? "optional" : "required"} dependency`}`,
        "info",
      );
    } else if (
      (ev.key === "r" || ev.key === "R") &&
      state.selected &&
      state.selected.type === "edge" &&
      state.selected.id.startsWith("d:")
    ) {
      toggleRequired(state.selected.id);
    } else if (ev.key === "?") {
      openHelp();
    } else if (ev.key === "Escape") {
      state.selected = null;
      cy.$(":selected").unselect();
      renderInspector();
    }
  });
  window.addEventListener("beforeunload", (ev) => {
    if (state.dirty && state.tasks.length && !state.saving) {
      ev.preventDefault();
      ev.returnValue = "";
    }
  });
}

export async function loadExecutors() {
  try {
    state.executors = api.results(await api.executors());
  } catch (e) {
    state.executors = [];
    ui.toast(`Executors could not be loaded: ${ui.errorMessage(e)}`, "error");
  }
  state.executorsById = Object.fromEntries(state.executors.map((x) => [x.id, x]));
}

export async function loadCopy() {
  const body = { mode: config.copy_mode || "full", save: false };
  const data = config.task
    ? await api.taskAction(config.task, "copy", body)
    : await api.treeAction(config.tree, "copy", body);
  const array = Array.isArray(data) ? data : data && (data.tasks || data.results);
  const ok = await loadArray(array, "Loaded an unsaved copy: edit it, then save it as a new tree.");
  if (ok) {
    // loading a copy is the starting point, not an undoable edit
    undo.past = [];
    state.dirty = false;
    sync();
  }
}

/** Edit mode: the saved tree itself, ids kept, so that saving changes it in place. */
export async function loadEdit() {
  const data = await api.tree(config.tree);
  const ok = await loadArray(
    data.tasks || [],
    `Editing “${data.name}” in place: saving changes this tree (it has not run yet).`,
  );
  if (ok) {
    undo.past = [];
    state.dirty = false;
    sync();
  }
}

export async function init() {
  initCanvas();
  bindToolbar();
  renderInspector();
  await loadExecutors();
  renderInspector();
  if (config.mode === "edit") {
    try {
      await loadEdit();
    } catch (e) {
      showValidation("error", `Could not load the tree: ${ui.errorMessage(e)}`);
    }
  } else if (config.mode === "copy") {
    try {
      await loadCopy();
    } catch (e) {
      showValidation("error", `Could not load the copy: ${ui.errorMessage(e)}`);
    }
  } else if (new URLSearchParams(location.search).get("import")) {
    openImport();
  }
  sync();
  validate();
  window.arborEditor.ready = true;
  window.arborEditor.select = (id) => {
    state.selected = id ? { type: "node", id } : null;
    sync();
    renderInspector();
  };
  document.body.dataset.ready = "1";
}

Object.assign(view, { sync, refuse, renderInspector, scheduleValidate });
init();
