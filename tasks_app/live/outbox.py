"""One connection's ordered, bounded, throttled queue of one tree's events (no I/O: unit-testable).

Events go out strictly in sequence order. Two kinds may be left out, so that a chatty executor
cannot flood a client:

* ``task.progress`` that a newer ``task.progress`` of the same task, already queued, supersedes;
  a task's progress goes out at most ``progress_per_second`` times a second (a newer value is held
  back until its slot, so the last value always arrives);
* ``task.log`` beyond ``log_per_second`` lines a second (token bucket of ``log_burst``).

Every left-out sequence number is announced in a ``{"type": "dropped", ...}`` frame sent before the
next event (or as soon as the queue is empty), so a client that checks for gaps knows nothing was
lost. A backlog above ``max_backlog`` events empties the queue and asks for a fresh snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tasks_app.ratelimit import TokenBucket

PROGRESS = "task.progress"
LOG = "task.log"


@dataclass
class Step:
    frames: list = field(default_factory=list)  # to send now, in order
    wait: float | None = None  # seconds until the head event may go out (progress throttle)
    gap: tuple[int, int] | None = None  # (first missing seq, first queued seq): read these from the table


class Outbox:
    def __init__(
        self,
        *,
        next_seq: int,
        max_backlog: int = 2000,
        progress_per_second: float = 10.0,
        log_per_second: float = 50.0,
        log_burst: float = 100.0,
        clock=time.monotonic,
    ):
        self.next_seq = next_seq
        self.max_backlog = max_backlog
        self.progress_interval = 1.0 / progress_per_second if progress_per_second > 0 else 0.0
        self.log_rate = log_per_second
        self.log_burst = log_burst
        self.clock = clock
        self.pending: dict[int, dict] = {}
        self.overflowed = False
        self.deleted: dict | None = None  # a tree.deleted notice (no sequence number)
        self._latest_progress: dict[str, int] = {}
        self._last_progress_at: dict[str, float] = {}
        self._log_bucket = TokenBucket(log_per_second, log_burst, clock)
        self._dropped: list[list[int]] = []
        self._dropped_counts: dict[str, int] = {}
        self.dropped_total: dict[str, int] = {}

    # --- input ---------------------------------------------------------------------------------

    def push(self, events) -> None:
        """Queue events (any order, duplicates and already-sent ones ignored)."""
        for ev in events:
            seq = ev.get("seq")
            if seq is None:
                if ev.get("kind") == "tree.deleted":
                    self.deleted = ev
                continue
            if seq < self.next_seq or seq in self.pending:
                continue
            self.pending[seq] = ev
            if ev.get("kind") == PROGRESS and ev.get("task"):
                task = ev["task"]
                if seq > self._latest_progress.get(task, 0):
                    self._latest_progress[task] = seq
        if len(self.pending) > self.max_backlog:
            self.overflowed = True
            self.pending.clear()

    def reset(self, last_seq: int) -> None:
        """Continue after ``last_seq`` (a snapshot was sent): drop what it covers."""
        self.next_seq = last_seq + 1
        self.overflowed = False
        self.pending = {s: e for s, e in self.pending.items() if s > last_seq}
        self._dropped.clear()
        self._dropped_counts.clear()

    @property
    def backlog(self) -> int:
        return len(self.pending)

    @property
    def last_sent(self) -> int:
        return self.next_seq - 1

    # --- output --------------------------------------------------------------------------------

    def step(self) -> Step:
        """Everything that may go out now, in order; then why it stopped."""
        out = Step()
        now = self.clock()
        while True:
            ev = self.pending.get(self.next_seq)
            if ev is None:
                self._flush_dropped(out.frames)
                if self.pending:
                    out.gap = (self.next_seq, min(self.pending))
                return out
            kind, task = ev.get("kind"), ev.get("task")
            if kind == PROGRESS and task:
                if self._latest_progress.get(task, 0) > self.next_seq:
                    self._drop(kind)  # superseded by a newer value already queued
                    continue
                due = self._last_progress_at.get(task, float("-inf")) + self.progress_interval
                if now < due:
                    self._flush_dropped(out.frames)
                    out.wait = due - now
                    return out
                self._last_progress_at[task] = now
            elif kind == LOG and not self._log_bucket.take(now):
                self._drop(kind)
                continue
            self._flush_dropped(out.frames)
            out.frames.append(ev)
            del self.pending[self.next_seq]
            self.next_seq += 1

    def _drop(self, kind: str) -> None:
        seq = self.next_seq
        if self._dropped and self._dropped[-1][1] == seq - 1:
            self._dropped[-1][1] = seq
        else:
            self._dropped.append([seq, seq])
        self._dropped_counts[kind] = self._dropped_counts.get(kind, 0) + 1
        self.dropped_total[kind] = self.dropped_total.get(kind, 0) + 1
        del self.pending[seq]
        self.next_seq += 1

    def _flush_dropped(self, frames: list) -> None:
        if not self._dropped:
            return
        frames.append(
            {
                "type": "dropped",
                "seqs": [list(r) for r in self._dropped],
                "counts": dict(self._dropped_counts),
                "total": dict(self.dropped_total),
            }
        )
        self._dropped.clear()
        self._dropped_counts.clear()
