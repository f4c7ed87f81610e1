/* The run timeline's pure helpers (time ticks, per-task durations, comparing two runs): no DOM, tested under node. */

const STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5,
  72e5, 216e5, 432e5, 864e5,
];

/** Ticks for a window of ``span`` ms: about ``max`` of them, on round steps (ms). */
export function niceTicks(v0, v1, origin, max) {
  const span = Math.max(1, v1 - v0);
  const step = STEPS.find((s) => span / s <= (max || 8)) || STEPS[STEPS.length - 1];
  const out = [];
  const first = Math.ceil((v0 - origin) / step) * step;
  for (let rel = first; origin + rel <= v1 && out.length < 50; rel += step)
    out.push({ t: origin + rel, label: tickLabel(rel, step) });
  return out;
}

/** "+0", "+250 ms", "+1.5 s", "+2 min", "+1 h 30 min": time since the run started. */
export function tickLabel(ms, step) {
  if (ms === 0) return "0";
  const sign = ms < 0 ? "−" : "+";
  const a = Math.abs(ms);
  if (step < 1000)
    return a < 1000
      ? `${sign}${a} ms`
      : `${sign}${(a / 1000).toFixed(step < 100 ? 2 : 1).replace(/\.?0+$/, "")} s`;
  if (a < 60e3) return `${sign}${Math.round(a / 1000)} s`;
  if (a < 36e5) {
    const m = Math.floor(a / 60e3);
    const s = Math.round((a % 60e3) / 1000);
    return s ? `${sign}${m} min ${s} s` : `${sign}${m} min`;
  }
  const hrs = Math.floor(a / 36e5);
  const m = Math.round((a % 36e5) / 60e3);
  return m ? `${sign}${hrs} h ${m} min` : `${sign}${hrs} h`;
}

/** Per task: seconds spent in the attempts of one run, and how many there were. */
export function taskDurations(attempts, now) {
  const out = new Map();
  for (const a of attempts || []) {
    const key = a.task_name || a.task;
    const start = Date.parse(a.started_at);
    const end = a.finished_at ? Date.parse(a.finished_at) : now || Date.now();
    const cur = out.get(key) || { seconds: 0, attempts: 0, outcome: null };
    cur.seconds += Math.max(0, end - start) / 1000;
    cur.attempts += 1;
    cur.outcome = a.outcome;
    out.set(key, cur);
  }
  return out;
}

/** Rows comparing two runs per task: {task, a, b, delta} (seconds or null), by task name. */
export function compareRuns(attemptsA, attemptsB, now) {
  const a = taskDurations(attemptsA, now);
  const b = taskDurations(attemptsB, now);
  const names = Array.from(new Set([...a.keys(), ...b.keys()])).sort();
  return names.map((task) => {
    const x = a.has(task) ? a.get(task).seconds : null;
    const y = b.has(task) ? b.get(task).seconds : null;
    return { task, a: x, b: y, delta: x != null && y != null ? y - x : null };
  });
}
