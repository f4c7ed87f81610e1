/*
 * Live run view of one tree. The graph is the tree's own stored tasks and dependencies (a past
 * run is drawn as it ran; copies are separate trees). Layout happens once per structure (cached
 * per tree); live events only change node data, in one cy.batch per animation frame.
 */
import { load, select } from "./run/canvas.js";
import { renderDetail } from "./run/detail.js";
import { renderHeader, renderLegend } from "./run/header.js";
import { onEvents, startLive } from "./run/live.js";
import { metrics, state, task, view } from "./run/state.js";
import { bindToolbar, runAction } from "./run/toolbar.js";
import { highlightGantt, loadAttempts, renderList } from "./run/views.js";

Object.assign(view, {
  renderHeader,
  renderLegend,
  renderDetail,
  startLive,
  loadAttempts,
  renderList,
  highlightGantt,
  runAction,
});

window.arborRun = {
  state,
  metrics,
  task: (nameOrId) =>
    task(nameOrId) || Array.from(state.tasks.values()).find((t) => t.name === nameOrId) || null,
  /** Feed events through the same path as the websocket (used by the benchmark). */
  injectEvents: (events) => {
    const ready = state.live ? state.live.seq.push(events) : events;
    onEvents(ready);
  },
  select,
};
bindToolbar();
load();
