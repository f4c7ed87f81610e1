/* The dashboard's counts by status and its charts (SVG, no library). */
import * as G from "../graph.js";
import { api } from "../api.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { els, state } from "./state.js";

// ---- counts and charts -----------------------------------------------------------------
export const svgNS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, text) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
}

export function renderCounts(stats) {
  const counts = (stats && stats.counts) || {};
  const total =
    stats && typeof stats.total === "number" ? stats.total : Object.values(counts).reduce((a, b) => a + b, 0);
  for (const card of els.counts.querySelectorAll("[data-count]")) {
    const key = card.dataset.count;
    const n = key === "total" ? total : counts[key] || 0;
    card.querySelector(".n").textContent = n.toLocaleString();
    const lbl = ui.clear(card.querySelector(".lbl"));
    if (key === "total") lbl.appendChild(h("span.muted", "All tasks"));
    else lbl.appendChild(ui.badge(key));
  }
}

export function barChart(svg, values, labels, opts) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = svg.clientWidth || 400;
  const H = 116;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const padL = 28;
  const padB = 18;
  const max = Math.max(1, ...values);
  const bw = (W - padL) / values.length;
  svg.appendChild(s("line", { class: "axis", x1: padL, y1: H - padB, x2: W, y2: H - padB }));
  svg.appendChild(s("text", { x: 0, y: 10 }, String(max)));
  svg.appendChild(s("text", { x: 0, y: H - padB }, "0"));
  values.forEach((v, i) => {
    const bh = ((H - padB - 6) * v) / max;
    const rect = s("rect", {
      class: "bar",
      x: padL + i * bw + 1,
      y: H - padB - bh,
      width: Math.max(1, bw - 2),
      height: bh,
    });
    rect.appendChild(s("title", {}, `${labels[i]}: ${v} ${opts.unit}`));
    svg.appendChild(rect);
  });
  const step = Math.ceil(values.length / 6);
  labels.forEach((l, i) => {
    if (i % step === 0) svg.appendChild(s("text", { x: padL + i * bw, y: H - 4 }, l));
  });
}

export function hbarChart(svg, items) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = svg.clientWidth || 300;
  const rowH = 23;
  const H = Math.max(116, items.length * rowH + 4);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.style.height = `${H}px`;
  if (!items.length) {
    svg.appendChild(s("text", { x: 4, y: 20 }, "No finished tasks yet."));
    return;
  }
  const max = Math.max(...items.map((x) => x.seconds), 0.001);
  items.forEach((it, i) => {
    const y = i * rowH + 2;
    const bw = Math.max(2, ((W - 70) * it.seconds) / max);
    const a = s("a", { href: `${api.pages.run(it.tree)}?task=${encodeURIComponent(it.id)}` });
    const rect = s("rect", { class: "bar slow", x: 0, y: y + 13, width: bw, height: 8, rx: 2 });
    a.appendChild(rect);
    a.appendChild(s("text", { x: 0, y: y + 10 }, `${it.name}`));
    a.appendChild(s("text", { x: Math.min(bw + 4, W - 64), y: y + 21 }, G.formatDuration(it.seconds)));
    a.appendChild(s("title", {}, `${it.name}: ${G.formatDuration(it.seconds)} (${it.status})`));
    svg.appendChild(a);
  });
}

export function renderAverage(stats) {
  const body = ui.clear(document.querySelector("#chart-average [data-role=body]"));
  const avg = stats ? stats.average_execution_seconds : null;
  body.appendChild(
    h(
      "div",
      h("div.big", { style: "font-size:26px;font-weight:700" }, G.formatDuration(avg)),
      h("div.muted.small", "average per finished task"),
    ),
  );
  const kv = h("dl.kv");
  const add = (k, v) => kv.append(h("dt", k), h("dd", v));
  if (stats && stats.finished != null) add("Finished", Number(stats.finished).toLocaleString());
  if (stats && stats.total_execution_seconds != null)
    add("Total time", G.formatDuration(stats.total_execution_seconds));
  if (stats && stats.slowest && stats.slowest[0]) add("Slowest", G.formatDuration(stats.slowest[0].seconds));
  const outcomes = stats && stats.attempts && stats.attempts.by_outcome;
  if (outcomes)
    add(
      "Attempts",
      Object.entries(outcomes)
        .map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`)
        .join(", ") || "—",
    );
  body.appendChild(kv);
}

/** Throughput: the stats' series when it has one, else /stats/throughput/ (an aggregate, never a sample). */
export async function renderThroughput(stats) {
  const svg = document.querySelector("#chart-throughput svg");
  const rangeEl = document.querySelector("#chart-throughput [data-role=range]");
  const series = stats && (stats.throughput || stats.throughput_per_minute || stats.timeline);
  if (Array.isArray(series) && series.length && typeof series[0] === "object") {
    const values = series.map((p) => (p.count != null ? p.count : p.completed || 0));
    const labels = series.map((p) => {
      const t = p.t || p.time || p.bucket || p.start;
      return t ? new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
    });
    rangeEl.textContent = "(tasks finished)";
    barChart(svg, values, labels, { unit: "tasks" });
    return;
  }
  // completions per bucket from the API's aggregate (a GROUP BY over every completion): the
  // first window, from the finest, that has any completion
  const windows = [
    {
      bucket: "minute",
      count: 60,
      label: "per minute, last hour",
      fmt: (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    },
    {
      bucket: "hour",
      count: 24,
      label: "per hour, last 24 h",
      fmt: (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    },
    {
      bucket: "day",
      count: 30,
      label: "per day, last 30 days",
      fmt: (d) => d.toLocaleDateString([], { month: "short", day: "numeric" }),
    },
  ];
  let chosen = windows[0];
  let data = null;
  for (const w of windows) {
    chosen = w;
    try {
      data = await api.throughput({ bucket: w.bucket, count: w.count });
    } catch (e) {
      data = null;
    }
    if (data && data.total) break;
  }
  const points = (data && data.series) || [];
  const values = points.map((p) => p.count);
  const labels = points.map((p) => chosen.fmt(new Date(p.t)));
  rangeEl.textContent = `(completed tasks ${chosen.label}${data ? `, ${data.total.toLocaleString()} in all` : ""})`;
  barChart(svg, values, labels, { unit: "tasks" });
}

export async function loadStats() {
  let stats = null;
  try {
    stats = await api.stats();
  } catch (e) {
    stats = null;
  }
  renderCounts(stats);
  renderAverage(stats);
  hbarChart(document.querySelector("#chart-slowest svg"), ((stats && stats.slowest) || []).slice(0, 5));
  await renderThroughput(stats);
}

export async function loadExecutors() {
  try {
    const list = api.results(await api.executors());
    for (const ex of list)
      els.executor.appendChild(h("option", { value: ex.id }, ex.name ? `${ex.name} (${ex.id})` : ex.id));
    if (state.pendingExecutor) els.executor.value = state.pendingExecutor;
  } catch (e) {
    /* the filter just stays empty */
  }
}
