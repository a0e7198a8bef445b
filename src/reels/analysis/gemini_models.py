"""Which Gemini model to ask now: the primary, the next of `fallback_models` while it is out, and none
once every model's daily quota is spent.

After `model_switch_after` outages in a row (5xx, timeouts; a 404 at once) the next model takes over;
the primary is tried again after `model_cooldown_s` (half-open) and keeps the calls once it answers. A 429
is a quota, not an outage: it never switches. Thread-safe: one chain serves the whole pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from reels.analysis.gemini_errors import (
    GeminiError,
    GeminiQuotaExhausted,
    GeminiRateLimited,
    GeminiUnavailable,
)
from reels.config import GeminiSettings

log = logging.getLogger("reels.analysis.gemini")


class ModelChain:
    def __init__(self, models: Sequence[str], settings: GeminiSettings, clock: Callable[[], float]) -> None:
        self.models = tuple(models)
        self._settings, self._clock = settings, clock
        self._lock = threading.Lock()
        self._model_index = 0
        self._model_failures = 0
        self._retry_primary_at = 0.0  # after a switch, when the primary model gets another chance
        self._exhausted: set[str] = set()  # models whose daily quota is spent: not asked again this run
        self.stopped: GeminiError | None = None  # set: no more calls this run

    @property
    def current(self) -> str:
        """The model to ask now: the primary, unless it was switched away from and its cool-down is not
        over (then the next model); never one whose daily quota is spent."""
        usable = [i for i, m in enumerate(self.models) if m not in self._exhausted] or [len(self.models) - 1]
        index = self._model_index
        if index and self._clock() >= self._retry_primary_at:
            index = 0  # half-open: the primary is tried again
        return self.models[next((i for i in usable if i >= index), usable[0])]

    def unavailable(self, model: str, error: GeminiUnavailable) -> None:
        if isinstance(error, GeminiRateLimited):
            return  # a quota, not an outage: another model shares it or has its own; do not switch
        with self._lock:
            if model != self.current:
                return  # another thread already switched
            self._model_failures += 1
            switch = error.status == 404 or self._model_failures >= self._settings.model_switch_after
            position = self.models.index(model)
            if switch and position + 1 < len(self.models):
                self._model_index = position + 1
                self._model_failures = 0
                self._retry_primary_at = self._clock() + self._settings.model_cooldown_s
                log.warning(
                    "gemini: %s unavailable (%s); using %s, and %s again in %g s",
                    model,
                    error,
                    self.current,
                    self.models[0],
                    self._settings.model_cooldown_s,
                )

    def answered(self, model: str) -> None:
        with self._lock:
            if model == self.models[0] and self._model_index:
                self._model_index = 0  # the primary answered again: back to it for every call
                log.warning("gemini: %s answers again", model)
            if model == self.current:
                self._model_failures = 0

    def exhaust(self, model: str, error: GeminiError) -> bool:
        """Note `model`'s spent daily quota; True when another model may still be asked this run."""
        with self._lock:
            self._exhausted.add(model)
            left = [m for m in self.models if m not in self._exhausted]
        if left:
            log.warning("gemini: %s is out of daily quota; using %s for the rest of the run", model, left[0])
            return True
        self.stop(error)
        return False

    def stop(self, error: GeminiError) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = error
                log.warning("gemini: no more calls this run: %s", error)

    def raise_if_stopped(self) -> None:
        stopped = self.stopped
        if stopped is not None:
            raise GeminiQuotaExhausted(f"not called: {stopped}", model=stopped.model, status=stopped.status)


__all__ = ["ModelChain"]
