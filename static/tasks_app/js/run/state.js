/* The run view's state: the tree and its tasks, page elements, metrics, and the late-bound drawing side (`view`). */
import * as bigtree from "../bigtree.js";
import { config } from "../api.js";

import { $ } from "../ui.js";

export const TREE = config.tree;

export const metrics = (window.__arborMetrics = { start: performance.now() });
export const big = bigtree; // collapse by default, minimap, semantic zoom
export const mark = (name) => {
  metrics[name] = performance.now();
};

export const els = {
  cy: $("#cy"),
  loading: $("#loading"),
  detail: $("#detail"),
  list: $("#list-view"),
  legend: $("#legend"),
  gantt: $("#gantt"),
  ganttNote: $("#gantt-note"),
  status: $("#tree-status"),
  counts: $("#tree-counts"),
  live: $("#live-mode"),
  find: $("#find"),
  filterNote: $("#filter-note"),
};

export const state = {
  tree: null,
  tasks: new Map(), // id -> task (API representation + parent/deps)
  nodes: [], // graph nodes, in position order
  index: null,
  selected: null,
  collapsed: new Set(),
  hiddenBy: new Map(), // hidden task id -> collapsed ancestor id
  filter: null, // {id, dir}
  view: "graph",
  logs: new Map(), // task id -> live log lines [{level, line, at}]
  queue: [],
  flushScheduled: false,
  live: null,
  structureKey: null,
};

export const task = (id) => state.tasks.get(String(id));
export const nameOf = (id) => (task(id) ? task(id).name : String(id).slice(0, 8));

/**
 * The parts that draw, set once by run.js at startup: the lower parts (loading, the canvas) call
 * the higher ones (detail, live, views) through this object instead of importing them, so the
 * modules form no import cycle (a hashing static storage cannot name a cycle's files).
 */
export const view = {};
