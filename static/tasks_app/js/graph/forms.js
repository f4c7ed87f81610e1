/* Executor input schemas as form fields, and the editor's undo stack. */
// ---------------------------------------------------------------------------------------
// Executor input_schema -> form fields
// ---------------------------------------------------------------------------------------
export function schemaFields(schema) {
  if (!schema || typeof schema !== "object" || !schema.properties) return [];
  const required = new Set(schema.required || []);
  return Object.keys(schema.properties).map((name) => {
    const prop = schema.properties[name] || {};
    let type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
    if (Array.isArray(prop.enum)) type = "enum";
    else if (!["number", "integer", "boolean", "string"].includes(type)) type = "json";
    return {
      name,
      type,
      title: prop.title || name,
      description: prop.description || "",
      default: prop.default,
      enum: prop.enum || null,
      minimum: prop.minimum,
      maximum: prop.maximum,
      required: required.has(name),
    };
  });
}

/** Parse one form value for a schema field: {value} (undefined = leave unset) or {error}. */
export function coerceField(field, raw) {
  if (field.type === "boolean") return { value: Boolean(raw) };
  const text = raw == null ? "" : String(raw).trim();
  if (text === "") {
    return field.required ? { error: `${field.title} is required` } : { value: undefined };
  }
  if (field.type === "number" || field.type === "integer") {
    const n = Number(text);
    if (!Number.isFinite(n)) return { error: `${field.title} must be a number` };
    if (field.type === "integer" && !Number.isInteger(n))
      return { error: `${field.title} must be a whole number` };
    if (field.minimum != null && n < field.minimum)
      return { error: `${field.title} must be ≥ ${field.minimum}` };
    if (field.maximum != null && n > field.maximum)
      return { error: `${field.title} must be ≤ ${field.maximum}` };
    return { value: n };
  }
  if (field.type === "enum") {
    const match = field.enum.find((v) => String(v) === text);
    return match === undefined
      ? { error: `${field.title} must be one of ${field.enum.join(", ")}` }
      : { value: match };
  }
  if (field.type === "json") {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      return { value: text }; // a bare string is a fine JSON value for an untyped field
    }
  }
  return { value: text };
}

// ---------------------------------------------------------------------------------------
// Undo / redo: a stack of snapshots (editor models are small; snapshots are simple and exact).
// ---------------------------------------------------------------------------------------
export class UndoStack {
  constructor(limit) {
    this.limit = limit || 200;
    this.past = [];
    this.future = [];
  }
  /** Remember the state before a change (and forget anything undone). */
  record(before) {
    this.past.push(before);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }
  undo(current) {
    if (!this.past.length) return null;
    this.future.push(current);
    return this.past.pop();
  }
  redo(current) {
    if (!this.future.length) return null;
    this.past.push(current);
    return this.future.pop();
  }
  get canUndo() {
    return this.past.length > 0;
  }
  get canRedo() {
    return this.future.length > 0;
  }
}
