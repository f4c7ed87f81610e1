/* Live events: per-tree sequence numbers applied in order exactly once; event to task patch. */
// ---------------------------------------------------------------------------------------
// Live events: per-tree sequence numbers, applied in order exactly once.
// ---------------------------------------------------------------------------------------
export class EventSequencer {
  constructor(seq) {
    this.seq = seq || 0;
    this.buffer = new Map();
  }
  /** Reset to a snapshot's sequence number; buffered events at or below it are dropped. */
  reset(seq) {
    this.seq = seq || 0;
    for (const s of Array.from(this.buffer.keys())) if (s <= this.seq) this.buffer.delete(s);
  }
  /** Offer events (any order, duplicates allowed); returns the ones now ready, in order. */
  push(events) {
    for (const ev of [].concat(events || [])) {
      if (ev && typeof ev.seq === "number" && ev.seq > this.seq) this.buffer.set(ev.seq, ev);
    }
    const ready = [];
    while (this.buffer.has(this.seq + 1)) {
      this.seq += 1;
      ready.push(this.buffer.get(this.seq));
      this.buffer.delete(this.seq);
    }
    return ready;
  }
  /** True while a later event waits for a missing one (the caller should catch up over REST). */
  hasGap() {
    return this.buffer.size > 0;
  }
}

/** What an event changes on a task: {id, patch} or null (tree-level or unknown events). */
export function taskPatch(ev) {
  if (!ev || !ev.task) return null;
  const data = ev.data || {};
  const patch = {};
  if (ev.kind === "task.status") {
    patch.status = data.status;
    for (const key of ["error", "error_type", "waiting_reason", "progress", "progress_message", "result"]) {
      if (key in data) patch[key] = data[key];
    }
    if (data.status === "pending" && !("waiting_reason" in data)) patch.waiting_reason = "";
    if ("attempt" in data && typeof data.attempt === "number") patch.attempt_count = data.attempt;
    if (data.status === "completed") patch.progress = 1;
    if (data.status === "pending" && !("error" in data)) patch.error = null;
    if (data.status !== "cancelled" && !("error_type" in data)) patch.error_type = null;
  } else if (ev.kind === "task.progress") {
    if ("progress" in data) patch.progress = data.progress;
    if ("message" in data) patch.progress_message = data.message;
  } else if (ev.kind === "task.waiting") {
    patch.waiting_reason = data.reason || data.waiting_reason || "";
  } else if (ev.kind === "task.ready") {
    patch.waiting_reason = "";
  } else {
    return null;
  }
  return { id: String(ev.task), patch };
}
