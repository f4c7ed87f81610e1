/* Layout off the main thread (a module worker): the layered layout of graph.js for large trees. */
import { layeredLayout } from "./graph.js";

self.onmessage = (ev) => {
  const { id, tasks, options } = ev.data;
  try {
    const { positions } = layeredLayout(tasks, options);
    self.postMessage({ id, positions });
  } catch (e) {
    self.postMessage({ id, error: String(e) });
  }
};
