/*
 * Live updates for one tree (or the dashboard), on the shared base in live/client.js (a WebSocket
 * with back-off reconnect, polling while it is down, the mode, fresh snapshots on request).
 *
 * treeLive(treeId, {seq, onSnapshot(msg), onEvents(events), onMode(mode), counts(), onCheck(result)})
 *   resumes from its sequence number when it reconnects and polls the REST event log every 2 s
 *   while the socket is unavailable. Events reach the page once each, in sequence order
 *   (graph.js's EventSequencer). A snapshot in parts ("snapshot" with more: true, then
 *   "snapshot.more" frames) reaches onSnapshot once, whole. Self-check: once the events stop for a
 *   moment (and when the tree finishes), the client asks the server for the tree's counts as of its
 *   last_seq ({"type": "check"}); when it has applied exactly that many events and the page's counts
 *   (opts.counts()) differ, it asks for a fresh snapshot. So the page converges even if an update
 *   was lost on the way.
 * dashboardLive({onFrame(frame), onMode(mode), poll()}): every frame goes to the page (a snapshot
 *   on each connect, then tree-level events); poll() runs every 5 s while the socket is down.
 */
import * as G from "./graph.js";
import { api } from "./api.js";
import { LiveClient } from "./live/client.js";

const POLL_MS = 2000;
// While a run is active, a silent socket is checked against the event log this often (the
// channel layer is at-most-once; the log is the source of truth).
const SILENCE_CHECK_MS = 6000;
// self-check: this long after the last event (at most SELF_CHECK_MAX_MS while events keep coming)
const SELF_CHECK_QUIET_MS = 700;
const SELF_CHECK_MAX_MS = 5000;
const TERMINAL = ["completed", "failed", "cancelled"];

// Test-only fault injection (tests/ui/test_run_converges.py sets it with an init script): lose
// every n-th task.status event without leaving a gap, as a lost or wrongly coalesced frame would.
function faults() {
  return window.ArborLiveFaults || null;
}

class TreeLive extends LiveClient {
  constructor(treeId, opts) {
    super(opts, { pollMs: POLL_MS, pollFirstMs: 0, backoff: { baseMs: 500, doublings: 5, jitter: true } });
    this.treeId = treeId;
    this.seq = new G.EventSequencer(opts.seq || 0);
    this.catchingUp = null;
    this.partial = null; // a snapshot whose parts are still arriving
    this.held = []; // events that arrived while it was incomplete
    this.check = null; // the server's answer to our last {"type": "check"}
    this.checkTimer = null;
    this.checkFirstAt = 0;
    this.stats = { checks: 0, resyncs: 0, snapshots: 0, faults: 0 };
    this.statusEvents = 0;
    this.silenceTimer = setInterval(() => this.checkSilence(), SILENCE_CHECK_MS);
    this.start();
  }

  url() {
    // with a sequence number the server resumes from it instead of sending a whole snapshot
    const after = this.seq.seq > 0 ? `?after_seq=${this.seq.seq}` : "";
    return api.ws.tree(this.treeId) + after;
  }

  resetSession() {
    this.partial = null; // an unfinished snapshot dies with its socket (we resume from seq)
    this.held = [];
    this.check = null;
  }

  poll() {
    return this.catchUp();
  }

  handle(data) {
    if (!data || typeof data !== "object") return;
    if (data.type === "snapshot" && typeof data.seq === "number") {
      this.partial = { ...data, tasks: [].concat(data.tasks || []) };
      if (!data.more) this.snapshotDone();
      return;
    }
    if (data.type === "snapshot.more") {
      if (!this.partial || this.partial.seq !== data.seq) return; // a part of a snapshot we never started
      for (const t of data.tasks || []) this.partial.tasks.push(t);
      if (!data.more) this.snapshotDone();
      return;
    }
    if (data.type === "check") {
      this.check = data;
      this.evaluateCheck();
      return;
    }
    if (this.partial) {
      // the server sends every part before the next event; hold anything else until it is whole
      this.held.push(data);
      return;
    }
    if (data.type === "dropped" && Array.isArray(data.seqs)) {
      // sequence numbers the server left out on purpose (superseded progress, throttled logs)
      const skipped = [];
      for (const [a, b] of data.seqs)
        for (let q = a; q <= b && skipped.length < 100000; q += 1) skipped.push({ seq: q, kind: "dropped" });
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

  /** The last part of a snapshot arrived: hand over the whole of it, then what was held back. */
  snapshotDone() {
    const snap = { ...this.partial, more: false };
    const held = this.held;
    this.partial = null;
    this.held = [];
    // a snapshot replaces what we know: events it already covers are dropped
    if (snap.seq >= this.seq.seq) {
      this.seq.reset(snap.seq);
      this.stats.snapshots += 1;
      if (this.opts.onSnapshot) this.opts.onSnapshot(snap);
    }
    this.deliver([]);
    for (const data of held) this.handle(data);
  }

  deliver(events) {
    const f = faults();
    if (f && f.dropStatusEvery) {
      events = events.map((ev) => {
        if (!ev || ev.kind !== "task.status" || typeof ev.seq !== "number" || ev.seq <= this.seq.seq)
          return ev;
        this.statusEvents += 1;
        if (this.statusEvents % f.dropStatusEvery) return ev;
        this.stats.faults += 1;
        return { seq: ev.seq, kind: "dropped" };
      });
    }
    const ready = this.seq.push(events);
    if (ready.length) {
      // a pending check is judged exactly at its sequence number: hand over the events up to it,
      // compare, then the rest
      const at = this.check ? ready.findIndex((ev) => ev.seq === this.check.seq) : -1;
      if (at >= 0 && at < ready.length - 1) {
        if (this.opts.onEvents) this.opts.onEvents(ready.slice(0, at + 1));
        this.evaluateCheck(ready[at].seq);
        if (this.opts.onEvents) this.opts.onEvents(ready.slice(at + 1));
      } else if (this.opts.onEvents) {
        this.opts.onEvents(ready);
      }
      this.scheduleCheck(
        ready.some((ev) => ev.kind === "tree.status" && ev.data && TERMINAL.includes(ev.data.status)),
      );
    }
    this.evaluateCheck();
    if (this.seq.hasGap()) this.catchUp();
  }

  // --- self-check ---------------------------------------------------------------------------

  /** Ask for the server's counts once the events pause (or right away when the tree finished). */
  scheduleCheck(now) {
    if (!this.opts.counts) return;
    const t = Date.now();
    if (!this.checkTimer) this.checkFirstAt = t;
    clearTimeout(this.checkTimer);
    const wait = now
      ? 50
      : Math.max(0, Math.min(SELF_CHECK_QUIET_MS, this.checkFirstAt + SELF_CHECK_MAX_MS - t));
    this.checkTimer = setTimeout(() => {
      this.checkTimer = null;
      this.requestCheck();
    }, wait);
  }

  requestCheck() {
    if (!this.isOpen()) return;
    this.check = null;
    this.send({ type: "check" });
  }

  /** Compare the page with the server's answer once we stand exactly at its sequence number. */
  evaluateCheck(at) {
    const check = this.check;
    if (!check || !this.opts.counts) return;
    const seq = at === undefined ? this.seq.seq : at;
    if (seq < check.seq) return; // not there yet: judged when its events arrive
    this.check = null;
    if (seq > check.seq) {
      this.scheduleCheck(false); // passed it before the answer came: ask again later
      return;
    }
    this.stats.checks += 1;
    const mine = this.opts.counts() || {};
    const keys = new Set([...Object.keys(mine), ...Object.keys(check.counts || {})]);
    const differs = Array.from(keys).some((k) => (mine[k] || 0) !== ((check.counts || {})[k] || 0));
    if (this.opts.onCheck)
      this.opts.onCheck({ seq: check.seq, ok: !differs, server: check.counts, page: mine });
    if (differs) this.resync();
  }

  /** The page disagrees with the server: start again from a fresh snapshot. */
  resync() {
    this.stats.resyncs += 1;
    this.requestSnapshot();
  }

  /** The page re-read its tasks over REST as of `seq` (or later): replay every event after it. */
  rewind(seq) {
    if (typeof seq !== "number" || seq >= this.seq.seq) return;
    this.seq.reset(seq);
    // a catch-up already under way may be on its last page: run one more after it
    Promise.resolve(this.catchingUp).then(() => this.catchUp());
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
          if (data && typeof data.last_seq === "number" && this.opts.onTreeSeq)
            this.opts.onTreeSeq(data.last_seq);
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

  checkSilence() {
    if (this.stopped || !this.ws || this.ws.readyState !== 1) return;
    const active = this.opts.isActive ? this.opts.isActive() : true;
    if (active && Date.now() - this.lastMessageAt > SILENCE_CHECK_MS) {
      this.lastMessageAt = Date.now();
      this.catchUp();
    }
  }

  stop() {
    super.stop();
    clearInterval(this.silenceTimer);
    clearTimeout(this.checkTimer);
    this.setMode("offline");
  }
}

/** Dashboard: events from every tree of the user; no ordering across trees is needed, so the
 * page just refreshes what changed. Without a socket, `poll()` runs every few seconds. */
class DashboardLive extends LiveClient {
  constructor(opts) {
    const pollMs = opts.pollMs || 5000;
    super(opts, { pollMs, pollFirstMs: pollMs, backoff: { baseMs: 1000, doublings: 4, jitter: false } });
    this.start();
  }

  url() {
    return api.ws.dashboard();
  }

  handle(data) {
    if (this.opts.onFrame) this.opts.onFrame(data);
  }

  poll() {
    if (this.opts.poll) this.opts.poll();
  }
}

export const treeLive = (treeId, opts) => new TreeLive(treeId, opts);
export const dashboardLive = (opts) => new DashboardLive(opts);
