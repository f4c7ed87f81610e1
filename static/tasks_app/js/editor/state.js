/* The editor's model (tasks in the tasks.create shape plus canvas positions), undo/redo, and the late-bound drawing side (`view`). */
import * as G from "../graph.js";
import { $ } from "../ui.js";

export const els = {
  cy: $("#cy"),
  wrap: $("#canvas-wrap"),
  inspector: $("#inspector"),
  validation: $("#validation"),
  banner: $("#banner"),
  handle: $("#eh-handle"),
  runAfter: $("#run-after"),
  save: $("#save"),
  undo: $("#undo"),
  redo: $("#redo"),
};

export const PRIORITIES = [
  [0, "0 · urgent"],
  [1, "1 · high"],
  [2, "2 · normal"],
  [3, "3 · low"],
];

export const state = {
  tasks: [], // {id, name, executor, parent, deps: [{id, required}], priority, inputs, ...}
  pos: {}, // id -> {x, y}
  selected: null, // {type: "node"|"edge", id}
  edgeKind: "required",
  executors: [],
  executorsById: {},
  dirty: false,
  saving: false,
  jsonInputs: new Set(), // task ids whose inputs are edited as raw JSON
  validateSeq: 0,
};
export const undo = new G.UndoStack(300);

/** The Cytoscape core and its edge-handles (set by canvas.js). */
export let cy = null;
export let eh = null;
export function setCy(core) {
  cy = core;
}
export function setEh(handles) {
  eh = handles;
}
// ---- model helpers ----------------------------------------------------------------------
export const byId = (id) => state.tasks.find((t) => t.id === id);
export const snapshot = () => JSON.stringify({ tasks: state.tasks, pos: state.pos });
export function restore(snap) {
  const data = JSON.parse(snap);
  state.tasks = data.tasks;
  state.pos = data.pos;
  if (state.selected && state.selected.type === "node" && !byId(state.selected.id)) state.selected = null;
  if (state.selected && state.selected.type === "edge" && !edgeExists(state.selected.id))
    state.selected = null;
}
export function edgeExists(edgeId) {
  const m = /^([dp]):(.*)>(.*)$/.exec(edgeId);
  if (!m) return false;
  const down = byId(m[3]);
  if (!down) return false;
  return m[1] === "d" ? down.deps.some((d) => d.id === m[2]) : down.parent === m[2];
}

/** Run a change as one undoable command. */
export function command(fn, opts) {
  const before = snapshot();
  const result = fn();
  if (result === false) return false;
  if (snapshot() === before) return false;
  undo.record(before);
  state.dirty = true;
  view.sync();
  if (!opts || opts.inspector !== false) view.renderInspector();
  view.scheduleValidate();
  return true;
}

export function doUndo() {
  const snap = undo.undo(snapshot());
  if (snap == null) return;
  restore(snap);
  state.dirty = true;
  view.sync(true);
  view.renderInspector();
  view.scheduleValidate();
}
export function doRedo() {
  const snap = undo.redo(snapshot());
  if (snap == null) return;
  restore(snap);
  state.dirty = true;
  view.sync(true);
  view.renderInspector();
  view.scheduleValidate();
}

export function defaultExecutor() {
  if (state.executorsById.echo) return "echo";
  if (state.executorsById.noop) return "noop";
  return state.executors.length ? state.executors[0].id : "noop";
}

export function rootTask() {
  return state.tasks.find((t) => t.parent == null) || null;
}

/**
 * The drawing side, set once by the page's entry module at startup: the lower parts (the model,
 * its commands) call into the parts that draw through this object instead of importing them, so
 * the modules form no import cycle (a hashing static storage cannot name a cycle's files).
 */
export const view = {};
