/* Statuses: every visual state has a label and an icon, never colour alone. */
// ---------------------------------------------------------------------------------------
// Statuses: every visual state has a label and an icon, never colour alone.
// ---------------------------------------------------------------------------------------
export const STATES = {
  pending: { label: "Pending", icon: "○" },
  waiting: { label: "Waiting for resource", icon: "◔" },
  retrying: { label: "Retry scheduled", icon: "↻" },
  in_progress: { label: "Running", icon: "▶" },
  completed: { label: "Completed", icon: "✓" },
  failed: { label: "Failed", icon: "✕" },
  cancelled: { label: "Cancelled", icon: "⊘" },
  blocked: { label: "Blocked: upstream failed", icon: "⚠" },
};
export const STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"];
export const UPSTREAM_FAILED = "upstream_failed";
export const UPSTREAM_CANCELLED = "upstream_cancelled";
// a task that never ran because a required upstream task was cancelled by a user: drawn like a
// blocked task, but never called a failure (SEMANTICS "Failure, cancellation, retries")
export const BLOCKED_CANCELLED = { label: "Blocked: upstream cancelled", icon: "⊘" };

/** The visual state of a task: its status, refined by why a pending task waits or a
 * cancelled one never ran. */
export function visualState(task) {
  const status = task && task.status ? task.status : "pending";
  if (status === "pending") {
    if (task.waiting_reason) return "waiting";
    if ((task.attempt_count || 0) > 0 && task.error) return "retrying";
    return "pending";
  }
  if (
    status === "cancelled" &&
    (task.error_type === UPSTREAM_FAILED || task.error_type === UPSTREAM_CANCELLED)
  )
    return "blocked";
  return STATES[status] ? status : "pending";
}

/** Label and icon of a visual state; given the task, a task blocked by a cancel says so. */
export function stateInfo(key, task) {
  if (key === "blocked" && task && task.error_type === UPSTREAM_CANCELLED) return BLOCKED_CANCELLED;
  return STATES[key] || STATES.pending;
}

/** A tree's (or run's) status as words: "Completed · 1 failure handled" when an optional
 * dependency handled failures (they did not fail the run). */
export function treeStatusLabel(tree) {
  const label = stateInfo(tree && tree.status ? tree.status : "pending").label;
  const n = (tree && tree.handled_failures) || 0;
  return n ? `${label} · ${n} failure${n === 1 ? "" : "s"} handled` : label;
}
