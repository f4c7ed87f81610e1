/*
 * Live updates for one tree (or the dashboard): a WebSocket with back-off reconnect and
 * resume-from-sequence, falling back to polling the REST event log every 2 s while the socket
 * is unavailable. Events reach the page once each, in sequence order (ArborGraph.EventSequencer).
 *
 * Arbor.live.tree(treeId, {seq, onSnapshot(msg), onEvents(events), onMode(mode)})
 *   mode: "connecting" | "live" | "polling" | "offline"
 * Arbor.live.dashboard({onFrame(frame), onMode(mode), poll()})
 */
(function (root) {
  "use strict";
  const G = root.ArborGraph;
  const api = root.Arbor.api;

  const POLL_MS = 2000;
  const MAX_BACKOFF_MS = 15000;
  // While a run is active, a silent socket is checked against the event log this often (the
  // channel layer is at-most-once; the log is the source of truth).
  const SILENCE_CHECK_MS = 6000;

  function wsUrl(path) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}${path}`;
  }

  class TreeLive {
    constructor(treeId, opts) {
      this.treeId = treeId;
      this.opts = opts;
      this.seq = new G.EventSequencer(opts.seq || 0);
      this.ws = null;
      this.failures = 0;
      this.mode = "connecting";
      this.pollTimer = null;
      this.retryTimer = null;
      this.catchingUp = null;
      this.lastMessageAt = Date.now();
      this.stopped = false;
      this.everOpened = false;
      this.silenceTimer = setInterval(() => this.checkSilence(), SILENCE_CHECK_MS);
      if (opts.websocket === false || !("WebSocket" in root)) this.startPolling();
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
        // with a sequence number the server resumes from it instead of sending a whole snapshot
        const after = this.seq.seq > 0 ? `?after_seq=${this.seq.seq}` : "";
        ws = new WebSocket(wsUrl(api.ws.tree(this.treeId) + after));
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

    onClose() {
      this.ws = null;
      if (this.stopped) return;
      this.failures += 1;
      // poll while the socket is down, so the page never goes stale
      this.startPolling();
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 5)) * (0.75 + Math.random() * 0.5);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    }

    handle(data) {
      if (!data || typeof data !== "object") return;
      if (data.type === "snapshot") {
        // a snapshot replaces what we know: events it already covers are dropped
        if (typeof data.seq === "number" && data.seq >= this.seq.seq) {
          this.seq.reset(data.seq);
          if (this.opts.onSnapshot) this.opts.onSnapshot(data);
        }
        this.deliver([]);
        return;
      }
      if (data.type === "dropped" && Array.isArray(data.seqs)) {
        // sequence numbers the server left out on purpose (superseded progress, throttled logs)
        const skipped = [];
        for (const [a, b] of data.seqs) for (let q = a; q <= b && skipped.length < 100000; q += 1) skipped.push({ seq: q, kind: "dropped" });
        this.deliver(skipped);
        return;
      }
      if (data.type === "event" && data.kind === "tree.deleted") {
        if (this.opts.onDeleted) this.opts.onDeleted(data);
        this.stop();
        return;
      }
      if (data.type === "events" && Array.isArray(data.events)) {
        this.deliver(data.events);
        return;
      }
      if (data.type === "event" || (data.kind && typeof data.seq === "number")) this.deliver([data]);
    }

    deliver(events) {
      const ready = this.seq.push(events);
      if (ready.length && this.opts.onEvents) this.opts.onEvents(ready);
      if (this.seq.hasGap()) this.catchUp();
    }

    /** Fetch every event after the last applied sequence number from the REST log. */
    catchUp() {
      if (this.catchingUp) return this.catchingUp;
      this.catchingUp = (async () => {
        try {
          for (let page = 0; page < 50; page += 1) {
            const data = await api.treeEvents(this.treeId, this.seq.seq);
            const events = api.results(data);
            const before = this.seq.seq;
            const ready = this.seq.push(events);
            if (ready.length && this.opts.onEvents) this.opts.onEvents(ready);
            if (data && typeof data.last_seq === "number" && this.opts.onTreeSeq) this.opts.onTreeSeq(data.last_seq);
            if (!events.length || this.seq.seq === before) break;
          }
          if (this.mode === "offline") this.setMode(this.ws ? "live" : "polling");
        } catch (e) {
          if (e && e.status === 404) this.stop();
          else if (!this.ws) this.setMode("offline");
        } finally {
          this.catchingUp = null;
        }
      })();
      return this.catchingUp;
    }

    startPolling() {
      if (this.pollTimer || this.stopped) return;
      this.setMode("polling");
      const tick = async () => {
        await this.catchUp();
        if (this.pollTimer && !this.stopped) this.pollTimer = setTimeout(tick, POLL_MS);
      };
      this.pollTimer = setTimeout(tick, 0);
    }

    stopPolling() {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }

    checkSilence() {
      if (this.stopped || !this.ws || this.ws.readyState !== 1) return;
      const active = this.opts.isActive ? this.opts.isActive() : true;
      if (active && Date.now() - this.lastMessageAt > SILENCE_CHECK_MS) {
        this.lastMessageAt = Date.now();
        this.catchUp();
      }
    }

    stop() {
      this.stopped = true;
      this.stopPolling();
      clearTimeout(this.retryTimer);
      clearInterval(this.silenceTimer);
      if (this.ws) this.ws.close();
      this.setMode("offline");
    }
  }

  /** Dashboard: events from every tree of the user; no ordering across trees is needed, so the
   * page just refreshes what changed. Without a socket, `poll()` runs every few seconds. */
  class DashboardLive {
    constructor(opts) {
      this.opts = opts;
      this.failures = 0;
      this.stopped = false;
      this.pollTimer = null;
      this.mode = "connecting";
      if ("WebSocket" in root && opts.websocket !== false) this.connect();
      else this.startPolling();
    }
    setMode(mode) {
      if (this.mode === mode) return;
      this.mode = mode;
      if (this.opts.onMode) this.opts.onMode(mode);
    }
    connect() {
      if (this.stopped) return;
      let ws;
      try {
        ws = new WebSocket(wsUrl(api.ws.dashboard()));
      } catch (e) {
        this.onClose();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.failures = 0;
        this.stopPolling();
        this.setMode("live");
      };
      ws.onmessage = (msg) => {
        let data;
        try {
          data = JSON.parse(msg.data);
        } catch (e) {
          return;
        }
        if (this.opts.onFrame) this.opts.onFrame(data);
      };
      ws.onclose = () => this.onClose();
      ws.onerror = () => {};
    }
    onClose() {
      this.ws = null;
      if (this.stopped) return;
      this.failures += 1;
      this.startPolling();
      const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures, 4));
      setTimeout(() => this.connect(), delay);
    }
    startPolling() {
      if (this.pollTimer || this.stopped) return;
      this.setMode("polling");
      this.pollTimer = setInterval(() => this.opts.poll && this.opts.poll(), this.opts.pollMs || 5000);
    }
    stopPolling() {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
    stop() {
      this.stopped = true;
      this.stopPolling();
      if (this.ws) this.ws.close();
    }
  }

  root.Arbor = root.Arbor || {};
  root.Arbor.live = {
    tree: (treeId, opts) => new TreeLive(treeId, opts),
    dashboard: (opts) => new DashboardLive(opts),
  };
})(window);
