/* The editor's commands on the model (add, remove, link, re-parent), each one undoable step. */
import * as G from "../graph.js";
import * as cygraph from "../cygraph.js";
import { byId, command, defaultExecutor, els, rootTask, state, view, cy } from "./state.js";

export function addTask(position, parentId) {
  let newId = null;
  command(() => {
    const id = G.nextId(state.tasks);
    const isFirst = state.tasks.length === 0;
    const parent = isFirst ? null : parentId && byId(parentId) ? parentId : (rootTask() || {}).id || null;
    const name = G.uniqueName(state.tasks, isFirst ? "my-tree" : "task");
    const task = { id, name, executor: defaultExecutor(), parent, deps: [], priority: 2, inputs: {} };
    state.tasks.push(task);
    let p = position;
    if (!p) {
      const anchor = parent && state.pos[parent];
      if (anchor) {
        const siblings = state.tasks.filter((t) => t.parent === parent).length;
        p = { x: anchor.x + cygraph.NODE_W + 70, y: anchor.y + (siblings - 1) * (cygraph.NODE_H + 22) - 20 };
      } else {
        const ext = cy.extent();
        p = { x: (ext.x1 + ext.x2) / 2, y: (ext.y1 + ext.y2) / 2 };
      }
    }
    state.pos[id] = { x: p.x, y: p.y };
    state.selected = { type: "node", id };
    newId = id;
  });
  if (newId) {
    cy.$(":selected").unselect();
    const node = cy.getElementById(newId);
    node.select();
    ensureVisible(node);
    const input = els.inspector.querySelector("#f-name");
    if (input) {
      input.focus();
      input.select();
    }
  }
  return newId;
}

/** Where "+ Task" puts a new task: beside the selected task (the same parent), so repeated clicks
 * add siblings instead of a chain; under the root when the root or nothing is selected. The
 * "◇ Parent" drag makes deeper levels. */
export function siblingParent() {
  const sel = state.selected && state.selected.type === "node" ? byId(state.selected.id) : null;
  if (!sel) return null;
  return sel.parent == null ? sel.id : sel.parent;
}

/** Bring a node into view: fit everything if that stays readable, else centre on the node. */
export function ensureVisible(node) {
  const ext = cy.extent();
  const bb = node.boundingBox();
  if (bb.x1 >= ext.x1 && bb.x2 <= ext.x2 && bb.y1 >= ext.y1 && bb.y2 <= ext.y2) return;
  const all = cy.nodes().boundingBox();
  const w = cy.width();
  const hgt = cy.height();
  const zoom = Math.min(w / (all.w + 60), hgt / (all.h + 60));
  if (zoom >= 0.6) cygraph.fit(cy);
  else cy.center(node);
}

export function removeSelected() {
  const sel = state.selected;
  if (!sel) return;
  if (sel.type === "node") {
    command(() => {
      const gone = byId(sel.id);
      if (!gone) return false;
      state.tasks = state.tasks.filter((t) => t.id !== sel.id);
      delete state.pos[sel.id];
      for (const t of state.tasks) {
        t.deps = t.deps.filter((d) => d.id !== sel.id);
        // children move up to the removed task's parent, so the tree keeps one root
        if (t.parent === sel.id) t.parent = gone.parent;
      }
      if (gone.parent == null) {
        // the root was removed: its first child becomes the root
        const orphans = state.tasks.filter((t) => t.parent == null);
        for (const o of orphans.slice(1)) o.parent = orphans[0].id;
      }
      state.selected = null;
    });
  } else {
    removeEdge(sel.id);
  }
}

export function removeEdge(edgeId) {
  const m = /^([dp]):(.*)>(.*)$/.exec(edgeId);
  if (!m) return;
  command(() => {
    const down = byId(m[3]);
    if (!down) return false;
    if (m[1] === "d") down.deps = down.deps.filter((d) => d.id !== m[2]);
    else down.parent = null;
    state.selected = null;
  });
}

export function addDependency(upId, downId, required) {
  const reason = G.checkDependency(state.tasks, upId, downId);
  if (reason) {
    view.refuse(reason, [upId, downId]);
    return false;
  }
  return command(() => {
    byId(downId).deps.push({ id: upId, required });
    state.selected = { type: "edge", id: cygraph.depEdgeId(upId, downId) };
  });
}

export function setParent(parentId, childId) {
  const child = byId(childId);
  let reason = G.checkParent(state.tasks, parentId, childId);
  if (!reason && child && child.parent === parentId)
    reason = `"${byId(parentId).name}" is already the parent of "${child.name}"`;
  if (reason) {
    view.refuse(reason, [parentId, childId]);
    return false;
  }
  return command(() => {
    child.parent = parentId;
    state.selected = { type: "edge", id: cygraph.parentEdgeId(parentId, childId) };
  });
}
