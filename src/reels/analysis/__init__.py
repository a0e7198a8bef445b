"""Stage 5, analysis: what each stored video shows, by Gemini (structured output) with the local
analyzer as its backup, and what every video measures (local, always).

In: a stored video's path and its `ReelContext` (username, caption as untrusted data, its label).
Out: an `Analyzed` (a `VideoAnalysis`, the raw answer, tokens, cost, and which analyzer and model
answered); `attributed` turns it into an `AnalysisRow`. One module per analyzer, behind `Analyzer`.
Tables: none here; `reels.pipeline.analyses` reads `media` and `reels` and writes `analyses`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reels.analysis_schema import PROMPT_VERSION, VideoAnalysis


@dataclass(frozen=True, slots=True)
class ReelContext:
    """What an analyzer may know about the reel besides its video. The caption is untrusted data."""

    post_id: str
    username: str
    caption: str
    virality_label: str | None
    viral_ratio: float | None
    baseline_views: float | None
    duration_s: float | None = None  # the video's length, when the download measured it (for token budgets)


@dataclass(frozen=True, slots=True)
class Analyzed:
    """An analyzer's answer plus what it cost."""

    analysis: VideoAnalysis
    raw_json: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    # What produced it, when that is not the analyzer that was asked (a fallback model or analyzer), and why.
    analyzer: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    note: str | None = None
    tier: str | None = None  # the service tier that answered (standard, flex); None: not a paid model


class Analyzer(Protocol):
    name: str  # the `analyzer` column: "local", "gemini"
    model: str  # the `model` column: the model or heuristics version
    prompt_version: str

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        """Analyze one video. Raises AnalysisError (or InvalidMedia) with the reason on failure."""
        ...


def attributed(out: Analyzed, analyzer: Analyzer, note: str | None = None) -> Analyzed:
    """`out` naming its producer; an answer that already names one (a fallback model) keeps it."""
    return dataclasses.replace(
        out,
        analyzer=out.analyzer or analyzer.name,
        model=out.model or analyzer.model,
        prompt_version=out.prompt_version or analyzer.prompt_version,
        note=out.note or note,
    )


def done_keys(analyzer: Analyzer) -> frozenset[tuple[str, str, str]]:
    """The (analyzer, model, prompt_version) keys of `analyses` rows that count as done for `analyzer`:
    its own, or all of them for an analyzer that answers through several models (`covers`)."""
    covers = getattr(analyzer, "covers", None)
    if covers is not None:
        return frozenset(covers)
    return frozenset({(analyzer.name, analyzer.model, analyzer.prompt_version)})


__all__ = [
    "PROMPT_VERSION",
    "Analyzed",
    "Analyzer",
    "ReelContext",
    "VideoAnalysis",
    "attributed",
    "done_keys",
]
