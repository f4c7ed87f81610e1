/*
 * Arbor graph helpers: pure functions over plain task objects, no DOM, no Cytoscape.
 *
 * One ES module (this index and its parts under graph/), imported by the page modules, by the
 * layout Web Worker (a module worker) and by `node --test`.
 *
 * Task shape used throughout ("node"): {id, name, parent: id|null, deps: [{id, required}], ...}.
 * A dependency edge points from the upstream task to the task that needs it (execution flow).
 */
export {
  STATES,
  STATUSES,
  UPSTREAM_FAILED,
  UPSTREAM_CANCELLED,
  visualState,
  stateInfo,
  treeStatusLabel,
} from "./graph/states.js";
export {
  buildIndex,
  upstreamOf,
  downstreamOf,
  descendantsOf,
  checkDependency,
  checkParent,
  roots,
} from "./graph/structure.js";
export { toTaskArray, fromTaskArray, fromApiTasks, nextId, uniqueName } from "./graph/io.js";
export { layeredLayout, structureKey } from "./graph/layout.js";
export { EventSequencer, taskPatch } from "./graph/live.js";
export { schemaFields, coerceField, UndoStack } from "./graph/forms.js";
export { ganttRows, bucketTimes, formatDuration } from "./graph/time.js";
