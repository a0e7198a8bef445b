"""The label columns of `reels` built on whole arrays: label and tier names, numbers, and the default
rule's one-sentence reasons, formatted by Arrow kernels rather than one f-string per reel, so a million
reels take about a second instead of twenty.

The number formats are those people read: `1,234,567` views, ratios to one decimal, weights to two.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reels.config import LabelSettings
from reels.label.scores import (
    ACCOUNT,
    LABELS,
    MISSING,
    POOLED,
    POOLS,
    SHRUNK,
    THIN,
    TIER_NAMES,
    ZERO,
    Floats,
    Items,
    Scores,
)

Texts = pa.Array  # of strings; null where a part does not apply


def join(*parts: Texts | str) -> Texts:
    """Element-wise concatenation; null wherever a part is null."""
    return pc.binary_join_element_wise(*parts, "")


def nullable(x: Floats) -> pa.Array:
    return pa.array(x, pa.float64(), mask=np.isnan(x))


def fixed(x: Floats, decimals: int) -> Texts:
    """Like f"{x:.{decimals}f}" (half to even); null where x is NaN."""
    bad = ~np.isfinite(x)
    scaled = np.rint(np.abs(np.where(bad, 0.0, x)) * 10**decimals).astype(np.int64)
    text = pc.cast(pa.array(scaled, mask=bad), pa.string())
    if decimals:  # 35 → "3.5", 5 → "0.5": pad to one digit more than the decimals, then split
        text = pc.utf8_lpad(text, decimals + 1, "0")
        whole = pc.utf8_slice_codeunits(text, 0, -decimals)
        text = join(whole, ".", pc.utf8_slice_codeunits(text, -decimals))
    negative = (x < 0) & (scaled > 0)
    return pc.if_else(pa.array(negative), join("-", text), text) if negative.any() else text


def grouped(x: Floats) -> Texts:
    """Like f"{x:,.0f}": thousands separated by commas; null where x is NaN."""
    bad = ~np.isfinite(x)
    n = np.rint(np.abs(np.where(bad, 0.0, x))).astype(np.int64)
    text = pc.utf8_lpad(pc.cast(pa.array(n % 1000, mask=bad), pa.string()), 3, "0")
    rest = n // 1000
    while rest.any():  # every group padded to three digits, the leading zeros trimmed at the end
        big = np.flatnonzero(rest > 0)
        head = pc.utf8_lpad(pc.cast(pa.array(rest[big] % 1000), pa.string()), 3, "0")
        text = scatter(text, big, join(head, ",", text.take(pa.array(big))))
        rest //= 1000
    text = pc.utf8_ltrim(text, "0")
    text = pc.if_else(pc.equal(text, ""), "0", text)
    negative = (x < 0) & (n > 0)
    return pc.if_else(pa.array(negative), join("-", text), text) if negative.any() else text


def scatter(base: Texts, at: np.ndarray, values: Texts) -> Texts:
    """`base` with the entries at positions `at` replaced by `values`."""
    if len(at) == len(base):
        return values
    mask = np.zeros(len(base), dtype=bool)
    mask[at] = True
    return pc.replace_with_mask(base, pa.array(mask), values)


def names(values: tuple[str | None, ...], codes: np.ndarray) -> Texts:
    return pa.array(values, pa.string()).take(pa.array(codes))


def baseline_sources(sc: Scores) -> Texts:
    """`account`, `shrunk(n=5,w=0.50,pool=views)`, `pooled(pool=followers)`, or null."""
    pool = names(POOLS, sc.pool)
    out = pc.if_else(pa.array(sc.source == ACCOUNT), "account", pa.nulls(len(pool), pa.string()))
    out = pc.if_else(pa.array(sc.source == POOLED), join("pooled(pool=", pool, ")"), out)
    shrunk = np.flatnonzero(sc.source == SHRUNK)
    if len(shrunk):
        n = pc.cast(pa.array(sc.baseline_n[shrunk]), pa.string())
        weight = fixed(sc.weight[shrunk], 2)
        text = join("shrunk(n=", n, ",w=", weight, ",pool=", pool.take(pa.array(shrunk)), ")")
        out = scatter(out, shrunk, text)
    return out


def label_columns(post_ids: pa.Array | pa.ChunkedArray, items: Items, sc: Scores, method: str) -> pa.Table:
    """The label columns of `reels` (LABEL_FIELDS) but the reason, for every item, keyed by post_id."""
    n = len(items)
    return pa.table(
        {
            "post_id": post_ids,
            "virality_label": names(LABELS, sc.label),
            "virality_tier": names(TIER_NAMES, sc.tier),
            "viral_ratio": nullable(sc.ratio),
            "robust_z": nullable(sc.z),
            "baseline_views": nullable(sc.baseline_views),
            "baseline_n": pa.array(sc.baseline_n, pa.int64()),
            "baseline_source": baseline_sources(sc),
            "engagement_rate": nullable(items.engagement),
            "virality_method": pa.array([method] * n, pa.string()) if n else pa.array([], pa.string()),
            "age_days": nullable(items.age),
            "baseline_spread": nullable(sc.spread),
            "views_per_follower": nullable(sc.views_per_follower),
            "niche_ratio": nullable(sc.niche_ratio),
        }
    )


def _days(age: Floats) -> Texts:
    """ "1 day", "12 days"."""
    return pc.if_else(pa.array(np.rint(age) == 1), "1 day", join(fixed(age, 0), " days"))


_MISSING, _ZERO, _LATE, _THIN, _SCORED = range(5)  # a reel's kind of reason, first match wins


def median_ratio_reasons(items: Items, sc: Scores, s: LabelSettings, at: np.ndarray) -> Texts:
    """Why the reels at positions `at` got their labels under the default rule, one sentence each
    (virality.md §3.7), in the order of `at`. Each kind of sentence is built only over the reels that get
    it, then all are put back in order."""
    kind = np.full(len(at), _SCORED)
    kind[sc.why[at] == THIN] = _THIN
    kind[sc.label[at] == LABELS.index("out_of_window")] = _LATE
    kind[sc.why[at] == ZERO] = _ZERO
    kind[sc.why[at] == MISSING] = _MISSING
    builders = {_MISSING: _missing, _ZERO: _zero, _LATE: _late, _THIN: _thin, _SCORED: _scored}
    positions, parts = [], []
    for code, build in builders.items():
        mine = np.flatnonzero(kind == code)
        if len(mine):
            positions.append(mine)
            parts.append(build(_Subset(items, sc, at[mine]), s))
    if not parts:
        return pa.array([], pa.string())
    where = np.concatenate(positions)
    inverse = np.empty(len(where), dtype=np.int64)
    inverse[where] = np.arange(len(where))
    return pa.concat_arrays(
        [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts]
    ).take(pa.array(inverse))


class _Subset:
    """The items and scores at some positions, and the texts the sentences share."""

    def __init__(self, items: Items, sc: Scores, at: np.ndarray) -> None:
        self.at, self.sc, self.items = at, sc, items
        self.age = items.age[at]
        self.label = sc.label[at]

    def user(self) -> Texts:
        handles = pa.array([f"@{name}" for name in self.items.account_names], pa.string())
        return handles.take(pa.array(self.items.account[self.at]))

    def old(self) -> Texts:
        return pc.if_else(pa.array(np.isnan(self.age)), "of unknown age", join(_days(self.age), " old"))

    def n(self) -> Texts:
        return pc.cast(pa.array(self.sc.baseline_n[self.at]), pa.string())


def _missing(x: _Subset, s: LabelSettings) -> Texts:
    return pa.array(["Views are missing (not zero), so there is nothing to compare."] * len(x.at))


def _zero(x: _Subset, s: LabelSettings) -> Texts:
    return join(
        "0 views when ", x.old(), ": probably a hidden count or a failed scrape, so it is not scored."
    )


def _late(x: _Subset, s: LabelSettings) -> Texts:
    window = f"{s.max_score_age_days:g}-day scoring window"
    return join("Posted ", _days(x.age), f" before its last scrape, past the {window}: not scored.")


def _thin(x: _Subset, s: LabelSettings) -> Texts:
    return join(
        "Only ", x.n(), " matured reels of ", x.user(), f" to compare with (need {s.min_baseline}),",
        f" and no pooled baseline of {s.min_pooled}+ reels across accounts to lean on.",
    )  # fmt: skip


def _scored(x: _Subset, s: LabelSettings) -> Texts:
    at, sc = x.at, x.sc
    user, n, median = x.user(), x.n(), grouped(sc.baseline_views[at])
    per = pc.if_else(pa.array(sc.pool[at] == POOLS.index("followers")), "views-per-follower", "views")
    phrase = join(
        "the pooled baseline ", median, " (all tracked accounts' ", per, " median; ", user, " has none yet)"
    )  # fmt: skip
    source = sc.source[at]
    if (source == SHRUNK).any():
        shrunk = join(
            "the baseline ", median, " (", user, "'s ", n, " matured reels shrunk toward all tracked "
            "accounts' ", per, " median, weight ", fixed(sc.weight[at], 2), ")",
        )  # fmt: skip
        phrase = pc.if_else(pa.array(source == SHRUNK), shrunk, phrase)
    own = join("the median ", median, " of ", user, "'s ", n, " matured reels (own baseline)")
    phrase = pc.if_else(pa.array(source == ACCOUNT), own, phrase)
    views, ratio, z = grouped(x.items.views[at]), fixed(sc.ratio[at], 1), fixed(sc.z[at], 1)
    text = join(views, " views = ", ratio, "× ", phrase, ", robust z ", z)
    bar = f"≥ {s.ratio_min:g}×, z ≥ {s.z_min:g} and ≥ {s.min_views:,} views"
    tail = pc.if_else(
        pa.array(x.label == LABELS.index("pending")),
        join("; ", x.old(), f", below the bar ({bar}) so far: pending until {s.min_age_days:g} days old"),
        f": below the bar ({bar})",
    )
    tier = names(TIER_NAMES, sc.tier[at])
    tail = pc.if_else(pa.array(x.label == LABELS.index("viral")), join(": viral, ", tier), tail)
    return join(
        text, tail, _signals(x.items.engagement[at], sc.niche_ratio[at], sc.views_per_follower[at]), "."
    )


def _signals(engagement: Floats, niche: Floats, per_follower: Floats) -> Texts:
    """ "; engagement 4.2% of views, 3.1× the niche median, 0.52 views per follower", or "" when none is
    known: supporting signals explain a label but never decide it."""
    parts = [
        join("engagement ", fixed(engagement * 100, 1), "% of views"),
        join(fixed(niche, 1), "× the niche median"),
        join(fixed(per_follower, 2), " views per follower"),
    ]
    listed: Texts = pa.nulls(len(engagement), pa.string())
    for part in parts:
        both = join(listed, ", ", part)
        listed = pc.if_else(pc.is_null(part), listed, pc.if_else(pc.is_null(listed), part, both))
    return pc.fill_null(join("; ", listed), "")
