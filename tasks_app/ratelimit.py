"""One token bucket for the in-process rate limits (no I/O, injectable clock).

Used by a websocket connection for its inbound messages (``live.consumers``) and by a connection's
outbox for ``task.log`` frames (``live.outbox``). Rates shared between processes (the HTTP API, the
inbound triggers) are DRF throttles with their counters in the cache instead (``api/throttling.py``,
``api/hooks.TriggerThrottle``).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def take(self, now: float | None = None) -> bool:
        """Spend one token if there is one; False (nothing spent) when the bucket is empty."""
        now = self.clock() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
