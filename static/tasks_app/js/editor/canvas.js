/* The editor's canvas: syncing Cytoscape with the model, drawing edges with edge-handles (refused links explained in a banner), layout. */
import * as G from "../graph.js";
import * as cygraph from "../cygraph.js";
import { addDependency, addTask, setParent } from "./commands.js";
import { byId, command, els, snapshot, state, undo, view, cy, eh, setCy, setEh } from "./state.js";

// ---- canvas -----------------------------------------------------------------------------
export function sync(withPositions) {
  const want = cygraph.elements(state.tasks, state.pos, true);
  const wantIds = new Set(want.map((e) => e.data.id));
  cy.batch(() => {
    cy.elements().forEach((el) => {
      if (!el.hasClass("eh-ghost") && !el.hasClass("eh-preview") && !wantIds.has(el.id())) el.remove();
    });
    for (const el of want) {
      const cur = cy.getElementById(el.data.id);
      if (cur.empty()) {
        cy.add(el);
      } else {
        // touch only what changed: a data write restyles the element (costly on big trees)
        const d = cur.data();
        if (d.label !== el.data.label || d.required !== el.data.required || d.state !== el.data.state)
          cur.data(el.data);
        if (withPositions && el.position) {
          const p = cur.position();
          if (p.x !== el.position.x || p.y !== el.position.y) cur.position(el.position);
        }
      }
    }
  });
  cy.$(":selected").unselect();
  if (state.selected) cy.getElementById(state.selected.id).select();
  els.undo.disabled = !undo.canUndo;
  els.redo.disabled = !undo.canRedo;
  document.getElementById("canvas-empty").hidden = state.tasks.length > 0;
}

export let bannerTimer = null;
export function banner(text, kind) {
  clearTimeout(bannerTimer);
  els.banner.textContent = text;
  els.banner.className = `canvas-banner${kind === "info" ? " info" : ""}`;
  els.banner.hidden = false;
  bannerTimer = setTimeout(
    () => {
      els.banner.hidden = true;
    },
    kind === "info" ? 3000 : 6000,
  );
}
export function clearRefusal() {
  if (!els.banner.hidden && !els.banner.classList.contains("info")) {
    clearTimeout(bannerTimer);
    els.banner.hidden = true;
  }
}
export function refuse(reason, ids) {
  banner(`Not allowed: ${reason}`);
  for (const id of ids || []) {
    const n = cy.getElementById(id);
    n.addClass("refused");
    setTimeout(() => n.removeClass("refused"), 1600);
  }
}

export function positionHandle(node) {
  if (!node || node.removed()) {
    els.handle.hidden = true;
    return;
  }
  const bb = node.renderedBoundingBox({ includeLabels: false });
  els.handle.style.left = `${bb.x2}px`;
  els.handle.style.top = `${(bb.y1 + bb.y2) / 2}px`;
  els.handle.hidden = false;
  els.handle.dataset.node = node.id();
}

export function initCanvas() {
  setCy(cygraph.create(els.cy, { count: state.tasks.length, boxSelection: false }));
  window.arborEditor = { cy, state, G };
  let refusalTarget = null;
  let gestureSource = null;
  setEh(
    cy.edgehandles({
      snap: false,
      hoverDelay: 60,
      noEdgeEventsInDraw: true,
      disableBrowserGestures: true,
      canConnect: (source, target) => {
        if (target.hasClass("eh-ghost") || !byId(target.id()) || !byId(source.id())) return false;
        const reason =
          state.edgeKind === "parent"
            ? G.checkParent(state.tasks, source.id(), target.id()) ||
              (byId(target.id()) && byId(target.id()).parent === source.id()
                ? "that is already its parent"
                : null)
            : G.checkDependency(state.tasks, source.id(), target.id());
        if (reason) {
          refusalTarget = { id: target.id(), reason };
          refuse(reason, [target.id()]);
          return false;
        }
        // hovering an allowed task after a refused one: the earlier refusal no longer applies
        if (refusalTarget) {
          refusalTarget = null;
          clearRefusal();
        }
        return true;
      },
      edgeParams: () => ({
        data: {
          kind: state.edgeKind === "parent" ? "parent" : "dep",
          required: state.edgeKind !== "optional",
        },
      }),
    }),
  );
  cy.on("ehstart", (ev, source) => {
    gestureSource = source;
    refusalTarget = null;
    els.handle.hidden = true;
  });
  cy.on("ehcomplete", (ev, source, target, added) => {
    added.remove();
    // the drag may have passed over a refused task on its way: that refusal is stale now
    refusalTarget = null;
    clearRefusal();
    const s = source.id();
    const t = target.id();
    if (state.edgeKind === "parent") setParent(s, t);
    else addDependency(s, t, state.edgeKind !== "optional");
  });
  cy.on("ehstop", () => {
    gestureSource = null;
  });
  cy.on("ehcancel", (ev, source) => {
    // dropped on a task that was refused: keep the reason on screen
    if (refusalTarget && source) refuse(refusalTarget.reason, [refusalTarget.id]);
  });

  els.handle.addEventListener("mousedown", (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    const node = cy.getElementById(els.handle.dataset.node || "");
    if (node && !node.empty()) eh.start(node);
  });
  window.addEventListener("mouseup", () => {
    if (gestureSource) eh.stop();
  });

  let hoverNode = null;
  const maybeHideHandle = () => {
    setTimeout(() => {
      if (!gestureSource && !hoverNode && !els.handle.matches(":hover")) els.handle.hidden = true;
    }, 250);
  };
  cy.on("mouseover", "node", (ev) => {
    if (ev.target.hasClass("eh-ghost")) return;
    hoverNode = ev.target.id();
    if (!gestureSource) positionHandle(ev.target);
  });
  cy.on("mousemove", "node", (ev) => {
    if (!gestureSource && els.handle.hidden && !ev.target.hasClass("eh-ghost")) positionHandle(ev.target);
  });
  cy.on("mouseout", "node", (ev) => {
    if (hoverNode === ev.target.id()) hoverNode = null;
    maybeHideHandle();
  });
  els.handle.addEventListener("mouseleave", maybeHideHandle);
  cy.on("pan zoom", () => {
    els.handle.hidden = true;
  });
  cy.on("drag", "node", (ev) => positionHandle(ev.target));

  let dragBefore = null;
  cy.on("grab", "node", () => {
    dragBefore = snapshot();
  });
  cy.on("dragfree", "node", (ev) => {
    const moved = cy.nodes(":selected").union(ev.target);
    moved.forEach((n) => {
      if (state.pos[n.id()]) state.pos[n.id()] = Object.assign({}, n.position());
    });
    if (dragBefore && snapshot() !== dragBefore) {
      undo.record(dragBefore);
      state.dirty = true;
      els.undo.disabled = false;
      els.redo.disabled = true;
    }
    dragBefore = null;
  });

  cy.on("tap", "node", (ev) => {
    state.selected = { type: "node", id: ev.target.id() };
    view.renderInspector();
  });
  cy.on("tap", "edge", (ev) => {
    state.selected = { type: "edge", id: ev.target.id() };
    view.renderInspector();
  });
  cy.on("tap", (ev) => {
    if (ev.target === cy) {
      state.selected = null;
      view.renderInspector();
    }
  });
  cy.on("dbltap", (ev) => {
    if (ev.target === cy) addTask(ev.position);
  });
  cy.on("dbltap", "edge", (ev) => {
    const id = ev.target.id();
    if (id.startsWith("d:")) toggleRequired(id);
  });
}

export function toggleRequired(edgeId) {
  const m = /^d:(.*)>(.*)$/.exec(edgeId);
  if (!m) return;
  command(() => {
    const dep = byId(m[2]).deps.find((d) => d.id === m[1]);
    dep.required = !dep.required;
    state.selected = { type: "edge", id: edgeId };
  });
}

export async function layout() {
  if (!state.tasks.length) return;
  const before = snapshot();
  const positions = await cygraph.computeLayout(cy, state.tasks);
  for (const t of state.tasks)
    if (positions[t.id]) state.pos[t.id] = { x: positions[t.id].x, y: positions[t.id].y };
  if (snapshot() !== before) {
    undo.record(before);
    state.dirty = true;
  }
  sync(true);
  cygraph.fit(cy);
}
