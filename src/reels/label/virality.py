"""Virality labels relative to each reel's own account: creator-relative, age-aware, robust, explained.

The default rule (`median_ratio`, virality.md §3): a reel is `viral` when its views are ≥ 3× its account's
baseline median **and** its robust z on log views is ≥ 2 **and** it has ≥ 1,000 views. The baseline is the
account's 30 most recent *matured* reels (≥ 7 days old when scraped, not pinned, reels only, posted within
180 days, the same views field, never the reel itself). Young reels below the bar are `pending` and
re-scored next run; reels past the 35-day scoring window are `out_of_window`. An account with fewer than
8 baseline reels is shrunk toward a pooled baseline, per follower when follower counts are given, else of
plain views (see `_pooled`). Every number is a `LabelSettings`. Each label carries a one-sentence reason
with the views, the baseline (median, n, source) and the ratio; engagement, views per follower and the
niche ratio are reported beside it and never decide it.

Pure: no I/O and no clock. A reel's age is its own `scraped_at − posted_at`, so labels depend only on the
stored data and a changed threshold relabels the whole history. The legacy rules (`mean_last_50`,
`top_percent`) live in `reels.label.legacy` for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reels.config import LabelSettings
from reels.label.baseline import AccountBaseline, Floats, Ints, account_baselines, group_medians
from reels.label.legacy import MeanLastNRule, TopPercentRule
from reels.label.reasons import median_ratio_reasons
from reels.label.rule import ViralityLabel, ViralityRule
from reels.label.scores import (
    ACCOUNT,
    INSUFFICIENT,
    LABELS,
    MISSING,
    NOT_VIRAL,
    OUT_OF_WINDOW,
    PENDING,
    POOLED,
    SHRUNK,
    THIN,
    US_PER_DAY,
    VIRAL,
    ZERO,
    Items,
    Post,
    Scores,
    items_from_arrow,
    items_from_posts,
    items_from_reels,
    latest_metrics,
)

# Default tiers by ratio to the baseline (the rule reads its own from the settings); the report draws these.
TIERS: tuple[tuple[float, str], ...] = ((10.0, "breakout"), (5.0, "strong"), (0.0, "outlier"))
_TOLERANCE = 1e-9  # a value at a threshold in exact arithmetic is not lost to float rounding


@dataclass(frozen=True)
class _Pool:
    """Per item: the pooled baseline its account may lean on (kind 0: none)."""

    kind: Ints  # code into POOLS
    centre: Floats  # log scale, already re-centred on the account's followers when known
    k: Floats  # shrinkage pseudo-count: the account's weight is n / (n + k)
    spread_few: Floats  # spread for an account with 1–2 baseline reels
    spread_none: Floats  # spread for an account with none
    niche_median: Floats  # median views of all tracked accounts' baseline reels


class MedianRatioRule(ViralityRule):
    """The default rule; see the module docstring. `method` spells out every parameter."""

    def __init__(self, settings: LabelSettings) -> None:
        super().__init__(settings)
        s = settings
        self.method = (
            f"median_ratio_v1(ratio>={s.ratio_min:g},z>={s.z_min:g},views>={s.min_views},"
            f"age>={s.min_age_days:g}d,last={s.baseline_reels},lookback={s.lookback_days:g}d,"
            f"own>={s.min_baseline},k={s.shrink_k:g},pool>={s.min_pooled},mad>={s.mad_floor:g},"
            f"window={s.max_score_age_days:g}d,tiers={s.tier_strong:g}/{s.tier_breakout:g})"
        )

    def scores(self, items: Items) -> Scores:
        s, v, age = self.settings, items.views, items.age
        known = ~np.isnan(v)
        # Zero views a day after posting is a hidden count or a failed scrape, not a flop.
        zero = known & (v <= 0) & ~(age < 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # log, not log1p: scaling an account by c then shifts every log by exactly log c, so labels
            # are scale-free; the two differ by < 0.1 % from 1,000 views up.
            logv = np.log(np.maximum(v, 1.0))
        matured = ~(age < s.min_age_days)  # unknown age (ads): measured long after posting
        group = items.group
        base_ok = known & ~zero & ~items.pinned & items.is_reel & matured
        # The look-back window ends at the account's newest scrape of a matured reel, so adding a young or
        # pinned reel cannot move it. Posts with no scrape time (ads) count from their own posting.
        measured = np.where(np.isnan(items.scraped), items.posted, items.scraped)
        newest = np.full(items.n_groups, -np.inf)
        np.fmax.at(newest, group[base_ok], measured[base_ok])
        eligible = base_ok & ~(items.posted < newest[group] - s.lookback_days * US_PER_DAY)
        own = account_baselines(group, logv, v, items.posted, eligible, s.baseline_reels, items.n_groups)

        pool = self._pooled(items, logv, own)
        n = own.n
        mine = n >= s.min_baseline
        w = n / (n + pool.k)
        shrunk = w * np.where(n > 0, own.centre, 0.0) + (1 - w) * pool.centre
        centre = np.where(mine, own.centre, shrunk)
        spread = np.where(n >= 3, own.spread, np.where(n > 0, pool.spread_few, pool.spread_none))
        spread = np.maximum(spread, s.mad_floor)
        has = mine | (pool.kind > 0)
        source = np.where(mine, ACCOUNT, np.where(pool.kind == 0, 0, np.where(n > 0, SHRUNK, POOLED)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            baseline_views = np.where(mine, own.median_views, np.exp(centre))
            ratio = v / np.maximum(baseline_views, 1.0)
            z = (logv - centre) / spread
            niche_ratio = v / pool.niche_median
            views_per_follower = v / items.followers

        viral = (ratio >= s.ratio_min * (1 - _TOLERANCE)) & (z >= s.z_min - _TOLERANCE) & (v >= s.min_views)
        label = np.where(viral, VIRAL, np.where(age < s.min_age_days, PENDING, NOT_VIRAL))
        why = np.zeros(len(items), dtype=np.int64)
        # Later assignments win: this is the evaluation order of virality.md §3.6, read bottom-up.
        for mask, code, reason in (
            (~has, INSUFFICIENT, THIN),
            (age > s.max_score_age_days, OUT_OF_WINDOW, 0),
            (zero, INSUFFICIENT, ZERO),
            (~known, INSUFFICIENT, MISSING),
        ):
            label[mask], why[mask] = code, reason
        scored = label <= PENDING
        tier = np.where(ratio >= s.tier_breakout, 3, np.where(ratio >= s.tier_strong, 2, 1))
        return Scores(
            label=label,
            tier=np.where(label == VIRAL, tier, 0),
            ratio=np.where(scored, ratio, np.nan),
            z=np.where(scored, z, np.nan),
            baseline_views=np.where(scored, baseline_views, np.nan),
            baseline_n=n,
            spread=np.where(scored, spread, np.nan),
            source=np.where(scored, source, 0),
            pool=pool.kind,
            weight=w,
            why=why,
            views_per_follower=views_per_follower,
            niche_ratio=niche_ratio,
        )

    def _pooled(self, items: Items, logv: Floats, own: AccountBaseline) -> _Pool:
        """What a small account leans on: the pool of every account's own baseline reels, per views field.

        With the account's followers known, the pool is fitted on log(views / followers) and re-centred on
        the account's followers, shrunk with the `shrink_k` pseudo-count (virality.md §3.7).

        The Apify reel scraper gives no follower counts, so without them the pool is plain log views, and
        raw levels differ between accounts far more than views per follower do (2k vs 500k is normal). A
        fixed pseudo-count would drag a small account's centre toward the niche and call a big newcomer's
        ordinary reels viral. So the views pool uses the empirical-Bayes weight for a median of n reels,
        w = n / (n + σ²/τ²): σ the typical spread within an account, τ the spread of levels between the
        accounts with a full baseline (two at least). With 1–2 reels of its own an account borrows σ as
        its spread; with none it is compared with the niche median and the niche's whole spread.
        """
        s, field, n_fields = self.settings, items.field, len(items.field_names)
        member = own.member
        count, centre, spread, median_views = group_medians(
            field[member], logv[member], n_fields, items.views[member]
        )
        settled = np.flatnonzero(own.group_n >= s.min_baseline)
        n_settled, _, tau, _ = group_medians(settled % n_fields, own.group_centre[settled], n_fields)
        _, sigma, _, _ = group_medians(settled % n_fields, own.group_spread[settled], n_fields)
        sigma = np.maximum(sigma, s.mad_floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            k_views = (sigma / tau) ** 2  # τ = 0: all accounts alike, so lean on the pool entirely
            log_followers = np.log(items.followers)  # NaN when unknown
        known = member & (items.followers >= 1)
        f_count, f_centre, f_spread, _ = group_medians(
            field[known], logv[known] - log_followers[known], n_fields
        )
        by_followers = (items.followers >= 1) & (f_count[field] >= s.min_pooled)
        by_views = ~by_followers & (count[field] >= s.min_pooled) & (n_settled[field] >= 2)
        f_spread = f_spread[field]
        return _Pool(
            kind=np.where(by_followers, 1, np.where(by_views, 2, 0)),
            centre=np.where(by_followers, f_centre[field] + log_followers, centre[field]),
            k=np.where(by_followers, s.shrink_k, k_views[field]),
            spread_few=np.where(by_followers, f_spread, sigma[field]),
            spread_none=np.where(by_followers, f_spread, spread[field]),
            niche_median=np.where(count[field] >= s.min_pooled, _two_figures(median_views[field]), np.nan),
        )

    def reasons(self, items: Items, scores: Scores, at: np.ndarray | None = None) -> pa.Array:
        at = np.arange(len(items)) if at is None else at
        return median_ratio_reasons(items, scores, self.settings, at)

    def reason(self, items: Items, scores: Scores, i: int) -> str:
        return str(self.reasons(items, scores, np.array([i]))[0].as_py())


def _two_figures(x: Floats) -> Floats:
    """Rounded to two significant figures, the precision the niche ratio is read at: the median of every
    tracked reel moves a little with each reel added, and unrounded it would change (and rewrite) the row
    of every scored reel in the lake every day."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (np.floor(np.log10(np.abs(x))) - 1)
        return np.where(x > 0, np.round(x / scale) * scale, x)


def rule_for(settings: LabelSettings) -> ViralityRule:
    """The rule `[label] method` names."""
    rules: dict[str, type[ViralityRule]] = {
        "median_ratio": MedianRatioRule,
        "mean_last_50": MeanLastNRule,
        "top_percent": TopPercentRule,
    }
    return rules[settings.method](settings)


__all__ = [
    "LABELS",
    "TIERS",
    "Items",
    "MeanLastNRule",
    "MedianRatioRule",
    "Post",
    "Scores",
    "TopPercentRule",
    "ViralityLabel",
    "ViralityRule",
    "items_from_arrow",
    "items_from_posts",
    "items_from_reels",
    "latest_metrics",
    "rule_for",
]
