/*
 * Theme: follow the OS (default), or light / dark chosen with the header's toggle and kept in
 * localStorage. Loaded in <head> (a file, not inline: the CSP allows only 'self') so the chosen
 * theme is set on <html data-theme> before the first paint. Changing it emits "arbor:theme" on
 * window; the Cytoscape canvases restyle on it.
 */
(function (root) {
  "use strict";
  const KEY = "arbor.theme";
  const MODES = ["auto", "light", "dark"];
  const LABEL = { auto: "Theme: follows the system", light: "Theme: light", dark: "Theme: dark" };
  const ICON = { auto: "◐", light: "☀", dark: "☾" };
  const doc = root.document.documentElement;

  function stored() {
    try {
      const v = root.localStorage.getItem(KEY);
      return MODES.includes(v) ? v : "auto";
    } catch (e) {
      return "auto";
    }
  }
  function apply(mode) {
    if (mode === "auto") delete doc.dataset.theme;
    else doc.dataset.theme = mode;
  }
  function set(mode) {
    try {
      if (mode === "auto") root.localStorage.removeItem(KEY);
      else root.localStorage.setItem(KEY, mode);
    } catch (e) {
      /* private mode: the choice lasts for this page only */
    }
    apply(mode);
    root.dispatchEvent(new CustomEvent("arbor:theme", { detail: { mode } }));
  }
  /** The theme in effect: "light" or "dark". */
  function effective() {
    const mode = stored();
    if (mode !== "auto") return mode;
    return root.matchMedia && root.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  apply(stored());

  function button() {
    const right = root.document.querySelector(".app-header .nav-right");
    if (!right || right.querySelector("#theme-toggle")) return;
    const btn = root.document.createElement("button");
    btn.type = "button";
    btn.id = "theme-toggle";
    btn.className = "btn small icon";
    const show = () => {
      const mode = stored();
      btn.textContent = ICON[mode];
      btn.title = `${LABEL[mode]} (click to change)`;
      btn.setAttribute("aria-label", LABEL[mode]);
      btn.dataset.mode = mode;
    };
    btn.addEventListener("click", () => {
      set(MODES[(MODES.indexOf(stored()) + 1) % MODES.length]);
      show();
    });
    show();
    right.prepend(btn);
  }
  if (root.document.readyState === "loading") root.document.addEventListener("DOMContentLoaded", button);
  else button();

  root.Arbor = root.Arbor || {};
  root.Arbor.theme = { get: stored, set, effective };
})(window);
