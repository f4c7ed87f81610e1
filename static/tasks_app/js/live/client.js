/*
 * The base of both live clients (the run view's TreeLive and the dashboard's DashboardLive in
 * live.js): one WebSocket with back-off reconnect, polling over REST while it is down (so the page
 * never goes stale), the connection mode reported to the page, and asking the server for a fresh
 * snapshot. A subclass says where to connect (url()), what a frame means (handle(data)), what one
 * poll does (poll()) and what dies with a socket (resetSession()).
 *
 *   mode: "connecting" | "live" | "polling" | "offline"
 */

const MAX_BACKOFF_MS = 15000;

function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export class LiveClient {
  /**
   * @param opts the page's callbacks ({onMode(mode), websocket: false to poll only, ...})
   * @param how {pollMs, pollFirstMs: the first poll after the socket went down,
   *   backoff: {baseMs, doublings, jitter}: reconnect after min(15 s, baseMs·2^min(failures, doublings)),
   *   ±25 % when jitter}
   */
  constructor(opts, how) {
    this.opts = opts;
    this.how = how;
    this.ws = null;
    this.failures = 0;
    this.mode = "connecting";
    this.pollTimer = null;
    this.retryTimer = null;
    this.lastMessageAt = Date.now();
    this.stopped = false;
    this.everOpened = false;
  }

  /** Connect (or poll only when WebSockets are off or missing); call at the end of the subclass's constructor. */
  start() {
    if (this.opts.websocket === false || !("WebSocket" in window)) this.startPolling();
    else this.connect();
  }

  setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    if (this.opts.onMode) this.opts.onMode(mode);
  }

  connect() {
    if (this.stopped) return;
    this.setMode(this.failures ? this.mode : "connecting");
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.url()));
    } catch (e) {
      this.onClose();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.failures = 0;
      this.everOpened = true;
      this.stopPolling();
      this.setMode("live");
    };
    ws.onmessage = (msg) => {
      this.lastMessageAt = Date.now();
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      this.handle(data);
    };
    ws.onclose = () => this.onClose();
    ws.onerror = () => {};
  }

  /** What a closed socket takes with it (an unfinished snapshot, a pending check): subclasses. */
  resetSession() {}

  onClose() {
    this.ws = null;
    this.resetSession();
    if (this.stopped) return;
    this.failures += 1;
    // poll while the socket is down, so the page never goes stale
    this.startPolling();
    const { baseMs, doublings, jitter } = this.how.backoff;
    const delay =
      Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(this.failures, doublings)) *
      (jitter ? 0.75 + Math.random() * 0.5 : 1);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** True when the socket is open (a message sent now reaches the server). */
  isOpen() {
    return !this.stopped && !!this.ws && this.ws.readyState === 1;
  }

  send(message) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Start again from a fresh snapshot: over the socket, else through the page (opts.onResync). */
  requestSnapshot() {
    if (this.send({ type: "snapshot" })) return;
    if (this.opts.onResync) this.opts.onResync();
  }

  startPolling() {
    if (this.pollTimer || this.stopped) return;
    this.setMode("polling");
    const tick = async () => {
      await this.poll();
      if (this.pollTimer && !this.stopped) this.pollTimer = setTimeout(tick, this.how.pollMs);
    };
    this.pollTimer = setTimeout(tick, this.how.pollFirstMs);
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  stop() {
    this.stopped = true;
    this.stopPolling();
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
  }
}
