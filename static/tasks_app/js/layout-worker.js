/* Layout off the main thread: the layered layout of graph.js for large trees. */
/* global importScripts, ArborGraph */
importScripts("graph.js");

self.onmessage = (ev) => {
  const { id, tasks, options } = ev.data;
  try {
    const { positions } = ArborGraph.layeredLayout(tasks, options);
    self.postMessage({ id, positions });
  } catch (e) {
    self.postMessage({ id, error: String(e) });
  }
};
