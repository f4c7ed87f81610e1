/* The inspector's form fields: labelled inputs, committing a field as one undoable command, and an executor's inputs (form or raw JSON). */
import * as G from "../graph.js";
import { h } from "../ui.js";
import { byId, command, state, view } from "./state.js";

// ---- inspector ----------------------------------------------------------------------------
export function field(label, input, hint, id) {
  if (id) input.id = id;
  return h(
    "div.field",
    h("label", { for: input.id || null }, label),
    input,
    hint ? h("div.hint", hint) : null,
  );
}

export function numberInput(value, attrs) {
  return h(
    "input",
    Object.assign({ type: "number", value: value == null ? "" : String(value) }, attrs || {}),
  );
}

/** Commit a field on change: parse, validate, then one undoable command. */
export function bindCommit(input, task, apply, errorEl) {
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

export function optionalNumber(label, min, integer) {
  return (raw) => {
    const text = String(raw).trim();
    if (text === "") return { commit: (t) => void (t[label] = null) };
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      return {
        error: `${label.replace("_", " ")} must be ${integer ? "a whole number" : "a number"} ≥ ${min}`,
      };
    }
    return { commit: (t) => void (t[label] = n) };
  };
}

export function renderInputs(task, container) {
  const ex = state.executorsById[task.executor];
  const fields = G.schemaFields(ex && ex.input_schema);
  const raw = state.jsonInputs.has(task.id) || !fields.length;
  const head = h("div.row", h("h3", { style: "margin:0" }, "Inputs"), h("span.grow"));
  if (fields.length) {
    const toggle = h("button.btn.small", { type: "button" }, raw ? "Use form" : "Edit as JSON");
    toggle.addEventListener("click", () => {
      if (raw) state.jsonInputs.delete(task.id);
      else state.jsonInputs.add(task.id);
      view.renderInspector();
    });
    head.appendChild(toggle);
  }
  container.appendChild(head);
  if (ex && ex.description)
    container.appendChild(h("p.muted.small", { style: "margin:4px 0 8px" }, ex.description));
  if (raw) {
    const err = h("div.error");
    const ta = h(
      "textarea",
      { id: "f-inputs", rows: 5, spellcheck: false },
      JSON.stringify(task.inputs || {}, null, 2),
    );
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
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
          return { error: "inputs must be a JSON object" };
        return { commit: (t) => void (t.inputs = parsed) };
      },
      err,
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
      input = h("input", {
        type: "checkbox",
        id,
        checked: cur === undefined ? Boolean(f.default) : Boolean(cur),
      });
    } else if (f.type === "enum") {
      input = h(
        "select",
        { id },
        h("option", { value: "" }, "—"),
        f.enum.map((v) => h("option", { value: String(v), selected: String(cur) === String(v) }, String(v))),
      );
    } else if (f.type === "json") {
      input = h(
        "textarea",
        {
          id,
          rows: 2,
          spellcheck: false,
          placeholder: f.default !== undefined ? JSON.stringify(f.default) : "JSON or text",
        },
        cur === undefined ? "" : typeof cur === "string" ? cur : JSON.stringify(cur),
      );
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
      err,
    );
    const label =
      f.type === "boolean"
        ? h("label.check", { for: id }, input, ` ${f.title}`)
        : h("label", { for: id }, f.title, f.required ? " *" : "");
    container.appendChild(
      h(
        "div.field",
        label,
        f.type === "boolean" ? null : input,
        f.description ? h("div.hint", f.description) : null,
        err,
      ),
    );
  }
}
