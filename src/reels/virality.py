"""Virality labels, relative to each reel's own account: a `ViralityRule` turns reels into `Label`s.

Pure: no I/O and no clock. A reel's age is measured at its own `scraped_at`, so a label depends only on
the data, and a re-run gives the same labels.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from reels.config import LabelSettings
from reels.records import Label, Reel

TIERS: tuple[tuple[float, str], ...] = ((10.0, "breakout"), (5.0, "strong"), (0.0, "outlier"))


class ViralityRule(Protocol):
    method: str

    def labels(self, reels: Sequence[Reel]) -> list[Label]:
        """One label per reel, in the same order."""
        ...


class MedianRatioRule:
    """Viral when views are ≥ `ratio_min` × the median of the account's other reels and ≥ `min_views`.

    The baseline holds the same account's other non-pinned reels measured with the same views field (an
    account's videoPlayCount and videoViewCount are different numbers and never mixed). `robust_z` is the
    MAD-based z of log views, reported for context only.
    """

    def __init__(self, settings: LabelSettings) -> None:
        self.settings = settings
        self.method = f"median_ratio_v0(ratio>={settings.ratio_min:g},views>={settings.min_views})"

    def labels(self, reels: Sequence[Reel]) -> list[Label]:
        groups: dict[tuple[str, str | None], list[Reel]] = defaultdict(list)
        for reel in reels:
            if reel.views is not None and not reel.is_pinned:
                groups[(reel.username, reel.views_field)].append(reel)
        return [self._label(reel, groups[(reel.username, reel.views_field)]) for reel in reels]

    def _label(self, reel: Reel, group: list[Reel]) -> Label:
        s = self.settings
        engagement = _engagement_rate(reel)
        if reel.views is None:
            return self._verdict(reel, "insufficient_data", "views are missing", engagement=engagement)
        baseline = [r.views for r in group if r.post_id != reel.post_id and r.views is not None]
        if len(baseline) < s.min_baseline:
            reason = (
                f"only {len(baseline)} other reels of @{reel.username}"
                f" to compare with (need {s.min_baseline})"
            )
            return self._verdict(reel, "insufficient_data", reason, n=len(baseline), engagement=engagement)
        median = statistics.median(baseline)
        ratio = reel.views / max(median, 1.0)
        logs = [math.log1p(v) for v in baseline]
        centre = statistics.median(logs)
        spread = max(1.4826 * statistics.median(abs(x - centre) for x in logs), s.mad_floor)
        z = (math.log1p(reel.views) - centre) / spread
        viral = ratio >= s.ratio_min and reel.views >= s.min_views
        label = "viral" if viral else "not_viral"
        tier = next(name for floor, name in TIERS if ratio >= floor) if viral else None
        reason = (
            f"{reel.views:,} views = {ratio:.1f}× the median {median:,.0f} of @{reel.username}'s "
            f"{len(baseline)} other reels ({'≥' if ratio >= s.ratio_min else '<'} {s.ratio_min:g}×"
            + ("" if reel.views >= s.min_views else f"; under the {s.min_views:,}-view floor")
            + ")"
        )
        return Label(
            reel.post_id,
            label,
            tier,
            ratio,
            z,
            median,
            len(baseline),
            "account",
            engagement,
            self.method,
            reason,
        )

    def _verdict(self, reel: Reel, label: str, reason: str, *, n: int = 0, engagement: float | None) -> Label:
        return Label(reel.post_id, label, None, None, None, None, n, None, engagement, self.method, reason)


def _engagement_rate(reel: Reel) -> float | None:
    """(likes + comments) / views; unknown when likes are hidden, since hidden is not zero."""
    if not reel.views or reel.likes is None or reel.comments is None:
        return None
    return (reel.likes + reel.comments) / reel.views


def rule_for(settings: LabelSettings) -> ViralityRule:
    """The rule the settings name."""
    return MedianRatioRule(settings)
