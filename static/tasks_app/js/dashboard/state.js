/* The dashboard's state: elements, columns, filters, and the URL that keeps them. */
import { api } from "../api.js";
import { $ } from "../ui.js";

export const els = {
  counts: $("#counts"),
  tbody: $("#list tbody"),
  thead: $("#list thead"),
  search: $("#f-search"),
  status: $("#f-status"),
  executor: $("#f-executor"),
  tag: $("#f-tag"),
  after: $("#f-after"),
  size: $("#f-size"),
  prev: $("#prev"),
  next: $("#next"),
  pageInfo: $("#page-info"),
  summary: $("#list-summary"),
  bulkbar: $("#bulkbar"),
  bulkCount: $("#bulk-count"),
  live: $("#live-mode"),
};

export const COLUMNS = {
  trees: [
    { key: "name", label: "Tree", sort: "name" },
    { key: "status", label: "Status", sort: "status" },
    { key: "counts", label: "Tasks" },
    { key: "run_count", label: "Runs", num: true },
    { key: "created_at", label: "Created", sort: "created_at" },
    { key: "started_at", label: "Started" },
    { key: "duration", label: "Duration", num: true },
  ],
  tasks: [
    { key: "name", label: "Task", sort: "name" },
    { key: "tree", label: "Tree" },
    { key: "executor", label: "Executor", sort: "executor" },
    { key: "status", label: "Status", sort: "status" },
    { key: "priority", label: "Priority", sort: "priority", num: true },
    { key: "attempt_count", label: "Attempts", num: true },
    { key: "created_at", label: "Created", sort: "created_at" },
    { key: "duration", label: "Duration", num: true },
  ],
};

export const state = {
  tab: "trees",
  offset: 0,
  limit: 25,
  ordering: "-created_at",
  count: 0,
  rows: [],
  selected: new Map(), // id -> row
  loading: null,
};

// ---- URL state: filters survive a reload and can be shared ------------------------------
export function readUrl() {
  const q = new URLSearchParams(location.search);
  state.tab = q.get("tab") === "tasks" ? "tasks" : "trees";
  els.search.value = q.get("search") || "";
  els.status.value = q.get("status") || "";
  els.tag.value = q.get("tag") || "";
  els.after.value = q.get("after") || "";
  state.pendingExecutor = q.get("executor") || "";
  state.offset = Math.max(0, parseInt(q.get("offset") || "0", 10) || 0);
  state.limit = [25, 50, 100].includes(+q.get("limit")) ? +q.get("limit") : 25;
  els.size.value = String(state.limit);
  state.ordering = q.get("ordering") || "-created_at";
}
export function writeUrl() {
  const q = api.query({
    tab: state.tab === "trees" ? "" : state.tab,
    search: els.search.value.trim(),
    status: els.status.value,
    executor: state.tab === "tasks" ? els.executor.value : "",
    tag: state.tab === "tasks" ? els.tag.value.trim() : "",
    after: els.after.value,
    offset: state.offset || "",
    limit: state.limit === 25 ? "" : state.limit,
    ordering: state.ordering === "-created_at" ? "" : state.ordering,
  });
  history.replaceState(null, "", location.pathname + q);
}

export function params() {
  const p = {
    limit: state.limit,
    offset: state.offset,
    ordering: state.ordering,
    search: els.search.value.trim(),
    status: els.status.value,
    created_after: els.after.value ? `${els.after.value}T00:00:00Z` : "",
  };
  if (state.tab === "tasks") {
    p.executor = els.executor.value;
    p.tag = els.tag.value.trim();
  }
  return p;
}
