"""One retry policy: how many attempts, and how long to wait before each, honouring server-given delays.

The policy only computes delays; the adapter that calls a service owns the loop, because it alone knows
which of its errors are worth another attempt (the `Transient` marker) and what else to do between
attempts (switch model, pause the shared rate limiter).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first call. Backoff: min(max_delay, initial · 2^n) plus U(0, jitter · that)."""

    attempts: int = 5
    initial_delay_s: float = 2.0
    max_delay_s: float = 60.0
    max_server_delay_s: float = 300.0  # a server asking for longer than this is not waited for in full
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int, server_delay_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry).

        A server-given delay (Retry-After, Gemini's RetryInfo.retryDelay) wins when it is longer than the
        backoff (the server knows when capacity returns), capped at `max_server_delay_s` so one answer
        cannot stall the run; a little jitter still spreads the threads out.
        """
        base = min(self.max_delay_s, self.initial_delay_s * 2**retry)
        backoff = base + self.rng.uniform(0, self.jitter * base)
        if server_delay_s is not None and server_delay_s > 0:
            server = min(server_delay_s, self.max_server_delay_s)
            return max(backoff, server + self.rng.uniform(0, self.jitter * min(base, server)))
        return backoff


__all__ = ["RetryPolicy"]
