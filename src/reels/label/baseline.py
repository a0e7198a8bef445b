"""Per-group medians and MADs over numpy arrays, by sorting: the vectorised core of the virality rules.

Every function takes flat arrays (one entry per reel) and an integer group code per entry, sorts once by
(group, value), and reads each group's median off the sorted array at its start offset plus half its
count. No Python loop runs per group or per reel, so a million reels over ten thousand accounts take well
under a second; the rules read like array algebra on top of these few functions.

pandas' grouped median does the same, but is not a runtime dependency, and this is faster on the label
stage's arrays (`benchmarks/bench_virality.py` runs both on 1M reels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class Segments:
    """`values` sorted by (group, value): where each group starts, its size, and each entry's rank in it."""

    order: Ints  # positions into the input, in sorted order
    start: Ints  # per sorted entry: offset of its group's first entry
    count: Ints  # per sorted entry: size of its group
    rank: Ints  # per sorted entry: 0-based rank within its group
    group: Ints  # per sorted entry: its group code


def _group_sort(group: Ints, values: Floats) -> Ints:
    """`np.lexsort((values, group))`, the same order (ties keep their input order), about twice as fast:
    a stable sort of the values, then a stable radix sort of 16-bit group codes (when they fit)."""
    if len(group) == 0 or group.max(initial=0) >= 2**16 or group.min(initial=0) < 0:
        return np.lexsort((values, group)).astype(np.int64)
    by_value = np.argsort(values, kind="stable")
    return by_value[np.argsort(group[by_value].astype(np.uint16), kind="stable")].astype(np.int64)


def segments(group: Ints, values: Floats) -> Segments:
    """Sort by (group, values) and describe the runs of equal group codes."""
    order = _group_sort(group, values)
    g = group[order]
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(first)
    run = np.cumsum(first) - 1
    counts = np.diff(np.append(starts, len(g)))
    start = starts[run]
    return Segments(order, start, counts[run], np.arange(len(g)) - start, g)


def _middle(sorted_values: Floats, start: Ints, count: Ints, skip: Ints | None = None) -> Floats:
    """Median of each entry's group in `sorted_values`; with `skip`, of the group less the entry at that rank.

    Leaving out rank k shifts every later entry down by one, so the two middle ranks of the remaining
    count - 1 entries are looked up one further when they sit at or after k.
    """
    n = count if skip is None else count - 1
    lo, hi = (n - 1) // 2, n // 2
    if skip is not None:
        lo, hi = lo + (skip <= lo), hi + (skip <= hi)
    last = len(sorted_values) - 1
    a = np.clip(start + lo, 0, last)  # clipped only where n == 0, which callers mask out
    b = np.clip(start + hi, 0, last)
    middle: Floats = (sorted_values[a] + sorted_values[b]) / 2
    return middle


def group_medians(
    group: Ints, values: Floats, n_groups: int, companion: Floats | None = None
) -> tuple[Ints, Floats, Floats, Floats]:
    """Per group code: (count, median, 1.4826 × MAD, median of `companion`); NaN where a group is empty.

    `companion` must sort like `values` (views alongside log views), so one sort serves both medians.
    """
    count = np.bincount(group, minlength=n_groups).astype(np.int64)
    median = np.full(n_groups, np.nan)
    spread = np.full(n_groups, np.nan)
    paired = np.full(n_groups, np.nan)
    if len(values) == 0:
        return count, median, spread, paired
    seg = segments(group, values)
    heads = seg.rank == 0
    median[seg.group[heads]] = _middle(values[seg.order], seg.start, seg.count)[heads]
    if companion is not None:
        paired[seg.group[heads]] = _middle(companion[seg.order], seg.start, seg.count)[heads]
    dev = np.abs(values - median[group])
    dseg = segments(group, dev)
    dheads = dseg.rank == 0
    spread[dseg.group[dheads]] = 1.4826 * _middle(dev[dseg.order], dseg.start, dseg.count)[dheads]
    return count, median, spread, paired


@dataclass(frozen=True)
class AccountBaseline:
    """Each reel's own-group baseline; n == 0 (and NaN statistics) where it has none."""

    n: Ints  # reels in its baseline, itself never among them
    centre: Floats  # median of log views
    spread: Floats  # 1.4826 × MAD of log views (unfloored)
    median_views: Floats  # the plain median of views, the number people check against
    member: Bools  # the reel is one of the `size` most recent eligible reels of its group
    group_n: Ints  # per group code: size of its baseline set
    group_centre: Floats  # per group code: median of log views over the set
    group_spread: Floats  # per group code: 1.4826 × MAD over the set


def account_baselines(
    group: Ints, logv: Floats, views: Floats, recency: Floats, eligible: Bools, size: int, n_groups: int
) -> AccountBaseline:
    """Baseline = the `size` most recent eligible reels of the group, never counting the reel itself.

    A reel outside that set is compared with all of it. A reel inside it is compared with the others plus
    the next most recent eligible reel (so its baseline is still `size` strong when the group has one more):
    the leave-one-out statistics are read from the `size + 1` most recent by skipping the reel's own rank.
    """
    idx = np.flatnonzero(eligible)
    by_recency = segments(group[idx], -recency[idx])
    candidates = idx[by_recency.order[by_recency.rank <= size]]
    member = np.zeros(len(group), dtype=bool)
    member[idx[by_recency.order[by_recency.rank < size]]] = True

    # Reels outside the set: the whole set's statistics, looked up by group code.
    inside = np.flatnonzero(member)
    count, centre_g, spread_g, views_g = group_medians(group[inside], logv[inside], n_groups, views[inside])
    n, centre = count[group].copy(), centre_g[group].copy()
    spread, median_views = spread_g[group].copy(), views_g[group].copy()

    # Reels inside the set: leave-one-out over the candidates.
    seg = segments(group[candidates], logv[candidates])
    pos = candidates[seg.order]  # input position of each sorted candidate
    x, v = logv[pos], views[pos]
    mine = member[pos] & (seg.count > 1)
    loo_centre = _middle(x, seg.start, seg.count, skip=seg.rank)
    # Without its own rank k, a group's median is one of three values: k below both middle ranks, between
    # them, or above both. The MAD around each is taken from one more sort of the deviations.
    lo, hi = (seg.count - 2) // 2, (seg.count - 1) // 2
    case = (seg.rank <= lo).astype(np.int64) + (seg.rank <= hi)
    loo_spread = np.full(len(pos), np.nan)
    for c in np.unique(case[mine]):
        ia, ib = seg.start + lo + (c == 2), seg.start + hi + (c >= 1)
        centre_c = (x[np.clip(ia, 0, len(x) - 1)] + x[np.clip(ib, 0, len(x) - 1)]) / 2
        dev = np.abs(x - centre_c)
        dseg = segments(seg.group, dev)
        rank_in_dev = np.empty(len(pos), dtype=np.int64)
        rank_in_dev[dseg.order] = dseg.rank
        mad = _middle(dev[dseg.order], seg.start, seg.count, skip=rank_in_dev)
        take = mine & (case == c)
        loo_spread[take] = 1.4826 * mad[take]
    target = pos[mine]
    n[pos[member[pos]]] = seg.count[member[pos]] - 1
    centre[target] = loo_centre[mine]
    spread[target] = loo_spread[mine]
    median_views[target] = _middle(v, seg.start, seg.count, skip=seg.rank)[mine]
    lonely = pos[member[pos] & (seg.count == 1)]  # the group's only eligible reel: nothing else to compare
    centre[lonely] = spread[lonely] = median_views[lonely] = np.nan
    return AccountBaseline(n, centre, spread, median_views, member, count, centre_g, spread_g)
