"""Time the default virality rule on 1,000,000 reels over 10,000 accounts, next to a plain pandas version.

Both start from the same Arrow table (the shape `reels` has) and end with a label per reel; the script
checks that they agree on every reel. The pandas version is the rule written the obvious way: one function
per account, applied with `groupby().apply()`, each reel of the baseline set leaving itself out in a loop.
Targets: ≤ 3 s and ≥ 20× faster than pandas on a 2-core machine. Then the whole label computation the
label stage runs (`label_table`: every label column, tiers and reason sentences, from the same table),
target ≤ 3 s.

Usage: python benchmarks/bench_virality.py [--reels N] [--accounts N] [--repeat N] [--no-pandas] [--records]
(pandas is in the `test` extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from reels.config import LabelSettings
from reels.label.scores import LABELS
from reels.label.virality import MedianRatioRule, items_from_arrow

T = datetime(2026, 11, 16, tzinfo=UTC)
US_PER_DAY = 86_400_000_000


def synthetic(n_reels: int, n_accounts: int, seed: int = 7) -> pa.Table:
    """Accounts of very different sizes and levels, with every edge case the rule handles."""
    rng = np.random.default_rng(seed)
    weight = rng.lognormal(0, 1, n_accounts)  # some accounts have a handful of reels, some hundreds
    sizes = 1 + rng.multinomial(n_reels - n_accounts, weight / weight.sum())
    account = np.repeat(np.arange(n_accounts), sizes)
    level = rng.uniform(np.log(500), np.log(1e6), n_accounts)[account]
    spread = rng.uniform(0.3, 1.2, n_accounts)[account]
    views = np.exp(level + spread * rng.standard_normal(n_reels))
    views *= np.where(rng.random(n_reels) < 0.03, rng.uniform(5, 30, n_reels), 1.0)  # planted hits
    views = views.round().astype(np.int64)
    views[rng.random(n_reels) < 0.005] = 0
    missing = rng.random(n_reels) < 0.01
    field = np.where(rng.random(n_accounts) < 0.05, "videoViewCount", "videoPlayCount")[account]
    scraped = int(T.timestamp() * 1e6) - np.where(rng.random(n_reels) < 0.1, 7 * US_PER_DAY, 0)
    posted = scraped - (rng.uniform(0, 120, n_reels) * US_PER_DAY).astype(np.int64)
    us = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "post_id": pa.array([f"p{i:07d}" for i in range(n_reels)]),
            "username": pa.array([f"cat{a:05d}" for a in range(n_accounts)]).take(pa.array(account)),
            "views": pa.array(views, mask=missing),
            "views_field": pa.array(field, mask=missing),
            "posted_at": pa.array(posted, us),
            "scraped_at": pa.array(scraped, us),
            "is_pinned": pa.array(rng.random(n_reels) < 0.01),
            "product_type": pa.array(np.where(rng.random(n_reels) < 0.01, "igtv", "clips")),
            "likes": pa.array(rng.integers(0, 10_000, n_reels)),
            "comments": pa.array(rng.integers(0, 500, n_reels)),
        }
    )


def numpy_labels(table: pa.Table, settings: LabelSettings) -> np.ndarray:
    """The production path: Arrow columns → arrays → label codes."""
    return MedianRatioRule(settings).scores(items_from_arrow(table)).label


def pandas_labels(table: pa.Table, s: LabelSettings) -> np.ndarray:
    """The same rule, straightforward pandas: per-account baselines with groupby().apply()."""
    import pandas as pd

    df = table.select(
        ["username", "views", "views_field", "posted_at", "scraped_at", "is_pinned"]
    ).to_pandas()
    df["product_type"] = table["product_type"].to_pandas()
    df["views_field"] = df["views_field"].fillna("")
    df["age"] = (df.scraped_at - df.posted_at) / pd.Timedelta(days=1)
    df["logv"] = np.log(df.views.clip(lower=1))
    zero = (df.views <= 0) & (df.age >= 1)
    df["base_ok"] = df.views.notna() & ~zero & ~df.is_pinned & (df.product_type == "clips")
    df["base_ok"] &= df.age >= s.min_age_days
    size = s.baseline_reels

    def account(g: pd.DataFrame) -> pd.DataFrame:
        ok = g[g.base_ok]
        ok = ok[ok.posted_at >= ok.scraped_at.max() - pd.Timedelta(days=s.lookback_days)]
        top = ok.sort_values("posted_at", ascending=False, kind="stable").head(size + 1)
        logs, views = top.logv.to_numpy(), top.views.to_numpy(dtype=float)

        def stats(x: np.ndarray, v: np.ndarray) -> tuple[int, float, float, float]:
            if len(x) == 0:
                return 0, np.nan, np.nan, np.nan
            m = np.median(x)
            return len(x), m, 1.4826 * np.median(np.abs(x - m)), np.median(v)

        whole = stats(logs[:size], views[:size])
        rows = {idx: (*whole, False, *whole[:3]) for idx in g.index}
        for j, idx in enumerate(top.index[:size]):  # a reel in the set is compared with the others
            others = np.delete(np.arange(len(top)), j)[:size]
            rows[idx] = (*stats(logs[others], views[others]), True, *whole[:3])
        columns = ["n", "centre", "spread", "median_views", "member", "set_n", "set_centre", "set_spread"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)

    base = df.groupby(["username", "views_field"], dropna=False, sort=False)[list(df.columns)].apply(account)
    df = df.join(base.reset_index(level=[0, 1], drop=True))
    members = df[df.member.astype(bool)]
    pooled = members.groupby("views_field").logv.agg(["count", "median"])
    members = members.join(pooled["median"].rename("pm"), on="views_field")
    pooled["spread"] = 1.4826 * (members.logv - members.pm).abs().groupby(members.views_field).median()
    # Without followers: shrink by n / (n + σ²/τ²), from the accounts with a full baseline.
    settled = df[df.set_n >= s.min_baseline].drop_duplicates(["username", "views_field"])
    by_field = settled.groupby("views_field")
    level = settled.set_centre - by_field.set_centre.transform("median")
    pooled["accounts"] = by_field.size()
    pooled["sigma"] = np.maximum(by_field.set_spread.median(), s.mad_floor)
    pooled["k"] = (pooled.sigma / (1.4826 * level.abs().groupby(settled.views_field).median())) ** 2
    pool = df[["views_field"]].join(pooled, on="views_field")
    has_pool = (pool["count"].fillna(0).to_numpy() >= s.min_pooled) & (
        pool.accounts.fillna(0).to_numpy() >= 2
    )

    n = df.n.to_numpy(dtype=float)
    own = n >= s.min_baseline
    w = n / (n + pool.k.to_numpy())
    centre = np.where(own, df.centre, w * np.nan_to_num(df.centre.to_numpy(float)) + (1 - w) * pool["median"])
    spread = np.where(n >= 3, df.spread, np.where(n > 0, pool.sigma, pool.spread))
    spread = np.maximum(spread, s.mad_floor)
    baseline = np.where(own, df.median_views, np.exp(centre))
    views, age = df.views.to_numpy(dtype=float, na_value=np.nan), df.age.to_numpy()
    ratio = views / np.maximum(baseline, 1)
    z = (df.logv.to_numpy(float) - centre) / spread
    viral = (ratio >= s.ratio_min * (1 - 1e-9)) & (z >= s.z_min - 1e-9) & (views >= s.min_views)
    label = np.where(viral, 0, np.where(age < s.min_age_days, 2, 1))
    label[~(own | has_pool)] = 3
    label[age > s.max_score_age_days] = 4
    label[zero.to_numpy() | np.isnan(views)] = 3
    return label


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reels", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="numpy runs (the first is cold)")
    parser.add_argument("--no-pandas", action="store_true", help="skip the (slow) pandas comparison")
    parser.add_argument("--records", action="store_true", help="also time building Label records")
    args = parser.parse_args()
    settings = LabelSettings()
    table = synthetic(args.reels, args.accounts)
    print(f"labelling {args.reels:,} reels over {args.accounts:,} accounts ({os.cpu_count()} cores)")

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fast = numpy_labels(table, settings)
        times.append(time.perf_counter() - start)
    best = min(times)
    counts = ", ".join(
        f"{LABELS[c]} {n:,}" for c, n in zip(*np.unique(fast, return_counts=True), strict=True)
    )
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(
        f"numpy (reels.label.virality):   {best:7.2f} s  {args.reels / best:12,.0f} rows/s  (runs: {runs} s)"
    )
    print(f"  labels: {counts}")
    stage = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        columns = MedianRatioRule(settings).label_table(table)
        stage.append(time.perf_counter() - start)
    runs = ", ".join(f"{t:.2f}" for t in stage)
    print(
        f"every label column with its reason (label_table, what the label stage computes): "
        f"{min(stage):.2f} s best, {statistics.median(stage):.2f} s median (runs: {runs} s; target ≤ 3 s)"
    )
    print(f"  e.g. {columns['virality_reason'][int(np.argmax(fast == 0))].as_py()}")
    if args.records:
        start = time.perf_counter()
        MedianRatioRule(settings).table_labels(table)
        took = time.perf_counter() - start
        print(f"  with Label records and reasons: {took:.2f} s  {args.reels / took:,.0f} rows/s")
    if args.no_pandas:
        return
    start = time.perf_counter()
    slow = pandas_labels(table, settings)
    took = time.perf_counter() - start
    print(f"pandas groupby().apply(): {took:7.2f} s  {args.reels / took:12,.0f} rows/s")
    agree = int((slow == fast).sum())
    typical = statistics.median(times)
    print(f"speed-up: {took / typical:.0f}× (against the median numpy run)")
    print(f"labels agree on {agree:,} of {args.reels:,} reels")
    if agree != args.reels:
        raise SystemExit("the two implementations disagree")


if __name__ == "__main__":
    main()
