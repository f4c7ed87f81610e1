"""Retry delays: exponential backoff with jitter, capped (SEMANTICS "Failure ... retries")."""

from __future__ import annotations

import math
import random
from collections.abc import Callable


def retry_delay(base: float, attempt: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Return the delay in seconds before retry number ``attempt`` (1 = first retry).

    ``min(base * 2 ** (attempt - 1), cap)`` scaled by a jitter factor in ``[0.5, 1.0]``
    (``0.5 + 0.5 * rand()``, with ``rand()`` clamped to ``[0, 1]``). A ``base`` of 0 gives 0.
    Raise ``ValueError`` for ``attempt < 1`` or a negative ``base`` or ``cap``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    if base == 0:
        return 0.0
    try:
        raw = min(math.ldexp(base, attempt - 1), cap)  # base * 2 ** (attempt - 1), exactly
    except OverflowError:
        raw = cap
    jitter = 0.5 + 0.5 * min(max(rand(), 0.0), 1.0)
    return raw * jitter
