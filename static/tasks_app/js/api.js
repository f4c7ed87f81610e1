/*
 * Arbor REST client: fetch wrapper (session cookie + CSRF header, JSON, one error shape) and
 * the one place that knows API URLs. Errors are thrown as ApiError {status, code, message, details}.
 */
const config = (() => {
  const el = document.getElementById("arbor-config");
  try {
    return (el && JSON.parse(el.textContent)) || {};
  } catch (e) {
    return {};
  }
})();
const BASE = config.api || "/api/v1/";

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : config.csrf || "";
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

function describeDetails(details) {
  if (!details) return "";
  if (Array.isArray(details))
    return details.map((d) => (typeof d === "string" ? d : JSON.stringify(d))).join("; ");
  if (typeof details === "object") {
    if (Array.isArray(details.errors)) return describeDetails(details.errors);
    return Object.entries(details)
      .map(
        ([k, v]) =>
          `${k}: ${Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v}`,
      )
      .join("; ");
  }
  return String(details);
}

async function request(method, path, body, opts) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (opts && opts.signal) init.signal = opts.signal;
  let res;
  try {
    res = await fetch(path.startsWith("/") ? path : BASE + path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(
      0,
      "network",
      "Arbor's server cannot be reached. Check your connection and try again.",
    );
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    let message = err.message || (data && data.detail) || `${res.status} ${res.statusText}`;
    if (res.status === 403 && !err.message && /CSRF/i.test(text))
      message = "Your session expired. Reload the page and try again.";
    if (res.status === 401 || (res.status === 403 && /credentials were not provided/i.test(message))) {
      message = "You are logged out. Log in again to continue.";
    }
    throw new ApiError(
      res.status,
      err.code || (res.status === 404 ? "not_found" : "error"),
      message,
      err.details,
    );
  }
  return data;
}

const enc = encodeURIComponent;
const api = {
  config,
  ApiError,
  describeDetails,
  query,
  request,
  get: (path, params, opts) => request("GET", path + query(params), undefined, opts),
  post: (path, body) => request("POST", path, body === undefined ? {} : body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),

  // trees
  trees: (params, opts) => api.get("trees/", params, opts),
  tree: (id) => api.get(`trees/${enc(id)}/`),
  treeCreate: (tasks, execute) => api.post("trees/", { tasks, execute: Boolean(execute) }),
  treeAction: (id, action, body) => api.post(`trees/${enc(id)}/${action}/`, body),
  treeEdit: (id, tasks) => api.post(`trees/${enc(id)}/edit/`, { tasks }),
  treeDelete: (id) => api.del(`trees/${enc(id)}/`),
  treeEvents: (id, afterSeq, opts) => api.get(`trees/${enc(id)}/events/`, { after_seq: afterSeq }, opts),
  treeAttempts: (id) => api.get(`trees/${enc(id)}/attempts/`),
  // tasks
  tasks: (params, opts) => api.get("tasks/", params, opts),
  task: (id) => api.get(`tasks/${enc(id)}/`),
  taskAction: (id, action, body) => api.post(`tasks/${enc(id)}/${action}/`, body),
  taskPreview: (id, action) => api.get(`tasks/${enc(id)}/preview/`, { action }),
  taskAttempts: (id) => api.get(`tasks/${enc(id)}/attempts/`),
  taskEvents: (id) => api.get(`tasks/${enc(id)}/events/`),
  taskLineage: (id) => api.get(`tasks/${enc(id)}/lineage/`),
  // schedules
  schedules: (params, opts) => api.get("schedules/", params, opts),
  scheduleCreate: (body) => api.post("schedules/", body),
  scheduleAction: (id, action) => api.post(`schedules/${enc(id)}/${action}/`),
  scheduleDelete: (id) => api.del(`schedules/${enc(id)}/`),
  scheduleRuns: (id, params) => api.get(`schedules/${enc(id)}/runs/`, params),
  schedulePreview: (body, opts) => request("POST", "schedules/preview/", body, opts),
  // inbound triggers and notification rules (docs/notifications.md)
  triggers: (treeId) => api.get(`trees/${enc(treeId)}/triggers/`),
  triggerCreate: (treeId, body) => api.post(`trees/${enc(treeId)}/triggers/`, body),
  triggerUpdate: (id, body) => api.patch(`triggers/${enc(id)}/`, body),
  triggerRotate: (id) => api.post(`triggers/${enc(id)}/rotate/`),
  triggerDelete: (id) => api.del(`triggers/${enc(id)}/`),
  rules: (owner, id) => api.get(`${owner}/${enc(id)}/notifications/`),
  ruleCreate: (owner, id, body) => api.post(`${owner}/${enc(id)}/notifications/`, body),
  ruleDelete: (id) => api.del(`notifications/${enc(id)}/`),
  ruleDeliveries: (id, params) => api.get(`notifications/${enc(id)}/deliveries/`, params),
  redeliver: (ruleId, deliveryId) =>
    api.post(`notifications/${enc(ruleId)}/deliveries/${enc(deliveryId)}/redeliver/`),
  // registry, stats, validation
  executors: () => api.get("executors/"),
  stats: (params) => api.get("stats/", params),
  throughput: (params) => api.get("stats/throughput/", params),
  validate: (tasks) => api.post("validate/", tasks),

  /** Paginated or plain list responses -> an array. */
  results: (data) => (Array.isArray(data) ? data : (data && data.results) || []),

  // pages (server-rendered), for navigation
  pages: {
    dashboard: () => "/",
    newTree: () => "/trees/new/",
    run: (id) => `/trees/${enc(id)}/`,
    schedules: (id) => `/schedules/${query({ schedule: id })}`,
    edit: (id) => `/trees/${enc(id)}/edit/`,
    copyTask: (treeId, taskId, mode) => `/trees/${enc(treeId)}/edit/${query({ task: taskId, mode })}`,
    admin: () => "/admin/",
  },
  ws: {
    tree: (id) => `${config.ws || "/ws/"}trees/${enc(id)}/`,
    dashboard: () => `${config.ws || "/ws/"}dashboard/`,
  },
};

export { api, config, ApiError };
