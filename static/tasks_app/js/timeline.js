/*
 * Run history in the run view: a run switcher, the timeline (Gantt) of one run at a time with
 * zoom (mouse wheel, buttons) and pan (drag), readable time ticks, a resizable panel, and a
 * per-task duration comparison of two runs. run.js delegates its timeline to this module
 * (`timeline.refresh` / `highlight`); the pure helpers live in timeline-scale.js.
 */
import * as G from "./graph.js";
import { api } from "./api.js";
import * as ui from "./ui.js";
import { niceTicks, compareRuns } from "./timeline-scale.js";
import { $ } from "./ui.js";

function mount() {
  const { h } = ui;
  const TREE = api.config.tree;
  const els = {
    gantt: $("#gantt"),
    note: $("#gantt-note"),
    runSelect: $("#run-select"),
    compareSelect: $("#run-compare"),
    summary: $("#run-summary"),
    compareBox: $("#run-compare-table"),
    panel: $("#timeline-panel"),
    resize: $("#timeline-resize"),
  };
  if (!els.gantt || !els.runSelect) return null;
  const state = {
    runs: [],
    current: null,
    followLatest: true,
    attempts: [],
    compare: null,
    compareAttempts: [],
    view: null,
    bounds: null,
    timer: null,
  };
  const enc = encodeURIComponent;

  function runLabel(r) {
    const when = r.started_at ? new Date(r.started_at).toLocaleString() : "";
    const who = r.started_by ? ` by ${r.started_by}` : "";
    return `Run ${r.number} · ${r.trigger}${who} · ${G.treeStatusLabel(r)} · ${when}`;
  }

  async function fetchAll(path) {
    const data = await api.get(path, { limit: 500 });
    return api.results(data);
  }

  async function refresh() {
    if (els.gantt.hidden) return;
    try {
      state.runs = api.results(await api.get(`trees/${enc(TREE)}/runs/`, { limit: 100 }));
    } catch (e) {
      state.runs = [];
    }
    const numbers = state.runs.map((r) => r.number);
    if (state.current == null || state.followLatest || !numbers.includes(state.current))
      state.current = numbers.length ? numbers[0] : null;
    fillSelects();
    await loadRun();
  }

  function fillSelects() {
    ui.clear(els.runSelect);
    for (const r of state.runs)
      els.runSelect.appendChild(
        h("option", { value: String(r.number), selected: r.number === state.current }, runLabel(r)),
      );
    els.runSelect.disabled = !state.runs.length;
    ui.clear(els.compareSelect);
    els.compareSelect.appendChild(h("option", { value: "" }, "Compare with…"));
    for (const r of state.runs)
      if (r.number !== state.current)
        els.compareSelect.appendChild(
          h(
            "option",
            { value: String(r.number), selected: r.number === state.compare },
            `Run ${r.number} · ${G.treeStatusLabel(r)}`,
          ),
        );
    els.compareSelect.disabled = state.runs.length < 2;
    els.runSelect.closest("form, .run-switcher")?.setAttribute("data-runs", String(state.runs.length));
  }

  async function loadRun() {
    const run = state.runs.find((r) => r.number === state.current);
    state.attempts = run
      ? await fetchAll(`trees/${enc(TREE)}/runs/${run.number}/attempts/`).catch(() => [])
      : [];
    state.compareAttempts =
      state.compare != null && state.compare !== state.current
        ? await fetchAll(`trees/${enc(TREE)}/runs/${state.compare}/attempts/`).catch(() => [])
        : [];
    const prev = state.bounds;
    state.bounds = bounds(run);
    if (!state.view || !prev || prev.run !== state.bounds.run)
      state.view = { v0: state.bounds.t0, v1: state.bounds.t1 };
    render(run);
  }

  function bounds(run) {
    const now = Date.now();
    const starts = state.attempts.map((a) => Date.parse(a.started_at));
    const ends = state.attempts.map((a) => (a.finished_at ? Date.parse(a.finished_at) : now));
    const t0 = Math.min(run && run.started_at ? Date.parse(run.started_at) : Infinity, ...starts);
    let t1 = Math.max(run && run.finished_at ? Date.parse(run.finished_at) : 0, ...ends, t0 + 20);
    if (!Number.isFinite(t0)) return { run: run ? run.number : null, t0: now, t1: now + 1000 };
    t1 += (t1 - t0) * 0.03; // a little room after the last bar
    return { run: run ? run.number : null, t0, t1 };
  }

  function render(run) {
    clearTimeout(state.timer);
    ui.clear(els.gantt);
    ui.clear(els.summary);
    if (run) {
      const parts = [
        ui.treeBadge(run),
        ` ${run.trigger}${run.started_by ? ` by ${run.started_by}` : ""}${run.source ? ` via ${run.source}` : ""}`,
        ` · ${G.formatDuration(run.duration != null ? run.duration : (Date.now() - Date.parse(run.started_at)) / 1000)}`,
        ` · ${state.attempts.length} attempt${state.attempts.length === 1 ? "" : "s"}`,
      ];
      for (const p of parts) els.summary.appendChild(typeof p === "string" ? document.createTextNode(p) : p);
    }
    els.note.textContent = state.runs.length
      ? `${state.runs.length} run${state.runs.length === 1 ? "" : "s"}`
      : "";
    if (!state.attempts.length) {
      els.gantt.appendChild(
        h(
          "p.muted.small.gantt-empty",
          run ? "This run made no attempts." : "No runs yet: run the tree to see when each task ran.",
        ),
      );
      renderCompare();
      return;
    }
    const names = {};
    for (const a of state.attempts) names[a.task] = a.task_name || a.task;
    const now = Date.now();
    const rows = G.ganttRows(state.attempts, names, now);
    const { v0, v1 } = state.view;
    const labelW = 180;
    const width = Math.max(600, els.gantt.clientWidth - 28);
    const laneH = 18;
    const height = rows.length * laneH + 24;
    const x = (t) => labelW + ((t - v0) / (v1 - v0)) * (width - labelW - 10);
    const svgNS = "http://www.w3.org/2000/svg";
    const s = (tag, attrs, text) => {
      const el = document.createElementNS(svgNS, tag);
      for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
      if (text != null) el.textContent = text;
      return el;
    };
    const svg = s("svg", {
      width,
      height,
      role: "img",
      "aria-label": `Attempts of run ${run ? run.number : ""} over time`,
      "data-run": String(run ? run.number : ""),
    });
    const clip = s("clipPath", { id: "tl-clip" });
    clip.appendChild(s("rect", { x: labelW, y: 0, width: width - labelW, height }));
    svg.appendChild(clip);
    for (const tick of niceTicks(v0, v1, state.bounds.t0, Math.max(3, Math.floor((width - labelW) / 90)))) {
      svg.appendChild(s("line", { class: "tick", x1: x(tick.t), x2: x(tick.t), y1: 16, y2: height }));
      svg.appendChild(
        s("text", { class: "tick-label", x: x(tick.t), y: 11, "text-anchor": "middle" }, tick.label),
      );
    }
    const bars = s("g", { "clip-path": "url(#tl-clip)" });
    rows.forEach((r, i) => {
      const y = 20 + i * laneH;
      const g = s("g", { class: "lane", "data-task": r.task });
      const label = s(
        "text",
        { x: 0, y: y + 11 },
        `${r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label}`,
      );
      svg.appendChild(label);
      const rect = s("rect", {
        class: "bar",
        x: x(r.start),
        y: y + 2,
        width: Math.max(3, x(r.end) - x(r.start)),
        height: laneH - 5,
        "data-outcome": r.outcome,
      });
      rect.appendChild(
        s(
          "title",
          {},
          `${r.label}: ${r.outcome.replace(/_/g, " ")}, ${G.formatDuration((r.end - r.start) / 1000)}`,
        ),
      );
      g.appendChild(rect);
      g.addEventListener("click", () => window.arborRun && window.arborRun.select(r.task, true));
      bars.appendChild(g);
    });
    svg.appendChild(bars);
    els.gantt.appendChild(svg);
    highlight();
    renderCompare();
    if (rows.some((r) => r.running))
      state.timer = setTimeout(() => {
        state.bounds = bounds(run);
        render(run);
      }, 2000);
  }

  function renderCompare() {
    ui.clear(els.compareBox);
    els.compareBox.hidden = state.compare == null;
    if (state.compare == null) return;
    const rows = compareRuns(state.compareAttempts, state.attempts);
    const max = Math.max(0.001, ...rows.flatMap((r) => [r.a || 0, r.b || 0]));
    const bar = (v, which) =>
      h(
        "span.cmp-bar",
        { dataset: { run: which }, title: G.formatDuration(v) },
        h("meter", { min: 0, max, value: v || 0 }),
      );
    const fmt = (v) => (v == null ? "—" : G.formatDuration(v));
    const delta = (d) => (d == null ? "—" : `${d >= 0 ? "+" : "−"}${G.formatDuration(Math.abs(d))}`);
    const table = h(
      "table.compare",
      { dataset: { testid: "run-compare" } },
      h("caption.small.muted", `Time spent per task: run ${state.compare} → run ${state.current}`),
      h(
        "thead",
        h(
          "tr",
          h("th", "Task"),
          h("th", `Run ${state.compare}`),
          h("th", `Run ${state.current}`),
          h("th", "Change"),
        ),
      ),
      h(
        "tbody",
        rows.map((r) =>
          h(
            "tr",
            { dataset: { task: r.task } },
            h("td", r.task),
            h("td", bar(r.a, "a"), " ", fmt(r.a)),
            h("td", bar(r.b, "b"), " ", fmt(r.b)),
            h(
              "td",
              {
                dataset: { sign: r.delta == null || r.delta === 0 ? "" : r.delta > 0 ? "slower" : "faster" },
              },
              delta(r.delta),
            ),
          ),
        ),
      ),
    );
    els.compareBox.appendChild(table);
  }

  function highlight() {
    const sel = window.arborRun && window.arborRun.state ? window.arborRun.state.selected : null;
    for (const g of els.gantt.querySelectorAll("g.lane"))
      g.classList.toggle("dim", Boolean(sel) && g.dataset.task !== sel);
  }

  // ---- zoom and pan ----------------------------------------------------------------------------------------
  function zoom(factor, centerFrac) {
    if (!state.view) return;
    const { v0, v1 } = state.view;
    const c = v0 + (v1 - v0) * (centerFrac == null ? 0.5 : centerFrac);
    // down to a 5 ms window (1 ms ticks): attempts of a fast run take a few milliseconds
    const span = Math.max(5, (v1 - v0) * factor);
    state.view = { v0: c - (c - v0) * (span / (v1 - v0)), v1: c + (v1 - c) * (span / (v1 - v0)) };
    render(state.runs.find((r) => r.number === state.current));
  }
  function plotFrac(clientX) {
    const svg = els.gantt.querySelector("svg");
    if (!svg) return 0.5;
    const box = svg.getBoundingClientRect();
    return Math.max(0, Math.min(1, (clientX - box.left - 180) / Math.max(1, box.width - 190)));
  }
  els.gantt.addEventListener(
    "wheel",
    (ev) => {
      if (!state.view || Math.abs(ev.deltaY) < Math.abs(ev.deltaX)) return;
      ev.preventDefault();
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, plotFrac(ev.clientX));
    },
    { passive: false },
  );
  let drag = null;
  els.gantt.addEventListener("pointerdown", (ev) => {
    if (!state.view || ev.button !== 0) return;
    drag = { x: ev.clientX, view: { ...state.view }, moved: false };
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const svg = els.gantt.querySelector("svg");
    const w = svg ? svg.getBoundingClientRect().width - 190 : 400;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) < 3 && !drag.moved) return;
    drag.moved = true;
    const dt = (-dx / Math.max(1, w)) * (drag.view.v1 - drag.view.v0);
    state.view = { v0: drag.view.v0 + dt, v1: drag.view.v1 + dt };
    els.gantt.classList.add("panning");
    render(state.runs.find((r) => r.number === state.current));
  });
  window.addEventListener("pointerup", () => {
    drag = null;
    els.gantt.classList.remove("panning");
  });
  const onClick = (sel, fn) => {
    const el = $(sel);
    if (el) el.addEventListener("click", fn);
  };
  onClick("#tl-zoom-in", () => zoom(0.5));
  onClick("#tl-zoom-out", () => zoom(2));
  onClick("#tl-zoom-reset", () => {
    if (state.bounds) state.view = { v0: state.bounds.t0, v1: state.bounds.t1 };
    render(state.runs.find((r) => r.number === state.current));
  });

  // ---- switching and comparing -------------------------------------------------------------------------------
  els.runSelect.addEventListener("change", () => {
    state.current = Number(els.runSelect.value);
    state.followLatest = state.runs.length > 0 && state.current === state.runs[0].number;
    if (state.compare === state.current) state.compare = null;
    state.view = null;
    fillSelects();
    loadRun();
  });
  els.compareSelect.addEventListener("change", () => {
    state.compare = els.compareSelect.value ? Number(els.compareSelect.value) : null;
    loadRun();
  });

  // ---- resizable panel ---------------------------------------------------------------------------------------
  if (els.resize) {
    const MIN = 60;
    const stored = Number(localStorage.getItem("arbor.timeline.height"));
    if (stored >= MIN) els.gantt.style.maxHeight = `${stored}px`;
    let start = null;
    els.resize.addEventListener("pointerdown", (ev) => {
      start = { y: ev.clientY, hgt: els.gantt.getBoundingClientRect().height };
      els.resize.setPointerCapture(ev.pointerId);
      ev.preventDefault();
    });
    els.resize.addEventListener("pointermove", (ev) => {
      if (!start) return;
      const max = Math.round(window.innerHeight * 0.7);
      const hgt = Math.max(MIN, Math.min(max, start.hgt + (start.y - ev.clientY)));
      els.gantt.style.maxHeight = `${hgt}px`;
      els.gantt.style.height = `${hgt}px`;
      resized();
    });
    els.resize.addEventListener("pointerup", () => {
      if (start)
        localStorage.setItem(
          "arbor.timeline.height",
          String(Math.round(els.gantt.getBoundingClientRect().height)),
        );
      start = null;
    });
    els.resize.addEventListener("keydown", (ev) => {
      if (ev.key !== "ArrowUp" && ev.key !== "ArrowDown") return;
      const hgt = Math.max(MIN, els.gantt.getBoundingClientRect().height + (ev.key === "ArrowUp" ? 40 : -40));
      els.gantt.style.maxHeight = `${hgt}px`;
      els.gantt.style.height = `${hgt}px`;
      localStorage.setItem("arbor.timeline.height", String(Math.round(hgt)));
      resized();
      ev.preventDefault();
    });
  }

  /** The graph above shrank or grew: let it (cytoscape listens to window resizes) redraw. */
  const resized = (() => {
    let timer = null;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        window.dispatchEvent(new Event("resize"));
        const cy = window.arborRun && window.arborRun.cy;
        if (cy) cy.resize();
      }, 120);
    };
  })();

  return { refresh, highlight, state };
}

/** The timeline panel of the run view (null on a page without one). */
export const timeline = mount();
