/* The editor's JSON files (the tasks.create array) read in and written out, and its help sheet. */
import * as G from "../graph.js";
import * as ui from "../ui.js";
import { h } from "../ui.js";
import { banner, layout, sync } from "./canvas.js";
import { command, rootTask, state } from "./state.js";

// ---- import / export ----------------------------------------------------------------------
export async function loadArray(array, label) {
  const { tasks, errors } = G.fromTaskArray(array);
  if (errors.length) {
    ui.infoDialog(
      "This JSON cannot be imported",
      h(
        "div",
        h("p", "Fix these and try again:"),
        h(
          "ul",
          errors.slice(0, 20).map((e) => h("li", e)),
        ),
      ),
    );
    return false;
  }
  command(() => {
    state.tasks = tasks;
    state.pos = {};
    state.selected = null;
  });
  sync(true);
  await layout();
  if (label) banner(label, "info");
  return true;
}

export function openImport() {
  const ta = h("textarea", {
    rows: 12,
    spellcheck: false,
    placeholder: '[{"id": "a", "name": "my-tree", "executor": "echo"}, ...]',
    id: "import-text",
    "aria-label": "Task array JSON",
  });
  const file = h("input", { type: "file", accept: "application/json,.json", "aria-label": "JSON file" });
  file.addEventListener("change", async () => {
    if (file.files[0]) ta.value = await file.files[0].text();
  });
  const go = h("button.btn.primary", { type: "button" }, "Import");
  const dlg = ui.infoDialog(
    "Import a tree",
    h(
      "div",
      h(
        "p.small.muted",
        "Paste the task array that the API's create call takes (or pick a .json file). It replaces the canvas; Undo brings the old one back.",
      ),
      file,
      h("div", { style: "height:8px" }),
      ta,
    ),
    [go],
  );
  go.addEventListener("click", async () => {
    let parsed;
    try {
      parsed = JSON.parse(ta.value);
    } catch (e) {
      ta.setAttribute("aria-invalid", "true");
      ui.toast(`Not valid JSON: ${e.message}`, "error");
      return;
    }
    dlg.close();
    await loadArray(parsed, "Imported.");
  });
}

export function openExport() {
  const text = JSON.stringify(G.toTaskArray(state.tasks), null, 2);
  const dl = h("button.btn", { type: "button" }, "Download .json");
  const copy = h("button.btn", { type: "button" }, "Copy");
  dl.addEventListener("click", () => ui.download(`${(rootTask() || { name: "tree" }).name}.json`, text));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      ui.toast("Copied to the clipboard.", "ok");
    } catch (e) {
      ui.toast("The clipboard is not available here; select the text instead.", "error");
    }
  });
  ui.infoDialog(
    "Export (tasks.create array)",
    h(
      "div",
      h(
        "textarea",
        { rows: 16, readonly: true, id: "export-text", spellcheck: false, "aria-label": "Exported JSON" },
        text,
      ),
    ),
    [dl, copy],
  );
}

export function openHelp() {
  const rows = [
    [
      "N",
      "New task beside the selected one (under the same parent; under the root when the root or nothing is selected)",
    ],
    ["Delete / Backspace", "Delete the selected task or edge"],
    ["Ctrl+Z", "Undo"],
    ["Ctrl+Shift+Z / Ctrl+Y", "Redo"],
    ["L", "Automatic layout"],
    ["F", "Fit the tree to the screen"],
    ["E", "Next edge kind: requires → optional → parent"],
    ["R", "Toggle required/optional on the selected dependency"],
    ["Ctrl+S", "Save"],
    ["Esc", "Clear the selection"],
    ["?", "This help"],
  ];
  ui.infoDialog(
    "Keyboard shortcuts",
    h(
      "div.help-grid",
      rows.map(([k, v]) => [
        h(
          "div",
          k
            .split(" / ")
            .map((x, i) => [i ? " / " : "", x.split("+").map((y, j) => [j ? "+" : "", h("kbd", y)])]),
        ),
        h("div", v),
      ]),
    ),
  );
}

export function setEdgeKind(kind) {
  state.edgeKind = kind;
  for (const b of document.querySelectorAll("[data-edge-kind]"))
    b.setAttribute("aria-pressed", String(b.dataset.edgeKind === kind));
}
