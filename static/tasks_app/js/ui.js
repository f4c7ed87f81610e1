/*
 * Shared DOM helpers: element builder, status badges, toasts, confirmation dialogs, formatting.
 */
import * as G from "./graph.js";
import { api } from "./api.js";

/** The first element matching a CSS selector. */
const $ = (sel) => document.querySelector(sel);

/** h("div.card#id", {attrs, on: {click}}, children...) */
function h(tag, attrs, ...children) {
  const m = tag.match(/^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className += ` ${v}`;
    else if (k === "text") el.textContent = v;
    else if (k === "html") el.innerHTML = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A status badge for a task (or a bare status string): icon + text + colour. */
function badge(taskOrStatus, extraLabel) {
  const task = typeof taskOrStatus === "string" ? { status: taskOrStatus } : taskOrStatus || {};
  const state = G.visualState(task);
  const info = G.stateInfo(state, task);
  const el = h("span.badge", { dataset: { state, status: task.status || "pending" }, title: info.label });
  el.appendChild(h("span.ico", { "aria-hidden": "true" }, info.icon));
  el.appendChild(document.createTextNode(extraLabel || info.label));
  return el;
}

/** A tree's or run's status badge: "✓ Completed · 1 failure handled". */
function treeBadge(tree) {
  const el = badge({ status: (tree && tree.status) || "pending" }, G.treeStatusLabel(tree));
  if (tree && tree.handled_failures) el.dataset.handled = String(tree.handled_failures);
  return el;
}

const OUTCOME_ICONS = {
  running: "▶",
  completed: "✓",
  failed: "✕",
  timed_out: "◷",
  worker_lost: "⚠",
  cancelled: "⊘",
  interrupted: "↺",
};
const OUTCOME_STATE = {
  running: "in_progress",
  completed: "completed",
  failed: "failed",
  timed_out: "failed",
  worker_lost: "failed",
  cancelled: "cancelled",
  interrupted: "retrying",
};
function outcomeBadge(outcome) {
  const el = h("span.badge.outcome", { dataset: { state: OUTCOME_STATE[outcome] || "pending" } });
  el.appendChild(h("span.ico", { "aria-hidden": "true" }, OUTCOME_ICONS[outcome] || "•"));
  el.appendChild(document.createTextNode(String(outcome || "").replace(/_/g, " ")));
  return el;
}

function progressBar(value, label) {
  const pct = Math.round(Math.max(0, Math.min(1, value || 0)) * 100);
  return h(
    "div.progress",
    {
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": String(pct),
      "aria-label": label || "Progress",
      title: `${pct}%`,
    },
    h("span", { style: `width:${pct}%` }),
  );
}

function toast(message, kind) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h(`div.toast${kind ? "." + kind : ""}`, { role: kind === "error" ? "alert" : null }, message);
  box.appendChild(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 4500);
}

function errorMessage(err) {
  if (!err) return "Something went wrong.";
  const details = err.details ? api.describeDetails(err.details) : "";
  return details && !err.message.includes(details)
    ? `${err.message} (${details})`
    : err.message || String(err);
}

/**
 * A modal dialog. Resolves true when confirmed, false otherwise.
 * opts: {title, body (Node|string), confirm, danger, cancel}
 */
function confirmDialog(opts) {
  return new Promise((resolve) => {
    const dlg = h("dialog", { "aria-labelledby": "dlg-title", class: "confirm-dialog" });
    const ok = h(
      `button.btn${opts.danger ? ".danger.solid" : ".primary"}`,
      { type: "button", dataset: { testid: "confirm" } },
      opts.confirm || "Confirm",
    );
    // the dismiss button must never read like the confirm button ("Cancel" / "Cancel")
    const confirmText = String(opts.confirm || "Confirm");
    const dismissText = opts.cancel || (/^cancel\b/i.test(confirmText) ? "Keep running" : "Cancel");
    const cancel = h("button.btn", { type: "button", dataset: { testid: "dismiss" } }, dismissText);
    dlg.appendChild(h("div.dlg-head", h("h2#dlg-title", opts.title || "Are you sure?")));
    dlg.appendChild(h("div.dlg-body", typeof opts.body === "string" ? h("p", opts.body) : opts.body || ""));
    dlg.appendChild(h("div.dlg-foot", cancel, ok));
    let answered = false;
    const done = (value) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", () => done(false));
    document.body.appendChild(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** A dialog with arbitrary content and no answer (help, JSON export). */
function infoDialog(title, body, extraButtons) {
  const dlg = h("dialog", { "aria-label": title });
  const close = h("button.btn.primary", { type: "button" }, "Close");
  dlg.appendChild(h("div.dlg-head", h("h2", title)));
  dlg.appendChild(h("div.dlg-body", body));
  dlg.appendChild(h("div.dlg-foot", extraButtons || [], close));
  close.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => dlg.remove());
  document.body.appendChild(dlg);
  dlg.showModal();
  return dlg;
}

function escapeHtml(s) {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

function json(value) {
  return h("pre.json", value === undefined ? "—" : JSON.stringify(value, null, 2));
}

const rtf =
  typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "auto" })
    : null;
function relTime(value) {
  if (!value) return "—";
  const t = Date.parse(value);
  if (!Number.isFinite(t)) return "—";
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (!rtf) return new Date(t).toLocaleString();
  if (abs < 45) return rtf.format(Math.round(diff), "second");
  if (abs < 2700) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 64800) return rtf.format(Math.round(diff / 3600), "hour");
  return rtf.format(Math.round(diff / 86400), "day");
}
function timeEl(value) {
  if (!value) return h("span.muted", "—");
  return h("time", { datetime: value, title: new Date(value).toLocaleString() }, relTime(value));
}
function duration(a, b) {
  if (!a) return null;
  const end = b ? Date.parse(b) : Date.now();
  return (end - Date.parse(a)) / 1000;
}

function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** True when a key event belongs to a text field (shortcuts must not fire there). */
function isTyping(ev) {
  const t = ev.target;
  if (!t || !t.tagName) return false;
  return (
    t.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) ||
    (t.closest && t.closest("dialog"))
  );
}

function download(filename, text) {
  const blob = new Blob([text], { type: "application/json" });
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 0);
}

/** Read a CSS custom property from :root (Cytoscape styles follow the page theme). */
function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export {
  $,
  h,
  append,
  clear,
  badge,
  treeBadge,
  outcomeBadge,
  progressBar,
  toast,
  errorMessage,
  confirmDialog,
  infoDialog,
  escapeHtml,
  json,
  relTime,
  timeEl,
  duration,
  debounce,
  isTyping,
  download,
  cssVar,
};
