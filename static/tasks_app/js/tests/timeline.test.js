// Unit tests of the run timeline's pure helpers and the status labels: `node --test static/tasks_app/js/tests/`
import test from "node:test";
import assert from "node:assert/strict";
import * as T from "../timeline-scale.js";
import * as G from "../graph.js";

test("ticks fall on round steps relative to the run's start, with readable labels", () => {
  const origin = 1_000_000;
  const ticks = T.niceTicks(origin, origin + 10_000, origin, 6);
  assert.deepEqual(
    ticks.map((x) => x.label),
    ["0", "+2 s", "+4 s", "+6 s", "+8 s", "+10 s"],
  );
  const fine = T.niceTicks(origin + 100, origin + 400, origin, 4);
  assert.deepEqual(
    fine.map((x) => x.label),
    ["+100 ms", "+200 ms", "+300 ms", "+400 ms"],
  );
  assert.equal(T.tickLabel(90 * 60e3, 60e3), "+1 h 30 min");
  assert.equal(T.tickLabel(150e3, 30e3), "+2 min 30 s");
});

test("two runs compare per task; a task missing from one run has no change", () => {
  const a = [
    {
      task_name: "x",
      started_at: "2026-01-01T00:00:00Z",
      finished_at: "2026-01-01T00:00:02Z",
      outcome: "failed",
    },
    {
      task_name: "x",
      started_at: "2026-01-01T00:00:03Z",
      finished_at: "2026-01-01T00:00:04Z",
      outcome: "completed",
    },
    {
      task_name: "y",
      started_at: "2026-01-01T00:00:00Z",
      finished_at: "2026-01-01T00:00:01Z",
      outcome: "completed",
    },
  ];
  const b = [
    {
      task_name: "x",
      started_at: "2026-01-02T00:00:00Z",
      finished_at: "2026-01-02T00:00:01.5Z",
      outcome: "completed",
    },
  ];
  assert.deepEqual(T.compareRuns(a, b), [
    { task: "x", a: 3, b: 1.5, delta: -1.5 },
    { task: "y", a: 1, b: null, delta: null },
  ]);
});

test("a handled failure reads as a completed run, a cancel-blocked task as upstream cancelled", () => {
  assert.equal(
    G.treeStatusLabel({ status: "completed", handled_failures: 1 }),
    "Completed · 1 failure handled",
  );
  assert.equal(
    G.treeStatusLabel({ status: "completed", handled_failures: 2 }),
    "Completed · 2 failures handled",
  );
  assert.equal(G.treeStatusLabel({ status: "cancelled" }), "Cancelled");
  const blocked = { status: "cancelled", error_type: "upstream_cancelled" };
  assert.equal(G.visualState(blocked), "blocked");
  assert.equal(G.stateInfo("blocked", blocked).label, "Blocked: upstream cancelled");
  assert.equal(
    G.stateInfo("blocked", { status: "cancelled", error_type: "upstream_failed" }).label,
    "Blocked: upstream failed",
  );
});
