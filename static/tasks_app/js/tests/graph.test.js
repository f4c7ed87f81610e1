// Unit tests of the pure graph helpers: `node --test static/tasks_app/js/tests/`
import test from "node:test";
import assert from "node:assert/strict";
import * as G from "../graph.js";

function t(id, deps = [], parent = null, extra = {}) {
  return Object.assign(
    { id, name: id, parent, deps: deps.map((d) => (typeof d === "string" ? { id: d, required: true } : d)) },
    extra,
  );
}

test("a self-dependency is refused with the task named", () => {
  const tasks = [t("a")];
  assert.match(G.checkDependency(tasks, "a", "a"), /cannot depend on itself \("a"\)/);
});

test("a dependency that closes a cycle is refused with the whole cycle", () => {
  const tasks = [t("a"), t("b", ["a"]), t("c", ["b"])];
  // c -> a would make a depend on c: a -> b -> c -> a
  assert.equal(G.checkDependency(tasks, "c", "a"), "this would create a cycle: c → a → b → c");
});

test("a valid dependency is allowed, a duplicate is refused", () => {
  const tasks = [t("a"), t("b", ["a"]), t("c")];
  assert.equal(G.checkDependency(tasks, "a", "c"), null);
  assert.match(G.checkDependency(tasks, "a", "b"), /already depends/);
});

test("a dependency across trees is refused", () => {
  const tasks = [t("a", [], null, { tree: "T1" }), t("b", [], null, { tree: "T2" })];
  assert.match(G.checkDependency(tasks, "a", "b"), /inside one tree/);
});

test("parent/child does not count as a dependency for cycles", () => {
  // b's parent is a, and a may still depend on b (aggregator roots do this)
  const tasks = [t("a"), t("b", [], "a")];
  assert.equal(G.checkDependency(tasks, "b", "a"), null);
});

test("a parent inside the child's own subtree is refused", () => {
  const tasks = [t("root"), t("x", [], "root"), t("y", [], "x")];
  assert.match(G.checkParent(tasks, "y", "x"), /inside the subtree of "x"/);
  assert.match(G.checkParent(tasks, "x", "x"), /own parent/);
  assert.equal(G.checkParent(tasks, "root", "y"), null);
});

test("upstream, downstream and descendants are transitive", () => {
  const tasks = [t("r"), t("a", [], "r"), t("b", ["a"], "r"), t("c", ["b"], "b"), t("d", [], "r")];
  assert.deepEqual([...G.upstreamOf(tasks, "c")].sort(), ["a", "b"]);
  assert.deepEqual([...G.downstreamOf(tasks, "a")].sort(), ["b", "c"]);
  assert.deepEqual([...G.descendantsOf(tasks, "r")].sort(), ["a", "b", "c", "d"]);
});

test("the create array round-trips", () => {
  const array = [
    {
      id: "root",
      name: "root",
      executor: "aggregate_results",
      dependencies: [
        { id: "x", required: true },
        { id: "y", required: false },
      ],
    },
    { id: "x", name: "x", executor: "echo", parent_id: "root", inputs: { result: 1 }, priority: 1 },
    { id: "y", name: "y", executor: "sleep", parent_id: "root", timeout: 5, max_retries: 2 },
  ];
  const { tasks, errors } = G.fromTaskArray(array);
  assert.deepEqual(errors, []);
  assert.deepEqual(G.toTaskArray(tasks), array);
});

test("import reports unknown references and accepts {tasks: [...]} and string dependencies", () => {
  const { tasks, errors } = G.fromTaskArray({
    tasks: [{ id: "a", name: "a", executor: "noop", dependencies: ["zz"], parent_id: "qq" }],
  });
  assert.equal(tasks.length, 1);
  assert.deepEqual(errors, ['"a": unknown parent_id "qq"', '"a": unknown dependency "zz"']);
  assert.match(G.fromTaskArray("nope").errors[0], /expected a JSON array/);
});

test("API task representations become graph nodes", () => {
  const nodes = G.fromApiTasks([
    {
      id: "u1",
      name: "a",
      parent: null,
      dependencies: [{ id: "u0", name: "z", required: false }],
      status: "failed",
    },
  ]);
  assert.deepEqual(nodes[0].deps, [{ id: "u0", required: false }]);
  assert.equal(nodes[0].parent, null);
  assert.equal(nodes[0].status, "failed");
});

test("visual states tell waiting, retrying and blocked tasks apart from plain pending ones", () => {
  assert.equal(G.visualState({ status: "pending" }), "pending");
  assert.equal(G.visualState({ status: "pending", waiting_reason: "resource db:main is locked" }), "waiting");
  assert.equal(G.visualState({ status: "pending", attempt_count: 1, error: "boom" }), "retrying");
  assert.equal(G.visualState({ status: "cancelled", error_type: "upstream_failed" }), "blocked");
  assert.equal(G.visualState({ status: "cancelled" }), "cancelled");
  for (const key of Object.keys(G.STATES)) {
    assert.ok(G.STATES[key].label && G.STATES[key].icon, `${key} has a label and an icon`);
  }
});

test("layered layout keeps every dependency pointing right", () => {
  const tasks = [
    t("r", ["a", "b"]),
    t("a", [], "r"),
    t("b", ["a"], "r"),
    t("c", ["b"], "r"),
    t("d", [], "r"),
  ];
  const { positions, ranks } = G.layeredLayout(tasks);
  for (const task of tasks) {
    for (const d of task.deps) assert.ok(ranks[d.id] < ranks[task.id], `${d.id} left of ${task.id}`);
  }
  // parent edges agree where possible: d (no deps) sits right of its parent r? r depends on a,
  // so r cannot be left of a; d is free and follows r.
  assert.ok(ranks.d > ranks.r);
  assert.equal(Object.keys(positions).length, tasks.length);
  const seen = new Set(Object.values(positions).map((p) => `${p.x},${p.y}`));
  assert.equal(seen.size, tasks.length, "no two tasks share a position");
});

test("layered layout handles 2,000 tasks quickly", () => {
  const tasks = [t("n0")];
  for (let i = 1; i < 2000; i += 1) {
    const parent = `n${Math.floor((i - 1) / 4)}`;
    const deps = i > 10 && i % 3 === 0 ? [`n${i - 7}`] : [];
    tasks.push(t(`n${i}`, deps, parent));
  }
  const start = Date.now();
  const { ranks } = G.layeredLayout(tasks);
  const ms = Date.now() - start;
  assert.ok(ms < 1500, `took ${ms} ms`);
  for (const task of tasks) for (const d of task.deps) assert.ok(ranks[d.id] < ranks[task.id]);
});

test("the structure key changes with structure, not with status", () => {
  const a = [t("a"), t("b", ["a"])];
  const b = [t("a", [], null, { status: "failed" }), t("b", ["a"])];
  const c = [t("a"), t("b")];
  assert.equal(G.structureKey(a), G.structureKey(b));
  assert.notEqual(G.structureKey(a), G.structureKey(c));
});

test("the sequencer applies events once, in order, and reports gaps", () => {
  const s = new G.EventSequencer(3);
  assert.deepEqual(s.push([{ seq: 2 }, { seq: 3 }]), []);
  assert.deepEqual(s.push([{ seq: 5 }]), []);
  assert.equal(s.hasGap(), true);
  assert.deepEqual(
    s.push([{ seq: 4 }, { seq: 5 }]).map((e) => e.seq),
    [4, 5],
  );
  assert.equal(s.hasGap(), false);
  assert.equal(s.seq, 5);
  s.reset(10);
  assert.deepEqual(
    s.push([{ seq: 11 }]).map((e) => e.seq),
    [11],
  );
});

test("events become task patches", () => {
  assert.deepEqual(
    G.taskPatch({ kind: "task.progress", task: "x", data: { progress: 0.5, message: "half" } }),
    {
      id: "x",
      patch: { progress: 0.5, progress_message: "half" },
    },
  );
  const st = G.taskPatch({
    kind: "task.status",
    task: "x",
    data: { status: "cancelled", error_type: "upstream_failed", error: "a failed" },
  });
  assert.equal(st.patch.status, "cancelled");
  assert.equal(st.patch.error_type, "upstream_failed");
  assert.equal(G.taskPatch({ kind: "tree.status", task: null, data: {} }), null);
});

test("input_schema drives form fields and their parsing", () => {
  const fields = G.schemaFields({
    type: "object",
    required: ["seconds"],
    properties: {
      seconds: { type: "number", minimum: 0, maximum: 10, default: 1 },
      mode: { enum: ["a", "b"] },
      permanent: { type: "boolean" },
      result: { description: "anything" },
    },
  });
  assert.deepEqual(
    fields.map((f) => f.type),
    ["number", "enum", "boolean", "json"],
  );
  const seconds = fields[0];
  assert.deepEqual(G.coerceField(seconds, "2.5"), { value: 2.5 });
  assert.match(G.coerceField(seconds, "11").error, /≤ 10/);
  assert.match(G.coerceField(seconds, "").error, /required/);
  assert.deepEqual(G.coerceField(fields[3], '{"a": 1}'), { value: { a: 1 } });
  assert.deepEqual(G.coerceField(fields[3], "hello"), { value: "hello" });
  assert.deepEqual(G.schemaFields(null), []);
});

test("undo and redo walk the snapshots", () => {
  const u = new G.UndoStack();
  u.record("s0");
  u.record("s1");
  assert.equal(u.undo("s2"), "s1");
  assert.equal(u.undo("s1"), "s0");
  assert.equal(u.undo("s0"), null);
  assert.equal(u.redo("s0"), "s1");
  u.record("x");
  assert.equal(u.canRedo, false);
});

test("gantt rows and throughput buckets", () => {
  const rows = G.ganttRows(
    [
      {
        id: 2,
        task: "b",
        number: 1,
        started_at: "2026-01-01T00:00:05Z",
        finished_at: null,
        outcome: "running",
      },
      {
        id: 1,
        task: "a",
        number: 1,
        started_at: "2026-01-01T00:00:00Z",
        finished_at: "2026-01-01T00:00:02Z",
        outcome: "failed",
      },
    ],
    { a: "alpha", b: "beta" },
    Date.parse("2026-01-01T00:00:10Z"),
  );
  assert.deepEqual(
    rows.map((r) => r.label),
    ["alpha #1", "beta #1"],
  );
  assert.equal(rows[1].running, true);
  const now = Date.parse("2026-01-01T01:00:00Z");
  const b = G.bucketTimes(
    ["2026-01-01T00:59:30Z", "2026-01-01T00:00:30Z", "2025-01-01T00:00:00Z"],
    60000,
    now,
    60,
  );
  assert.equal(b[59], 1);
  assert.equal(b[0], 1);
  assert.equal(
    b.reduce((x, y) => x + y),
    2,
  );
  assert.equal(G.formatDuration(0.25), "250 ms");
  assert.equal(G.formatDuration(75), "1 min 15 s");
});

test("ids and names stay unique", () => {
  const tasks = [t("t1"), t("t2")];
  assert.equal(G.nextId(tasks), "t3");
  assert.equal(G.uniqueName([{ name: "task" }, { name: "task-2" }], "task"), "task-3");
});
