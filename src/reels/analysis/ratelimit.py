"""A client-side rate limiter for requests and tokens per window, shared by every thread of a pool.

Sliding-window log: a call may start when the calls counted in the last `period_s` number fewer than
`requests` and their tokens plus its own estimate fit in `tokens`. The server sees a call arrive some time
after the limiter admitted it (sending the request: up to seconds for an inline video), so a call counts
until `period_s` after it was *sent*: after it ended (`release`), or `send_margin_s` after admission if it
ends later (a slow model answer must not hold the window). No window of the server's then holds more than
the quota; the cost is at most send_margin_s/period_s of it. A sliding window is also stricter than a token
bucket (which lets twice the quota through across a window boundary), so a pool that waits on it runs at
the quota without provoking 429s. Token counts are estimates until `release` records the count the
response reported. `pause_until` stops every thread, e.g. for a 429's server-given delay.

Written here, not taken from `pyrate-limiter` or `limits`: those count calls (or fixed weights) and know
nothing of a cost that is only estimated when the call starts and corrected when its answer reports the
real count, nor of a call that counts from when it was sent, nor of a pause that a server asks for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Reservation:
    """One admitted call: when it was admitted (`at`) and ended (`end`, None in flight), its tokens."""

    at: float
    tokens: int
    end: float | None = None


class RateLimiter:
    """Thread-safe. `requests`/`tokens` of 0 mean no limit on that dimension."""

    def __init__(
        self,
        *,
        requests: int = 0,
        tokens: int = 0,
        period_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        send_margin_s: float = 2.0,
    ) -> None:
        if requests < 0 or tokens < 0 or period_s <= 0:
            raise ValueError("requests and tokens must be >= 0 and period_s > 0")
        self.requests, self.tokens, self.period_s = requests, tokens, period_s
        self.send_margin_s = send_margin_s
        self._clock = clock
        self._sleep = sleep  # None: wait on the condition, so a release wakes waiters at once
        self._cond = threading.Condition()
        self._log: list[Reservation] = []
        self._paused_until = 0.0
        self.admitted = 0

    def acquire(self, tokens: int = 0) -> Reservation:
        """Block until a call estimated at `tokens` fits in the window; return its reservation, which the
        caller must `release` when the call ends (in a `finally`).

        A single call larger than the whole token quota is admitted alone into an empty window.
        """
        with self._cond:
            while True:
                now = self._clock()
                self._expire(now)
                wait = self._paused_until - now
                if wait <= 0:
                    wait = self._wait_for(now, tokens)
                if wait <= 0:
                    reservation = Reservation(now, tokens)
                    self._log.append(reservation)
                    self.admitted += 1
                    return reservation
                if self._sleep is None:
                    self._cond.wait(wait)
                else:
                    self._cond.release()
                    try:
                        self._sleep(wait)
                    finally:
                        self._cond.acquire()

    def release(self, reservation: Reservation, tokens: int | None = None) -> None:
        """The call ended: it keeps counting for `period_s` from when it was sent, with `tokens` when the
        response told the real count (else the estimate)."""
        with self._cond:
            reservation.end = self._clock()
            if tokens is not None:
                reservation.tokens = tokens
            self._cond.notify_all()

    def pause_until(self, deadline: float) -> None:
        """Admit no call before `deadline` (on this limiter's clock), e.g. a 429's retry delay."""
        with self._cond:
            self._paused_until = max(self._paused_until, deadline)

    def pause_for(self, seconds: float) -> None:
        self.pause_until(self._clock() + seconds)

    def _leaves_at(self, r: Reservation) -> float:
        sent = r.at + self.send_margin_s if r.end is None else min(r.end, r.at + self.send_margin_s)
        return sent + self.period_s

    def _expire(self, now: float) -> None:
        self._log = [r for r in self._log if self._leaves_at(r) > now]

    def _wait_for(self, now: float, tokens: int) -> float:
        """Seconds until enough calls leave the window for this one to fit (0: it fits now). For a call
        still in flight this is a bound, cut short by its release."""

        def leaves(r: Reservation) -> float:
            return self._leaves_at(r) - now

        wait = 0.0
        if self.requests and len(self._log) >= self.requests:
            order = sorted(leaves(r) for r in self._log)
            wait = order[len(self._log) - self.requests]
        used = sum(r.tokens for r in self._log)
        if self.tokens and self._log and used + tokens > self.tokens:
            excess = used + tokens - self.tokens
            for r in sorted(self._log, key=leaves):
                excess -= r.tokens
                if excess <= 0:
                    break
            wait = max(wait, leaves(r))
        return wait


__all__ = ["RateLimiter", "Reservation"]
