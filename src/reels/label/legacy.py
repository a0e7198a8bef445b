"""The old rules, kept selectable by `[label] method` to compare with; virality.md §2 says why they went.

- `mean_last_50`: viral when views > the mean of the account's last N posts (pinned and young posts
  included, as the old rule had them). The mean of heavy-tailed views sits low enough that about 30 % of
  ordinary reels beat it on pure noise.
- `top_percent`: viral when the engagement rate is in the account's top P %. A quota: it labels P % of
  every account whatever happened that week.

Like every rule, both keep an account's two views counters apart.
"""

from __future__ import annotations

import numpy as np

from reels.config import LabelSettings
from reels.label.baseline import segments
from reels.label.rule import ViralityRule
from reels.label.scores import ACCOUNT, INSUFFICIENT, MISSING, NOT_VIRAL, VIRAL, Items, Scores


def _scores(items: Items, label: np.ndarray, **numbers: np.ndarray) -> Scores:
    nan = np.full(len(items), np.nan)
    known = label != INSUFFICIENT
    with np.errstate(divide="ignore", invalid="ignore"):
        per_follower = items.views / items.followers
    return Scores(
        label=label,
        tier=np.zeros(len(items), dtype=np.int64),
        ratio=numbers.get("ratio", nan),
        z=nan,
        baseline_views=numbers.get("baseline_views", nan),
        baseline_n=numbers["baseline_n"],
        spread=nan,
        source=np.where(known, ACCOUNT, 0),
        pool=np.zeros(len(items), dtype=np.int64),
        weight=nan,
        why=np.where(known, 0, MISSING),
        views_per_follower=per_follower,
        niche_ratio=nan,
        rank=numbers.get("rank"),
    )


class MeanLastNRule(ViralityRule):
    """Viral when views exceed the mean of the account's last `legacy_last_n` posts."""

    def __init__(self, settings: LabelSettings) -> None:
        super().__init__(settings)
        self.method = f"mean_last_n_v0(n={settings.legacy_last_n},views>mean)"

    def scores(self, items: Items) -> Scores:
        v, group = items.views, items.group
        known = np.flatnonzero(~np.isnan(v))
        by_recency = segments(group[known], -items.posted[known])
        last = known[by_recency.order[by_recency.rank < self.settings.legacy_last_n]]
        count = np.bincount(group[last], minlength=items.n_groups)
        total = np.bincount(group[last], weights=v[last], minlength=items.n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = (total / count)[group]
            ratio = v / mean
        label = np.where(v > mean, VIRAL, NOT_VIRAL)
        label[np.isnan(v)] = INSUFFICIENT
        return _scores(items, label, ratio=ratio, baseline_views=mean, baseline_n=count[group])

    def reason(self, items: Items, scores: Scores, i: int) -> str:
        if scores.label[i] == INSUFFICIENT:
            return "Views are missing (not zero), so there is nothing to compare."
        user = items.account_names[items.account[i]]
        verdict = "viral (views > mean)" if scores.label[i] == VIRAL else "not above the mean"
        return (
            f"{items.views[i]:,.0f} views = {scores.ratio[i]:.1f}× the mean {scores.baseline_views[i]:,.0f}"
            f" of @{user}'s last {scores.baseline_n[i]} posts (legacy rule, pinned and young posts included):"
            f" {verdict}."
        )


class TopPercentRule(ViralityRule):
    """Viral when the engagement rate is in the top `top_percent` % of the account's reels."""

    def __init__(self, settings: LabelSettings) -> None:
        super().__init__(settings)
        self.method = f"top_percent_v0(top={settings.top_percent:g}%,engagement)"

    def scores(self, items: Items) -> Scores:
        er, group = items.engagement, items.group
        known = np.flatnonzero(~np.isnan(er))
        by_rate = segments(group[known], -er[known])
        rank = np.zeros(len(items), dtype=np.int64)
        count = np.zeros(len(items), dtype=np.int64)
        rank[known[by_rate.order]] = by_rate.rank
        count[known[by_rate.order]] = by_rate.count
        quota = np.floor(self.settings.top_percent / 100 * count + 1e-9)  # 20 % of 10 is 2, of 4 is 0
        label = np.where(rank < quota, VIRAL, NOT_VIRAL)
        label[np.isnan(er)] = INSUFFICIENT
        return _scores(items, label, baseline_n=count, rank=rank)

    def reason(self, items: Items, scores: Scores, i: int) -> str:
        if scores.label[i] == INSUFFICIENT:
            return "Engagement is unknown (views missing or likes hidden), so it cannot be ranked."
        user = items.account_names[items.account[i]]
        rank = 0 if scores.rank is None else scores.rank[i]
        top = f"{self.settings.top_percent:g}%"
        verdict = f"in the top {top}: viral" if scores.label[i] == VIRAL else f"not in the top {top}"
        return (
            f"Engagement {items.engagement[i] * 100:.1f}% of views ranks #{rank + 1} of"
            f" {scores.baseline_n[i]} reels of @{user} (legacy quota rule): {verdict}."
        )
