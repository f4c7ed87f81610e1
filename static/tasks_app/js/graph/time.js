/* Time helpers for the Gantt chart and the throughput chart. */
// ---------------------------------------------------------------------------------------
// Time helpers for the Gantt chart and the throughput chart
// ---------------------------------------------------------------------------------------
export function toMs(value) {
  if (value == null) return null;
  const t = typeof value === "number" ? value : Date.parse(value);
  return Number.isFinite(t) ? t : null;
}

/** Attempts -> Gantt rows sorted by start: {id, task, label, start, end, outcome, running}. */
export function ganttRows(attempts, namesById, now) {
  const rows = [];
  for (const a of attempts || []) {
    const start = toMs(a.started_at);
    if (start == null) continue;
    const end = toMs(a.finished_at);
    const taskId = String(a.task || a.task_id || "");
    rows.push({
      id: String(a.id),
      task: taskId,
      label: `${(namesById && namesById[taskId]) || taskId} #${a.number || 1}`,
      start,
      end: end == null ? now : end,
      outcome: a.outcome || (end == null ? "running" : "completed"),
      running: end == null,
    });
  }
  rows.sort((a, b) => a.start - b.start || a.label.localeCompare(b.label));
  return rows;
}

/** Count timestamps into `count` buckets of `bucketMs` ending at `now` (oldest first). */
export function bucketTimes(timestamps, bucketMs, now, count) {
  const buckets = new Array(count).fill(0);
  const start = now - bucketMs * count;
  for (const ts of timestamps) {
    const t = toMs(ts);
    if (t == null || t < start || t > now) continue;
    const i = Math.min(count - 1, Math.floor((t - start) / bucketMs));
    buckets[i] += 1;
  }
  return buckets;
}

export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
