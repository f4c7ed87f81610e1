/*
 * Keyboard shortcuts of the run view and their help sheet (?). The run actions go through the
 * toolbar's own buttons (a click), so a shortcut does exactly what the button does, confirm dialog
 * included, and does nothing while the button is disabled.
 */
import * as ui from "./ui.js";

const { h } = ui;

// [key shown, matcher, what, button selector or null (handled by run.js)]
const KEYS = [
  ["R", (ev) => ev.key === "r", "Run every pending task", "#act-run"],
  ["C", (ev) => ev.key === "c", "Cancel the run (asks first)", "#act-cancel"],
  ["Shift+R", (ev) => ev.key === "R", "Retry failed and cancelled tasks (asks first)", "#act-retry"],
  ["Shift+S", (ev) => ev.key === "S", "Mark the selected task success (asks first)", "#task-mark-success"],
  ["K", (ev) => ev.key === "k" || ev.key === "K", "Skip the selected task (asks first)", "#task-skip"],
  ["D", (ev) => ev.key === "d", "Copy the tree and run the copy", "#act-copy-run"],
  [
    "E",
    (ev) => ev.key === "e",
    "Edit the tree (never run) or open an editable copy",
    "#act-edit, #act-copy-edit",
  ],
  ["/", null, "Find a task", null],
  ["F", null, "Fit to screen", null],
  ["Esc", null, "Clear selection and filter", null],
  ["Double-click", null, "Collapse / expand a subtree", null],
  ["?", (ev) => ev.key === "?", "This list", null],
];

function openHelp() {
  if (document.querySelector("dialog[data-help]")) return;
  const rows = KEYS.map(([k, , what]) => [h("div", h("kbd", k)), h("div", what)]);
  const dlg = ui.infoDialog("Keyboard shortcuts", h("div.help-grid", rows));
  dlg.dataset.help = "run";
}

function bind() {
  for (const [k, , what, sel] of KEYS) {
    const el = sel && document.querySelector(sel);
    if (el) {
      el.setAttribute("aria-keyshortcuts", k);
      el.title = `${el.title || what} (${k})`;
    }
  }
  const helpBtn = document.getElementById("run-help");
  if (helpBtn) helpBtn.addEventListener("click", openHelp);
  document.addEventListener("keydown", (ev) => {
    if (ui.isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    for (const [, match, , sel] of KEYS) {
      if (!match || !match(ev)) continue;
      ev.preventDefault();
      if (!sel) return openHelp();
      const el = document.querySelector(sel);
      if (el && !el.disabled && !el.hidden) el.click();
      return;
    }
  });
}

bind();

export { KEYS, openHelp };
