"""Fallbacks with provenance: `FallbackAnalyzer(primary, backup)`; each answer says which analyzer and
model produced it.

The circuit breaker: a reel the primary cannot do for a transient reason (service down, timeouts, rate
limits that outlast the retries) is analyzed by the backup instead, and counted; after `threshold` such
reels in a row the primary is not called for `cooldown_s`, then one reel tries it again (half-open): an
answer closes the breaker, a failure opens it for another cool-down. An error that holds for the whole run
(every model's daily quota spent) opens it for the rest of the run. Every answer the backup gives carries
`analyzer="local"` and a note saying why, so a later run can redo those reels with the primary. A
permanent failure (a blocked or unparseable answer, a video Gemini rejects) is not the service being down:
it is raised, recorded as a failed row, and does not count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reels.analysis import Analyzed, Analyzer, ReelContext, attributed, done_keys
from reels.errors import AnalysisError, Transient

log = logging.getLogger(__name__)


class FallbackAnalyzer:
    """Ask `primary`; when it is down, ask `backup`. Thread-safe: one breaker shared by the pool."""

    def __init__(
        self,
        primary: Analyzer,
        backup: Analyzer,
        *,
        threshold: int = 5,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.primary, self.backup, self.threshold = primary, backup, threshold
        self.cooldown_s, self._clock = cooldown_s, clock
        self._opened_at = 0.0
        self._for_the_run = False  # opened by an error that holds all run (daily quotas): no retrial
        self._probing = False
        # The pipeline selects and keys work by the primary: its name, model and prompt version.
        self.name, self.model, self.prompt_version = primary.name, primary.model, primary.prompt_version
        # The pool size is the primary's (Gemini's quota), not the pipeline's default for local work.
        self.concurrency: int | None = getattr(primary, "concurrency", None)
        self._lock = threading.Lock()
        self._failures = 0
        self.open_reason: str | None = None  # set once the breaker opens: the primary is off for the run
        self.fallbacks = 0  # reels the backup analyzed

    @property
    def covers(self) -> frozenset[tuple[str, str, str]]:
        """Rows by the primary (any of its models) or by the backup count as done; see `redo_keys`."""
        return done_keys(self.primary) | done_keys(self.backup)

    @property
    def redo_keys(self) -> frozenset[tuple[str, str, str]]:
        """Keys of rows a later run should redo with the primary (`reels analyze --redo local`)."""
        return done_keys(self.backup) - done_keys(self.primary)

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        """The primary's answer, else the backup's with a note saying why. Raises the primary's permanent
        AnalysisError, or the backup's error when the backup fails too."""
        reason = self.open_reason
        probe = reason is not None and self._may_probe()
        if reason is None or probe:
            try:
                out = self.primary.analyze(video, context)
            except AnalysisError as exc:
                if probe:
                    with self._lock:  # still down: stays open for another cool-down
                        self._probing, self._opened_at = False, self._clock()
                if not isinstance(exc, Transient):
                    raise
                reason = self._record_failure(exc)
            else:
                with self._lock:
                    self._failures = 0
                    if probe:
                        self.open_reason, self._probing = None, False
                        log.warning("%s answers again: using it for the rest of this run", self.primary.name)
                return attributed(out, self.primary)
        else:
            until = "the rest of this run" if self._for_the_run else f"{self.cooldown_s:g} s"
            reason = f"{self.primary.name} is off for {until} ({reason})"
        with self._lock:
            self.fallbacks += 1
        return attributed(self.backup.analyze(video, context), self.backup, note=reason)

    def _may_probe(self) -> bool:
        """Half-open: once the cool-down is over, one reel (one thread) tries the primary again."""
        with self._lock:
            if self._for_the_run or self._probing or self._clock() - self._opened_at < self.cooldown_s:
                return False
            self._probing = True
            return True

    def _record_failure(self, exc: AnalysisError) -> str:
        with self._lock:
            self._failures += 1
            if self.open_reason is None and (
                self._failures >= self.threshold or getattr(exc, "whole_run", False)
            ):
                self.open_reason = str(exc)
                self._opened_at = self._clock()
                self._for_the_run = bool(getattr(exc, "whole_run", False))
                log.warning(
                    "%s unavailable (%s): using %s for the rest of this run",
                    self.primary.name,
                    exc,
                    self.backup.name,
                )
        return f"{self.primary.name} failed: {exc}"


__all__ = ["FallbackAnalyzer"]
