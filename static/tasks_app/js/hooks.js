/*
 * "Triggers & notifications": on the run view (#act-hooks) a dialog with the tree's trigger URLs
 * and notification rules; on the Schedules page (buttons with data-notify-schedule) a dialog with
 * the schedule's notification rules. Loaded as its own module; docs/notifications.md.
 */
import { config } from "./api.js";
import { infoDialog } from "./ui.js";
import { triggersSection } from "./hooks/triggers.js";
import { rulesSection } from "./hooks/rules.js";

function open(title, sections) {
  const dlg = infoDialog(title, sections);
  dlg.classList.add("hooks-dialog");
  dlg.dataset.testid = "hooks-dialog";
  return dlg;
}

function openTree(treeId, treeName) {
  return open(`Triggers & notifications · ${treeName}`, [
    triggersSection(treeId),
    rulesSection("trees", treeId),
  ]);
}

function openSchedule(scheduleId, title) {
  return open(`Notifications · ${title}`, [rulesSection("schedules", scheduleId)]);
}

function init() {
  const button = document.getElementById("act-hooks");
  if (button && config.tree) {
    button.addEventListener("click", () => openTree(config.tree, config.tree_name || "tree"));
  }
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest && ev.target.closest("button[data-notify-schedule]");
    if (btn) openSchedule(btn.dataset.notifySchedule, btn.dataset.title || "schedule");
  });
}

init();

export { openTree, openSchedule };
