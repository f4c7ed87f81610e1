/* The editor's inspector: the task outline, the selected task's fields, the selected edge. */
import * as G from "../graph.js";
import * as cygraph from "../cygraph.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { toggleRequired } from "./canvas.js";
import { addDependency, addTask, removeEdge, removeSelected, setParent } from "./commands.js";
import { PRIORITIES, byId, command, els, rootTask, state } from "./state.js";
import { field, numberInput, bindCommit, optionalNumber, renderInputs } from "./fields.js";

export function renderTree() {
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
            h(
              "dd",
              roots.length === 1
                ? "1 (good)"
                : `${roots.length}: a tree needs exactly one task without a parent`,
            ),
          )
        : h("p.muted", "An empty tree. Add the first task: it becomes the root and names the tree."),
      h(
        "div.action-row",
        h("button.btn.primary", { type: "button", on: { click: () => addTask() } }, "+ Add task"),
      ),
    ),
  );
  box.appendChild(
    h(
      "div.section",
      h("h3", "How to"),
      h(
        "ul.small",
        { style: "padding-left:18px;margin:0" },
        h("li", "Click a task to edit it; double-click the canvas to add one."),
        h(
          "li",
          "Hover a task and drag its blue handle onto another task. The toolbar chooses what the drag draws: a required dependency, an optional one, or a parent → child link.",
        ),
        h(
          "li",
          "A dependency arrow points from the task that runs first to the task that needs it. Cycles are refused.",
        ),
        h("li", "The parent is only organisation (it never changes the order tasks run in)."),
        h("li", h("kbd", "?"), " lists the keyboard shortcuts."),
      ),
    ),
  );
  return box;
}

export function renderTask(task) {
  const box = h("div");
  const sec = h("div.section");
  sec.appendChild(
    h(
      "div.row",
      h("h2", { style: "margin:0" }, "Task"),
      h("span.grow"),
      task.parent == null
        ? h("span.badge", { dataset: { state: "pending" } }, "root · names the tree")
        : null,
    ),
  );
  // name
  const nameErr = h("div.error");
  const name = h("input", {
    type: "text",
    id: "f-name",
    value: task.name,
    maxlength: 200,
    autocomplete: "off",
  });
  bindCommit(
    name,
    task,
    (value) => {
      const v = value.trim();
      if (!v) return { error: "a name is required" };
      if (state.tasks.some((t) => t.id !== task.id && t.name === v))
        return { error: `another task is already called "${v}"` };
      return { commit: (t) => void (t.name = v) };
    },
    nameErr,
  );
  sec.appendChild(h("div.field", h("label", { for: "f-name" }, "Name"), name, nameErr));
  // executor
  let exInput;
  if (state.executors.length) {
    exInput = h(
      "select",
      { id: "f-executor" },
      state.executors.map((ex) =>
        h(
          "option",
          { value: ex.id, selected: ex.id === task.executor },
          ex.name && ex.name !== ex.id ? `${ex.name} (${ex.id})` : ex.id,
        ),
      ),
    );
    if (!state.executorsById[task.executor])
      exInput.prepend(
        h(
          "option",
          { value: task.executor, selected: true },
          `${task.executor || "—"} (not available to you)`,
        ),
      );
  } else {
    exInput = h("input", {
      type: "text",
      id: "f-executor",
      value: task.executor || "",
      placeholder: "executor id",
    });
  }
  bindCommit(exInput, task, (value) => ({ commit: (t) => void (t.executor = value), rerender: true }));
  sec.appendChild(
    field(
      "Executor",
      exInput,
      state.executors.length ? null : "The executor list could not be loaded; type an id.",
    ),
  );
  box.appendChild(sec);

  const inputs = h("div.section");
  renderInputs(task, inputs);
  box.appendChild(inputs);

  // execution settings
  const ex = h("div.section", h("h3", { style: "margin-top:0" }, "Execution"));
  const prio = h(
    "select",
    { id: "f-priority" },
    PRIORITIES.map(([v, l]) =>
      h("option", { value: String(v), selected: (task.priority == null ? 2 : task.priority) === v }, l),
    ),
  );
  bindCommit(prio, task, (value) => ({ commit: (t) => void (t.priority = Number(value)) }));
  const timeoutErr = h("div.error");
  const timeout = numberInput(task.timeout, {
    id: "f-timeout",
    min: "0",
    step: "any",
    placeholder: "default",
  });
  bindCommit(timeout, task, optionalNumber("timeout", 0.001), timeoutErr);
  const retriesErr = h("div.error");
  const retries = numberInput(task.max_retries, {
    id: "f-retries",
    min: "0",
    step: "1",
    placeholder: "default",
  });
  bindCommit(retries, task, optionalNumber("max_retries", 0, true), retriesErr);
  const delayErr = h("div.error");
  const delay = numberInput(task.retry_delay, {
    id: "f-delay",
    min: "0",
    step: "any",
    placeholder: "default",
  });
  bindCommit(delay, task, optionalNumber("retry_delay", 0), delayErr);
  ex.appendChild(
    h(
      "div.field-row",
      h("div.field", h("label", { for: "f-priority" }, "Priority"), prio, h("div.hint", "Lower runs first")),
      h("div.field", h("label", { for: "f-timeout" }, "Timeout (s)"), timeout, timeoutErr),
    ),
  );
  ex.appendChild(
    h(
      "div.field-row",
      h("div.field", h("label", { for: "f-retries" }, "Max retries"), retries, retriesErr),
      h("div.field", h("label", { for: "f-delay" }, "Retry delay (s)"), delay, delayErr),
    ),
  );
  const resErr = h("div.error");
  const res = h(
    "textarea",
    {
      id: "f-resources",
      rows: 2,
      spellcheck: false,
      placeholder: '[{"type": "db", "identifier": "main", "mode": "write"}]',
    },
    task.resources && task.resources.length ? JSON.stringify(task.resources) : "",
  );
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
      if (
        !Array.isArray(parsed) ||
        !parsed.every((r) => r && typeof r === "object" && r.type && r.identifier)
      ) {
        return { error: 'a list of {"type", "identifier", "mode": "read"|"write"|"exclusive"}' };
      }
      return { commit: (t) => void (t.resources = parsed) };
    },
    resErr,
  );
  ex.appendChild(
    h(
      "div.field",
      h("label", { for: "f-resources" }, "Resources"),
      res,
      h("div.hint", "Locks taken for the whole attempt: read is shared, write and exclusive are not."),
      resErr,
    ),
  );
  const tags = h("input", {
    type: "text",
    id: "f-tags",
    value: (task.tags || []).join(", "),
    placeholder: "comma, separated",
  });
  bindCommit(tags, task, (value) => {
    const list = value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
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
    state.tasks
      .filter((t) => t.id !== task.id)
      .map((t) =>
        h(
          "option",
          { value: t.id, selected: t.id === task.parent, disabled: descendants.has(t.id) },
          descendants.has(t.id) ? `${t.name} (inside this task's subtree)` : t.name,
        ),
      ),
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
  if (!task.deps.length)
    depList.appendChild(h("li.muted.small", "Nothing: this task can start as soon as the run starts."));
  for (const d of task.deps) {
    const up = byId(d.id);
    const req = h("input", {
      type: "checkbox",
      checked: d.required !== false,
      "aria-label": `${up ? up.name : d.id} is required`,
    });
    req.addEventListener("change", () => toggleRequired(cygraph.depEdgeId(d.id, task.id)));
    const rm = h(
      "button.btn.small",
      { type: "button", "aria-label": `Remove dependency on ${up ? up.name : d.id}` },
      "✕",
    );
    rm.addEventListener("click", () => removeEdge(cygraph.depEdgeId(d.id, task.id)));
    depList.appendChild(
      h(
        "li.row",
        { style: "padding:3px 0" },
        h("span.grow", up ? up.name : d.id),
        h("label.check", req, " required"),
        rm,
      ),
    );
  }
  st.appendChild(depList);
  const addDep = h(
    "select",
    { id: "f-add-dep", "aria-label": "Add a dependency" },
    h("option", { value: "" }, "+ add a dependency…"),
    state.tasks
      .filter((t) => t.id !== task.id && !task.deps.some((d) => d.id === t.id))
      .map((t) => h("option", { value: t.id }, t.name)),
  );
  addDep.addEventListener("change", () => {
    if (addDep.value) addDependency(addDep.value, task.id, state.edgeKind !== "optional");
    renderInspector();
  });
  st.appendChild(addDep);
  box.appendChild(st);

  const del = h(
    "div.section",
    h("button.btn.danger", { type: "button", on: { click: removeSelected } }, "Delete task"),
    h("span.muted.small", " or press ", h("kbd", "Delete")),
  );
  box.appendChild(del);
  return box;
}

export function renderEdge(edgeId) {
  const m = /^([dp]):(.*)>(.*)$/.exec(edgeId);
  const box = h("div.section");
  if (!m) return box;
  const a = byId(m[2]);
  const b = byId(m[3]);
  if (!a || !b) return box;
  if (m[1] === "d") {
    const dep = b.deps.find((d) => d.id === a.id);
    box.appendChild(h("h2", "Dependency"));
    box.appendChild(
      h(
        "p",
        h("strong", b.name),
        " depends on ",
        h("strong", a.name),
        ": it starts only after ",
        a.name,
        dep.required ? " has completed." : " has finished, whatever its outcome.",
      ),
    );
    const req = h("input", { type: "checkbox", id: "f-required", checked: dep.required });
    req.addEventListener("change", () => toggleRequired(edgeId));
    box.appendChild(
      h(
        "label.check",
        { for: "f-required" },
        req,
        " Required (solid line). Optional dependencies (dashed) do not block when they fail.",
      ),
    );
    box.appendChild(h("p.muted.small", "Double-click an edge to toggle it."));
  } else {
    box.appendChild(h("h2", "Parent link"));
    box.appendChild(
      h(
        "p",
        h("strong", a.name),
        " is the organisational parent of ",
        h("strong", b.name),
        ". This groups tasks; it does not change the order they run in.",
      ),
    );
  }
  box.appendChild(
    h(
      "div.action-row",
      h(
        "button.btn.danger",
        { type: "button", on: { click: () => removeEdge(edgeId) } },
        m[1] === "d" ? "Remove dependency" : "Remove parent link",
      ),
    ),
  );
  return box;
}

export function renderInspector() {
  const sel = state.selected;
  let content;
  if (sel && sel.type === "node" && byId(sel.id)) content = renderTask(byId(sel.id));
  else if (sel && sel.type === "edge") content = renderEdge(sel.id);
  else content = renderTree();
  ui.clear(els.inspector).appendChild(content);
}
