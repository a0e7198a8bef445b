"""Fallbacks with provenance: `FallbackAnalyzer(primary, backup)`; each answer says which analyzer and
model produced it.

The circuit breaker: a reel the primary cannot do for a transient reason (service down, timeouts, rate
limits that outlast the retries) is analyzed by the backup instead, and counted; after `threshold` such
reels in a row, or one error that holds for the whole run (a daily quota), the primary is not called again
in this run. Every answer the backup gives carries `analyzer="local"` and a note saying why, so a later run
can redo those reels with the primary. A permanent failure (a blocked or unparseable answer, a video
Gemini rejects) is not the service being down: it is raised, recorded as a failed row, and does not count.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from reels.analysis import Analyzed, Analyzer, ReelContext, attributed, done_keys
from reels.errors import AnalysisError, Transient

log = logging.getLogger(__name__)


class FallbackAnalyzer:
    """Ask `primary`; when it is down, ask `backup`. Thread-safe: one breaker shared by the pool."""

    def __init__(self, primary: Analyzer, backup: Analyzer, *, threshold: int = 5) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.primary, self.backup, self.threshold = primary, backup, threshold
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
        if reason is None:
            try:
                out = self.primary.analyze(video, context)
            except AnalysisError as exc:
                if not isinstance(exc, Transient):
                    raise
                reason = self._record_failure(exc)
            else:
                with self._lock:
                    self._failures = 0
                return attributed(out, self.primary)
        else:
            reason = f"{self.primary.name} is off for the rest of this run ({reason})"
        with self._lock:
            self.fallbacks += 1
        return attributed(self.backup.analyze(video, context), self.backup, note=reason)

    def _record_failure(self, exc: AnalysisError) -> str:
        with self._lock:
            self._failures += 1
            if self.open_reason is None and (
                self._failures >= self.threshold or getattr(exc, "whole_run", False)
            ):
                self.open_reason = str(exc)
                log.warning(
                    "%s unavailable (%s): using %s for the rest of this run",
                    self.primary.name,
                    exc,
                    self.backup.name,
                )
        return f"{self.primary.name} failed: {exc}"


__all__ = ["FallbackAnalyzer"]
