/*
 * The visual tree editor. The model (a list of tasks in the tasks.create shape plus canvas
 * positions) is the source of truth; Cytoscape only draws it. Every change is a command that
 * records an undo snapshot, updates the model, then syncs the canvas.
 */
(function (root) {
  "use strict";
  const G = root.ArborGraph;
  const { api, cygraph } = root.Arbor;
  const ui = root.Arbor.ui;
  const { h } = ui;
  const config = api.config;

  const $ = (sel) => document.querySelector(sel);
  const els = {
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

  const PRIORITIES = [
    [0, "0 · urgent"],
    [1, "1 · high"],
    [2, "2 · normal"],
    [3, "3 · low"],
  ];

  const state = {
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
  const undo = new G.UndoStack(300);
  let cy = null;
  let eh = null;

  // ---- model helpers ----------------------------------------------------------------------
  const byId = (id) => state.tasks.find((t) => t.id === id);
  const snapshot = () => JSON.stringify({ tasks: state.tasks, pos: state.pos });
  function restore(snap) {
    const data = JSON.parse(snap);
    state.tasks = data.tasks;
    state.pos = data.pos;
    if (state.selected && state.selected.type === "node" && !byId(state.selected.id)) state.selected = null;
    if (state.selected && state.selected.type === "edge" && !edgeExists(state.selected.id)) state.selected = null;
  }
  function edgeExists(edgeId) {
    const m = /^([dp]):(.*)>(.*)$/.exec(edgeId);
    if (!m) return false;
    const down = byId(m[3]);
    if (!down) return false;
    return m[1] === "d" ? down.deps.some((d) => d.id === m[2]) : down.parent === m[2];
  }

  /** Run a change as one undoable command. */
  function command(fn, opts) {
    const before = snapshot();
    const result = fn();
    if (result === false) return false;
    if (snapshot() === before) return false;
    undo.record(before);
    state.dirty = true;
    sync();
    if (!opts || opts.inspector !== false) renderInspector();
    scheduleValidate();
    return true;
  }

  function doUndo() {
    const snap = undo.undo(snapshot());
    if (snap == null) return;
    restore(snap);
    state.dirty = true;
    sync(true);
    renderInspector();
    scheduleValidate();
  }
  function doRedo() {
    const snap = undo.redo(snapshot());
    if (snap == null) return;
    restore(snap);
    state.dirty = true;
    sync(true);
    renderInspector();
    scheduleValidate();
  }

  function defaultExecutor() {
    if (state.executorsById.echo) return "echo";
    if (state.executorsById.noop) return "noop";
    return state.executors.length ? state.executors[0].id : "noop";
  }

  function rootTask() {
    return state.tasks.find((t) => t.parent == null) || null;
  }

  function addTask(position, parentId) {
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
  function siblingParent() {
    const sel = state.selected && state.selected.type === "node" ? byId(state.selected.id) : null;
    if (!sel) return null;
    return sel.parent == null ? sel.id : sel.parent;
  }

  /** Bring a node into view: fit everything if that stays readable, else centre on the node. */
  function ensureVisible(node) {
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

  function removeSelected() {
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

  function removeEdge(edgeId) {
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

  function addDependency(upId, downId, required) {
    const reason = G.checkDependency(state.tasks, upId, downId);
    if (reason) {
      refuse(reason, [upId, downId]);
      return false;
    }
    return command(() => {
      byId(downId).deps.push({ id: upId, required });
      state.selected = { type: "edge", id: cygraph.depEdgeId(upId, downId) };
    });
  }

  function setParent(parentId, childId) {
    const child = byId(childId);
    let reason = G.checkParent(state.tasks, parentId, childId);
    if (!reason && child && child.parent === parentId) reason = `"${byId(parentId).name}" is already the parent of "${child.name}"`;
    if (reason) {
      refuse(reason, [parentId, childId]);
      return false;
    }
    return command(() => {
      child.parent = parentId;
      state.selected = { type: "edge", id: cygraph.parentEdgeId(parentId, childId) };
    });
  }

  // ---- canvas -----------------------------------------------------------------------------
  function sync(withPositions) {
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
          if (d.label !== el.data.label || d.required !== el.data.required || d.state !== el.data.state) cur.data(el.data);
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

  let bannerTimer = null;
  function banner(text, kind) {
    clearTimeout(bannerTimer);
    els.banner.textContent = text;
    els.banner.className = `canvas-banner${kind === "info" ? " info" : ""}`;
    els.banner.hidden = false;
    bannerTimer = setTimeout(() => {
      els.banner.hidden = true;
    }, kind === "info" ? 3000 : 6000);
  }
  function clearRefusal() {
    if (!els.banner.hidden && !els.banner.classList.contains("info")) {
      clearTimeout(bannerTimer);
      els.banner.hidden = true;
    }
  }
  function refuse(reason, ids) {
    banner(`Not allowed: ${reason}`);
    for (const id of ids || []) {
      const n = cy.getElementById(id);
      n.addClass("refused");
      setTimeout(() => n.removeClass("refused"), 1600);
    }
  }

  function positionHandle(node) {
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

  function initCanvas() {
    cy = cygraph.create(els.cy, { count: state.tasks.length, boxSelection: false });
    root.arborEditor = { cy, state, G };
    let refusalTarget = null;
    let gestureSource = null;
    eh = cy.edgehandles({
      snap: false,
      hoverDelay: 60,
      noEdgeEventsInDraw: true,
      disableBrowserGestures: true,
      canConnect: (source, target) => {
        if (target.hasClass("eh-ghost") || !byId(target.id()) || !byId(source.id())) return false;
        const reason =
          state.edgeKind === "parent"
            ? G.checkParent(state.tasks, source.id(), target.id()) ||
              (byId(target.id()) && byId(target.id()).parent === source.id() ? "that is already its parent" : null)
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
      edgeParams: () => ({ data: { kind: state.edgeKind === "parent" ? "parent" : "dep", required: state.edgeKind !== "optional" } }),
    });
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
      renderInspector();
    });
    cy.on("tap", "edge", (ev) => {
      state.selected = { type: "edge", id: ev.target.id() };
      renderInspector();
    });
    cy.on("tap", (ev) => {
      if (ev.target === cy) {
        state.selected = null;
        renderInspector();
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

  function toggleRequired(edgeId) {
    const m = /^d:(.*)>(.*)$/.exec(edgeId);
    if (!m) return;
    command(() => {
      const dep = byId(m[2]).deps.find((d) => d.id === m[1]);
      dep.required = !dep.required;
      state.selected = { type: "edge", id: edgeId };
    });
  }

  async function layout() {
    if (!state.tasks.length) return;
    const before = snapshot();
    const positions = await cygraph.computeLayout(cy, state.tasks);
    for (const t of state.tasks) if (positions[t.id]) state.pos[t.id] = { x: positions[t.id].x, y: positions[t.id].y };
    if (snapshot() !== before) {
      undo.record(before);
      state.dirty = true;
    }
    sync(true);
    cygraph.fit(cy);
  }

  // ---- inspector ----------------------------------------------------------------------------
  function field(label, input, hint, id) {
    if (id) input.id = id;
    return h("div.field", h("label", { for: input.id || null }, label), input, hint ? h("div.hint", hint) : null);
  }

  function numberInput(value, attrs) {
    return h("input", Object.assign({ type: "number", value: value == null ? "" : String(value) }, attrs || {}));
  }

  /** Commit a field on change: parse, validate, then one undoable command. */
  function bindCommit(input, task, apply, errorEl) {
    input.addEventListener("change", () => {
      const raw = input.type === "checkbox" ? input.checked : input.value;
      const res = apply(raw);
      if (res && res.error) {
        input.setAttribute("aria-invalid", "true");
        if (errorEl) errorEl.textContent = res.error;
        return;
      }
      input.removeAttribute("aria-invalid");
      if (errorEl) errorEl.textContent = "";
      command(() => res.commit(byId(task.id)), { inspector: res.rerender === true });
    });
  }

  function optionalNumber(label, min, integer) {
    return (raw) => {
      const text = String(raw).trim();
      if (text === "") return { commit: (t) => void (t[label] = null) };
      const n = Number(text);
      if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
        return { error: `${label.replace("_", " ")} must be ${integer ? "a whole number" : "a number"} ≥ ${min}` };
      }
      return { commit: (t) => void (t[label] = n) };
    };
  }

  function renderTree() {
    const rootT = rootTask();
    const roots = G.roots(state.tasks);
    const box = h("div");
    box.appendChild(
      h(
        "div.section",
        h("h2", "Tree"),
        state.tasks.length
          ? h(
              "dl.kv",
              h("dt", "Name"),
              h("dd", rootT ? rootT.name : "—"),
              h("dt", "Tasks"),
              h("dd", String(state.tasks.length)),
              h("dt", "Dependencies"),
              h("dd", String(state.tasks.reduce((n, t) => n + t.deps.length, 0))),
              h("dt", "Roots"),
              h("dd", roots.length === 1 ? "1 (good)" : `${roots.length}: a tree needs exactly one task without a parent`)
            )
          : h("p.muted", "An empty tree. Add the first task: it becomes the root and names the tree."),
        h("div.action-row", h("button.btn.primary", { type: "button", on: { click: () => addTask() } }, "+ Add task"))
      )
    );
    box.appendChild(
      h(
        "div.section",
        h("h3", "How to"),
        h(
          "ul.small",
          { style: "padding-left:18px;margin:0" },
          h("li", "Click a task to edit it; double-click the canvas to add one."),
          h("li", "Hover a task and drag its blue handle onto another task. The toolbar chooses what the drag draws: a required dependency, an optional one, or a parent → child link."),
          h("li", "A dependency arrow points from the task that runs first to the task that needs it. Cycles are refused."),
          h("li", "The parent is only organisation (it never changes the order tasks run in)."),
          h("li", h("kbd", "?"), " lists the keyboard shortcuts.")
        )
      )
    );
    return box;
  }

  function renderInputs(task, container) {
    const ex = state.executorsById[task.executor];
    const fields = G.schemaFields(ex && ex.input_schema);
    const raw = state.jsonInputs.has(task.id) || !fields.length;
    const head = h("div.row", h("h3", { style: "margin:0" }, "Inputs"), h("span.grow"));
    if (fields.length) {
      const toggle = h("button.btn.small", { type: "button" }, raw ? "Use form" : "Edit as JSON");
      toggle.addEventListener("click", () => {
        if (raw) state.jsonInputs.delete(task.id);
        else state.jsonInputs.add(task.id);
        renderInspector();
      });
      head.appendChild(toggle);
    }
    container.appendChild(head);
    if (ex && ex.description) container.appendChild(h("p.muted.small", { style: "margin:4px 0 8px" }, ex.description));
    if (raw) {
      const err = h("div.error");
      const ta = h("textarea", { id: "f-inputs", rows: 5, spellcheck: false }, JSON.stringify(task.inputs || {}, null, 2));
      bindCommit(
        ta,
        task,
        (value) => {
          let parsed;
          try {
            parsed = value.trim() ? JSON.parse(value) : {};
          } catch (e) {
            return { error: `not valid JSON: ${e.message}` };
          }
          if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { error: "inputs must be a JSON object" };
          return { commit: (t) => void (t.inputs = parsed) };
        },
        err
      );
      container.appendChild(h("div.field", h("label", { for: "f-inputs" }, "inputs (JSON object)"), ta, err));
      return;
    }
    for (const f of fields) {
      const id = `f-in-${f.name}`;
      const cur = task.inputs ? task.inputs[f.name] : undefined;
      const err = h("div.error");
      let input;
      if (f.type === "boolean") {
        input = h("input", { type: "checkbox", id, checked: cur === undefined ? Boolean(f.default) : Boolean(cur) });
      } else if (f.type === "enum") {
        input = h("select", { id }, h("option", { value: "" }, "—"), f.enum.map((v) => h("option", { value: String(v), selected: String(cur) === String(v) }, String(v))));
      } else if (f.type === "json") {
        input = h("textarea", { id, rows: 2, spellcheck: false, placeholder: f.default !== undefined ? JSON.stringify(f.default) : "JSON or text" }, cur === undefined ? "" : typeof cur === "string" ? cur : JSON.stringify(cur));
      } else {
        input = h("input", {
          id,
          type: f.type === "string" ? "text" : "number",
          step: f.type === "integer" ? "1" : "any",
          min: f.minimum,
          max: f.maximum,
          value: cur === undefined ? "" : String(cur),
          placeholder: f.default !== undefined ? `default ${f.default}` : "",
        });
      }
      bindCommit(
        input,
        task,
        (value) => {
          const res = G.coerceField(f, value);
          if (res.error) return res;
          return {
            commit: (t) => {
              t.inputs = Object.assign({}, t.inputs);
              if (res.value === undefined) delete t.inputs[f.name];
              else t.inputs[f.name] = res.value;
            },
          };
        },
        err
      );
      const label = f.type === "boolean" ? h("label.check", { for: id }, input, ` ${f.title}`) : h("label", { for: id }, f.title, f.required ? " *" : "");
      container.appendChild(h("div.field", label, f.type === "boolean" ? null : input, f.description ? h("div.hint", f.description) : null, err));
    }
  }

  function renderTask(task) {
    const box = h("div");
    const sec = h("div.section");
    sec.appendChild(h("div.row", h("h2", { style: "margin:0" }, "Task"), h("span.grow"), task.parent == null ? h("span.badge", { dataset: { state: "pending" } }, "root · names the tree") : null));
    // name
    const nameErr = h("div.error");
    const name = h("input", { type: "text", id: "f-name", value: task.name, maxlength: 200, autocomplete: "off" });
    bindCommit(
      name,
      task,
      (value) => {
        const v = value.trim();
        if (!v) return { error: "a name is required" };
        if (state.tasks.some((t) => t.id !== task.id && t.name === v)) return { error: `another task is already called "${v}"` };
        return { commit: (t) => void (t.name = v) };
      },
      nameErr
    );
    sec.appendChild(h("div.field", h("label", { for: "f-name" }, "Name"), name, nameErr));
    // executor
    let exInput;
    if (state.executors.length) {
      exInput = h(
        "select",
        { id: "f-executor" },
        state.executors.map((ex) => h("option", { value: ex.id, selected: ex.id === task.executor }, ex.name && ex.name !== ex.id ? `${ex.name} (${ex.id})` : ex.id))
      );
      if (!state.executorsById[task.executor]) exInput.prepend(h("option", { value: task.executor, selected: true }, `${task.executor || "—"} (not available to you)`));
    } else {
      exInput = h("input", { type: "text", id: "f-executor", value: task.executor || "", placeholder: "executor id" });
    }
    bindCommit(exInput, task, (value) => ({ commit: (t) => void (t.executor = value), rerender: true }));
    sec.appendChild(field("Executor", exInput, state.executors.length ? null : "The executor list could not be loaded; type an id."));
    box.appendChild(sec);

    const inputs = h("div.section");
    renderInputs(task, inputs);
    box.appendChild(inputs);

    // execution settings
    const ex = h("div.section", h("h3", { style: "margin-top:0" }, "Execution"));
    const prio = h("select", { id: "f-priority" }, PRIORITIES.map(([v, l]) => h("option", { value: String(v), selected: (task.priority == null ? 2 : task.priority) === v }, l)));
    bindCommit(prio, task, (value) => ({ commit: (t) => void (t.priority = Number(value)) }));
    const timeoutErr = h("div.error");
    const timeout = numberInput(task.timeout, { id: "f-timeout", min: "0", step: "any", placeholder: "default" });
    bindCommit(timeout, task, optionalNumber("timeout", 0.001), timeoutErr);
    const retriesErr = h("div.error");
    const retries = numberInput(task.max_retries, { id: "f-retries", min: "0", step: "1", placeholder: "default" });
    bindCommit(retries, task, optionalNumber("max_retries", 0, true), retriesErr);
    const delayErr = h("div.error");
    const delay = numberInput(task.retry_delay, { id: "f-delay", min: "0", step: "any", placeholder: "default" });
    bindCommit(delay, task, optionalNumber("retry_delay", 0), delayErr);
    ex.appendChild(
      h(
        "div.field-row",
        h("div.field", h("label", { for: "f-priority" }, "Priority"), prio, h("div.hint", "Lower runs first")),
        h("div.field", h("label", { for: "f-timeout" }, "Timeout (s)"), timeout, timeoutErr)
      )
    );
    ex.appendChild(
      h(
        "div.field-row",
        h("div.field", h("label", { for: "f-retries" }, "Max retries"), retries, retriesErr),
        h("div.field", h("label", { for: "f-delay" }, "Retry delay (s)"), delay, delayErr)
      )
    );
    const resErr = h("div.error");
    const res = h("textarea", { id: "f-resources", rows: 2, spellcheck: false, placeholder: '[{"type": "db", "identifier": "main", "mode": "write"}]' }, task.resources && task.resources.length ? JSON.stringify(task.resources) : "");
    bindCommit(
      res,
      task,
      (value) => {
        if (!value.trim()) return { commit: (t) => void delete t.resources };
        let parsed;
        try {
          parsed = JSON.parse(value);
        } catch (e) {
          return { error: `not valid JSON: ${e.message}` };
        }
        if (!Array.isArray(parsed) || !parsed.every((r) => r && typeof r === "object" && r.type && r.identifier)) {
          return { error: 'a list of {"type", "identifier", "mode": "read"|"write"|"exclusive"}' };
        }
        return { commit: (t) => void (t.resources = parsed) };
      },
      resErr
    );
    ex.appendChild(h("div.field", h("label", { for: "f-resources" }, "Resources"), res, h("div.hint", "Locks taken for the whole attempt: read is shared, write and exclusive are not."), resErr));
    const tags = h("input", { type: "text", id: "f-tags", value: (task.tags || []).join(", "), placeholder: "comma, separated" });
    bindCommit(tags, task, (value) => {
      const list = value.split(",").map((s) => s.trim()).filter(Boolean);
      return { commit: (t) => void (list.length ? (t.tags = list) : delete t.tags) };
    });
    ex.appendChild(field("Tags", tags));
    box.appendChild(ex);

    // structure
    const st = h("div.section", h("h3", { style: "margin-top:0" }, "Structure"));
    const descendants = G.descendantsOf(state.tasks, task.id);
    const parentSel = h(
      "select",
      { id: "f-parent" },
      h("option", { value: "" }, "— none (root) —"),
      state.tasks.filter((t) => t.id !== task.id).map((t) => h("option", { value: t.id, selected: t.id === task.parent, disabled: descendants.has(t.id) }, descendants.has(t.id) ? `${t.name} (inside this task's subtree)` : t.name))
    );
    parentSel.addEventListener("change", () => {
      const v = parentSel.value || null;
      if (v == null) {
        command(() => void (byId(task.id).parent = null));
      } else if (!setParent(v, task.id)) {
        renderInspector();
      }
    });
    st.appendChild(field("Parent (organisation only)", parentSel));
    st.appendChild(h("label", "Depends on"));
    const depList = h("ul", { style: "list-style:none;padding:0;margin:0 0 8px", id: "dep-list" });
    if (!task.deps.length) depList.appendChild(h("li.muted.small", "Nothing: this task can start as soon as the run starts."));
    for (const d of task.deps) {
      const up = byId(d.id);
      const req = h("input", { type: "checkbox", checked: d.required !== false, "aria-label": `${up ? up.name : d.id} is required` });
      req.addEventListener("change", () => toggleRequired(cygraph.depEdgeId(d.id, task.id)));
      const rm = h("button.btn.small", { type: "button", "aria-label": `Remove dependency on ${up ? up.name : d.id}` }, "✕");
      rm.addEventListener("click", () => removeEdge(cygraph.depEdgeId(d.id, task.id)));
      depList.appendChild(h("li.row", { style: "padding:3px 0" }, h("span.grow", up ? up.name : d.id), h("label.check", req, " required"), rm));
    }
    st.appendChild(depList);
    const addDep = h(
      "select",
      { id: "f-add-dep", "aria-label": "Add a dependency" },
      h("option", { value: "" }, "+ add a dependency…"),
      state.tasks.filter((t) => t.id !== task.id && !task.deps.some((d) => d.id === t.id)).map((t) => h("option", { value: t.id }, t.name))
    );
    addDep.addEventListener("change", () => {
      if (addDep.value) addDependency(addDep.value, task.id, state.edgeKind !== "optional");
      renderInspector();
    });
    st.appendChild(addDep);
    box.appendChild(st);

    const del = h("div.section", h("button.btn.danger", { type: "button", on: { click: removeSelected } }, "Delete task"), h("span.muted.small", " or press ", h("kbd", "Delete")));
    box.appendChild(del);
    return box;
  }

  function renderEdge(edgeId) {
    const m = /^([dp]):(.*)>(.*)$/.exec(edgeId);
    const box = h("div.section");
    if (!m) return box;
    const a = byId(m[2]);
    const b = byId(m[3]);
    if (!a || !b) return box;
    if (m[1] === "d") {
      const dep = b.deps.find((d) => d.id === a.id);
      box.appendChild(h("h2", "Dependency"));
      box.appendChild(h("p", h("strong", b.name), " depends on ", h("strong", a.name), ": it starts only after ", a.name, dep.required ? " has completed." : " has finished, whatever its outcome."));
      const req = h("input", { type: "checkbox", id: "f-required", checked: dep.required });
      req.addEventListener("change", () => toggleRequired(edgeId));
      box.appendChild(h("label.check", { for: "f-required" }, req, " Required (solid line). Optional dependencies (dashed) do not block when they fail."));
      box.appendChild(h("p.muted.small", "Double-click an edge to toggle it."));
    } else {
      box.appendChild(h("h2", "Parent link"));
      box.appendChild(h("p", h("strong", a.name), " is the organisational parent of ", h("strong", b.name), ". This groups tasks; it does not change the order they run in."));
    }
    box.appendChild(h("div.action-row", h("button.btn.danger", { type: "button", on: { click: () => removeEdge(edgeId) } }, m[1] === "d" ? "Remove dependency" : "Remove parent link")));
    return box;
  }

  function renderInspector() {
    const sel = state.selected;
    let content;
    if (sel && sel.type === "node" && byId(sel.id)) content = renderTask(byId(sel.id));
    else if (sel && sel.type === "edge") content = renderEdge(sel.id);
    else content = renderTree();
    ui.clear(els.inspector).appendChild(content);
  }

  // ---- validation ----------------------------------------------------------------------------
  function localProblems() {
    const problems = [];
    if (!state.tasks.length) return ["Add at least one task."];
    const roots = G.roots(state.tasks);
    if (roots.length !== 1) problems.push(`A tree needs exactly one task without a parent; now ${roots.length}: ${roots.map((r) => r.name).join(", ")}.`);
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
  function missingInputs(t) {
    const ex = state.executorsById[t.executor];
    if (!ex || (t.deps && t.deps.length)) return [];
    const inputs = t.inputs || {};
    return G.schemaFields(ex.input_schema)
      .filter((f) => f.required && f.default === undefined && (inputs[f.name] === undefined || inputs[f.name] === null || inputs[f.name] === ""))
      .map((f) => `"${t.name}" needs the input “${f.title}” (required by ${ex.name || ex.id}).`);
  }

  function showValidation(kind, title, list) {
    els.validation.dataset.state = kind;
    ui.clear(els.validation);
    const icon = kind === "ok" ? "✓" : kind === "error" ? "✕" : "…";
    els.validation.appendChild(h("span", { "aria-hidden": "true" }, icon));
    const body = h("div", h("strong", title));
    if (list && list.length) body.appendChild(h("ul", list.map((x) => h("li", x))));
    els.validation.appendChild(body);
  }

  async function validate() {
    const seq = ++state.validateSeq;
    const local = localProblems();
    if (local.length) {
      showValidation(state.tasks.length ? "error" : "pending", state.tasks.length ? "Not valid yet" : "Add tasks to start.", state.tasks.length ? local : []);
      return false;
    }
    showValidation("pending", "Checking with the server…");
    try {
      await api.validate(G.toTaskArray(state.tasks));
      if (seq !== state.validateSeq) return null;
      showValidation("ok", `Valid: ${state.tasks.length} task${state.tasks.length === 1 ? "" : "s"}, ready to save.`);
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
  const scheduleValidate = ui.debounce(validate, 450);

  async function save() {
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

  // ---- import / export ----------------------------------------------------------------------
  async function loadArray(array, label) {
    const { tasks, errors } = G.fromTaskArray(array);
    if (errors.length) {
      ui.infoDialog("This JSON cannot be imported", h("div", h("p", "Fix these and try again:"), h("ul", errors.slice(0, 20).map((e) => h("li", e)))));
      return false;
    }
    command(() => {
      state.tasks = tasks;
      state.pos = {};
      state.selected = null;
    });
    sync(true);
    await layout();
    if (label) banner(label, "info");
    return true;
  }

  function openImport() {
    const ta = h("textarea", { rows: 12, spellcheck: false, placeholder: '[{"id": "a", "name": "my-tree", "executor": "echo"}, ...]', id: "import-text", "aria-label": "Task array JSON" });
    const file = h("input", { type: "file", accept: "application/json,.json", "aria-label": "JSON file" });
    file.addEventListener("change", async () => {
      if (file.files[0]) ta.value = await file.files[0].text();
    });
    const go = h("button.btn.primary", { type: "button" }, "Import");
    const dlg = ui.infoDialog(
      "Import a tree",
      h("div", h("p.small.muted", "Paste the task array that the API's create call takes (or pick a .json file). It replaces the canvas; Undo brings the old one back."), file, h("div", { style: "height:8px" }), ta),
      [go]
    );
    go.addEventListener("click", async () => {
      let parsed;
      try {
        parsed = JSON.parse(ta.value);
      } catch (e) {
        ta.setAttribute("aria-invalid", "true");
        ui.toast(`Not valid JSON: ${e.message}`, "error");
        return;
      }
      dlg.close();
      await loadArray(parsed, "Imported.");
    });
  }

  function openExport() {
    const text = JSON.stringify(G.toTaskArray(state.tasks), null, 2);
    const dl = h("button.btn", { type: "button" }, "Download .json");
    const copy = h("button.btn", { type: "button" }, "Copy");
    dl.addEventListener("click", () => ui.download(`${(rootTask() || { name: "tree" }).name}.json`, text));
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        ui.toast("Copied to the clipboard.", "ok");
      } catch (e) {
        ui.toast("The clipboard is not available here; select the text instead.", "error");
      }
    });
    ui.infoDialog("Export (tasks.create array)", h("div", h("textarea", { rows: 16, readonly: true, id: "export-text", spellcheck: false, "aria-label": "Exported JSON" }, text)), [dl, copy]);
  }

  function openHelp() {
    const rows = [
      ["N", "New task beside the selected one (under the same parent; under the root when the root or nothing is selected)"],
      ["Delete / Backspace", "Delete the selected task or edge"],
      ["Ctrl+Z", "Undo"],
      ["Ctrl+Shift+Z / Ctrl+Y", "Redo"],
      ["L", "Automatic layout"],
      ["F", "Fit the tree to the screen"],
      ["E", "Next edge kind: requires → optional → parent"],
      ["R", "Toggle required/optional on the selected dependency"],
      ["Ctrl+S", "Save"],
      ["Esc", "Clear the selection"],
      ["?", "This help"],
    ];
    ui.infoDialog("Keyboard shortcuts", h("div.help-grid", rows.map(([k, v]) => [h("div", k.split(" / ").map((x, i) => [i ? " / " : "", x.split("+").map((y, j) => [j ? "+" : "", h("kbd", y)])])), h("div", v)])));
  }

  function setEdgeKind(kind) {
    state.edgeKind = kind;
    for (const b of document.querySelectorAll("[data-edge-kind]")) b.setAttribute("aria-pressed", String(b.dataset.edgeKind === kind));
  }

  // ---- startup ----------------------------------------------------------------------------------
  function bindToolbar() {
    // Enter or Esc in a one-line inspector field commits it and hands the keys back to the canvas
    els.inspector.addEventListener("keydown", (ev) => {
      const t = ev.target;
      if (t.tagName === "INPUT" && (t.type === "text" || t.type === "number") && (ev.key === "Enter" || ev.key === "Escape")) {
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
    for (const b of document.querySelectorAll("[data-edge-kind]")) b.addEventListener("click", () => setEdgeKind(b.dataset.edgeKind));
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
        banner(`Dragging now draws: ${state.edgeKind === "parent" ? "a parent → child link" : `an ${state.edgeKind === "optional" ? "optional" : "required"} dependency`}`, "info");
      } else if ((ev.key === "r" || ev.key === "R") && state.selected && state.selected.type === "edge" && state.selected.id.startsWith("d:")) {
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

  async function loadExecutors() {
    try {
      state.executors = api.results(await api.executors());
    } catch (e) {
      state.executors = [];
      ui.toast(`Executors could not be loaded: ${ui.errorMessage(e)}`, "error");
    }
    state.executorsById = Object.fromEntries(state.executors.map((x) => [x.id, x]));
  }

  async function loadCopy() {
    const body = { mode: config.copy_mode || "full", save: false };
    const data = config.task ? await api.taskAction(config.task, "copy", body) : await api.treeAction(config.tree, "copy", body);
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
  async function loadEdit() {
    const data = await api.tree(config.tree);
    const ok = await loadArray(data.tasks || [], `Editing “${data.name}” in place: saving changes this tree (it has not run yet).`);
    if (ok) {
      undo.past = [];
      state.dirty = false;
      sync();
    }
  }

  async function init() {
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
    root.arborEditor.ready = true;
    root.arborEditor.select = (id) => {
      state.selected = id ? { type: "node", id } : null;
      sync();
      renderInspector();
    };
    document.body.dataset.ready = "1";
  }

  init();
})(window);
