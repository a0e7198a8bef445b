"""The one retry mechanism: `tenacity` runs the attempts, a `RetryPolicy` says how many and how long to wait.

Every caller (video downloads, Gemini calls and uploads, the playbook writer, both stores' commits) goes
through `RetryPolicy.call`; what differs between them is parameters:

- `retry_if`: which errors are worth another attempt (default: the `Transient` marker);
- `server_delay`: the delay the server asked for (default: the error's `retry_after_s`, which the adapter
  reads from `Retry-After` or Gemini's `RetryInfo`);
- `before_retry`: what else to do first (e.g. hand the wait to the shared rate limiter, so every thread
  waits, or switch model): it gets the error and the computed delay and returns the seconds still to sleep.

What tenacity's wait strategies do not give, and this policy adds: a server-given delay wins over the
backoff when it is longer (the server knows when capacity returns), capped so one answer cannot stall the
run, and no wait is longer than the caller's cap, jitter included.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from reels.errors import Transient

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """The default `retry_if`: the error is marked Transient and does not hold for the rest of the run."""
    return isinstance(error, Transient) and not getattr(error, "whole_run", False)


def server_delay(error: BaseException) -> float | None:
    """The default `server_delay`: the seconds the server asked for, when the error carries them."""
    return getattr(error, "retry_after_s", None)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first call. Backoff: min(max_delay, initial · 2^n) plus U(0, jitter · that),
    never more than `max_delay_s`; a server-given delay up to `max_server_delay_s`."""

    attempts: int = 5
    initial_delay_s: float = 2.0
    max_delay_s: float = 60.0
    max_server_delay_s: float = 300.0  # a server asking for longer than this is not waited for in full
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int, server_delay_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        base = min(self.max_delay_s, self.initial_delay_s * 2**retry)
        backoff = min(self.max_delay_s, base + self.rng.uniform(0, self.jitter * base))
        if server_delay_s is not None and server_delay_s > 0:
            server = min(server_delay_s, self.max_server_delay_s)
            spread = self.rng.uniform(0, self.jitter * min(base, server))  # the threads still spread out
            return max(backoff, min(self.max_server_delay_s, server + spread))
        return backoff

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool] = is_transient,
        server_delay: Callable[[BaseException], float | None] = server_delay,
        before_retry: Callable[[BaseException, float], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """`fn()`, again after a wait while it raises an error `retry_if` accepts, at most `attempts` times.

        Returns what `fn` returns; raises its error as it is: one that is not retried at once, the last one
        when the attempts are spent.
        """

        def wait(state: tenacity.RetryCallState) -> float:
            if state.attempt_number >= self.attempts:
                return 0.0  # tenacity asks before it stops: no last wait, no last `before_retry`
            assert state.outcome is not None
            error = state.outcome.exception()
            assert error is not None
            delay = self.delay(state.attempt_number - 1, server_delay(error))
            return before_retry(error, delay) if before_retry else delay

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(retry_if),
            sleep=sleep,
            reraise=True,
        )
        return retrying(fn)


__all__ = ["RetryPolicy", "is_transient", "server_delay"]
