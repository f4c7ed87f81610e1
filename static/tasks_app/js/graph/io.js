/* The tasks.create array format to editor nodes and back. */
import { asList, depsOf } from "./structure.js";

// ---------------------------------------------------------------------------------------
// The tasks.create array format <-> editor nodes
// ---------------------------------------------------------------------------------------
export const OPTIONAL_FIELDS = [
  "priority",
  "inputs",
  "params",
  "resources",
  "timeout",
  "max_retries",
  "retry_delay",
  "tags",
  "metadata",
  "schemas",
  "description",
];

export function isEmpty(value) {
  if (value == null || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

/** Editor nodes -> the array POST /api/v1/trees/ and /api/v1/validate/ accept. */
export function toTaskArray(tasks) {
  return asList(tasks).map((t) => {
    const out = { id: String(t.id), name: t.name, executor: t.executor };
    if (t.parent != null) out.parent_id = String(t.parent);
    const deps = depsOf(t);
    if (deps.length)
      out.dependencies = deps.map((d) => ({ id: String(d.id), required: d.required !== false }));
    for (const key of OPTIONAL_FIELDS) {
      if (!isEmpty(t[key])) out[key] = t[key];
    }
    return out;
  });
}

/** The create array (or {tasks: [...]}) -> {tasks: editor nodes, errors: [messages]}. */
export function fromTaskArray(input) {
  const errors = [];
  let array = input;
  if (array && !Array.isArray(array) && Array.isArray(array.tasks)) array = array.tasks;
  if (!Array.isArray(array))
    return { tasks: [], errors: ['expected a JSON array of tasks (or {"tasks": [...]})'] };
  const tasks = [];
  const seen = new Set();
  array.forEach((raw, i) => {
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      errors.push(`task #${i + 1} is not an object`);
      return;
    }
    const id = raw.id != null ? String(raw.id) : `t${i + 1}`;
    if (seen.has(id)) errors.push(`duplicate task id "${id}"`);
    seen.add(id);
    const node = {
      id,
      name: raw.name != null ? String(raw.name) : id,
      executor:
        raw.executor || (raw.params && raw.params.executor_id) || (raw.schemas && raw.schemas.method) || "",
      parent: raw.parent_id != null ? String(raw.parent_id) : raw.parent != null ? String(raw.parent) : null,
      deps: (raw.dependencies || []).map((d) =>
        typeof d === "string"
          ? { id: d, required: true }
          : { id: String(d.id), required: d.required !== false },
      ),
    };
    for (const key of OPTIONAL_FIELDS) {
      if (raw[key] !== undefined && raw[key] !== null) node[key] = raw[key];
    }
    tasks.push(node);
  });
  for (const t of tasks) {
    if (t.parent != null && !seen.has(t.parent)) errors.push(`"${t.name}": unknown parent_id "${t.parent}"`);
    for (const d of t.deps) {
      if (!seen.has(d.id)) errors.push(`"${t.name}": unknown dependency "${d.id}"`);
    }
  }
  return { tasks, errors };
}

/** Task representations of the REST API -> graph nodes (keeps every other field). */
export function fromApiTasks(apiTasks) {
  return (apiTasks || []).map((t) => {
    const node = Object.assign({}, t);
    node.id = String(t.id);
    node.parent = t.parent != null ? String(t.parent) : null;
    node.deps = (t.dependencies || []).map((d) => ({ id: String(d.id), required: d.required !== false }));
    return node;
  });
}

export function nextId(tasks) {
  const ids = new Set(asList(tasks).map((t) => String(t.id)));
  let n = ids.size + 1;
  while (ids.has(`t${n}`)) n += 1;
  return `t${n}`;
}

export function uniqueName(tasks, base) {
  const names = new Set(asList(tasks).map((t) => t.name));
  if (!names.has(base)) return base;
  let n = 2;
  while (names.has(`${base}-${n}`)) n += 1;
  return `${base}-${n}`;
}
