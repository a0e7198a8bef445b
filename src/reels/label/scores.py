"""What every virality rule reads and writes: columns in (`Items`), columns out (`Scores`), and the codes.

Three ways in: reels (`Reel` records), any posts with a group and a view count (`Post`: the ads path), and
Arrow tables (the `reels` table plus `reel_snapshots`, so labels always use a reel's newest measurement).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reels.label.baseline import Bools, Floats, Ints
from reels.records import Reel

LABELS = ("viral", "not_viral", "pending", "insufficient_data", "out_of_window")


VIRAL, NOT_VIRAL, PENDING, INSUFFICIENT, OUT_OF_WINDOW = range(len(LABELS))


TIER_NAMES = (None, "outlier", "strong", "breakout")


POOLS = ("", "followers", "views")  # which pooled baseline a small account leans on


ACCOUNT, SHRUNK, POOLED = 1, 2, 3  # Scores.source; 0: no baseline


MISSING, ZERO, THIN = 1, 2, 3  # Scores.why, for insufficient_data


US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Post:
    """Anything with a group and a view count, e.g. an ad: all a rule needs, nothing Instagram-specific."""

    group: str
    id: str
    views: float | None
    posted_at: datetime | None
    engagement: float | None = None


@dataclass(frozen=True)
class Items:
    """A rule's input: one entry per reel (or ad), every array the same length."""

    ids: Sequence[str] | pa.Array
    account: Ints  # code into account_names
    account_names: Sequence[str]
    field: Ints  # views field code into field_names; an account's two counters are two baselines
    field_names: Sequence[str | None]
    views: Floats  # NaN: missing (never zero)
    # Times in microseconds since the epoch, as floats (exact to 285 years), so windows and ages compare
    # exactly at whole days.
    posted: Floats  # NaN: unknown
    scraped: Floats  # when `views` was measured; NaN: unknown (ads)
    pinned: Bools
    is_reel: Bools
    engagement: Floats  # (likes + comments) / views; NaN: unknown (hidden likes are not zero)
    followers: Floats  # the account's followers; NaN: unknown

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def age(self) -> Floats:
        """Days from posting to the scrape that measured `views`; NaN when either time is unknown."""
        return (self.scraped - self.posted) / US_PER_DAY

    @property
    def group(self) -> Ints:
        """Baseline key: the account and its views field together."""
        return self.account * len(self.field_names) + self.field

    @property
    def n_groups(self) -> int:
        return len(self.account_names) * len(self.field_names)


@dataclass(frozen=True)
class Scores:
    """A rule's output, one entry per item; NaN where a number does not apply."""

    label: Ints  # code into LABELS
    tier: Ints  # code into TIER_NAMES
    ratio: Floats
    z: Floats
    baseline_views: Floats
    baseline_n: Ints
    spread: Floats
    source: Ints  # 0, ACCOUNT, SHRUNK or POOLED
    pool: Ints  # code into POOLS
    weight: Floats  # the account's weight when shrunk
    why: Ints  # MISSING, ZERO or THIN when insufficient_data
    views_per_follower: Floats
    niche_ratio: Floats
    rank: Ints | None = None  # 0-based rank within its group, for rules that rank (top_percent)


def baseline_source(sc: Scores, i: int) -> str | None:
    """`account`, `shrunk(n=5,w=0.50,pool=views)`, `pooled(pool=followers)`, or None."""
    source = int(sc.source[i])
    if source == ACCOUNT:
        return "account"
    if source == SHRUNK:
        return f"shrunk(n={sc.baseline_n[i]},w={sc.weight[i]:.2f},pool={POOLS[sc.pool[i]]})"
    if source == POOLED:
        return f"pooled(pool={POOLS[sc.pool[i]]})"
    return None


def plain_floats(a: Floats) -> list[float | None]:
    return [None if math.isnan(x) else x for x in a.tolist()]


def _codes(values: pa.Array) -> tuple[Ints, list[str]]:
    encoded = values.dictionary_encode(null_encoding="encode")
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def _floats(column: pa.Array) -> Floats:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return np.asarray(
        column.cast(pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False), np.float64
    )


def _per_account(names: Sequence[str], codes: Ints, followers: Mapping[str, int] | None) -> Floats:
    known = followers or {}
    by_code = np.array([float(known.get(n) or math.nan) for n in names] + [math.nan], dtype=np.float64)
    return by_code[codes]


def items_from_arrow(table: pa.Table, followers: Mapping[str, int] | None = None) -> Items:
    """Items from a table with the `reels` columns post_id, username, views, views_field, posted_at,
    scraped_at, is_pinned, product_type, likes, comments (others are ignored)."""
    col = {name: table[name].combine_chunks() for name in table.column_names}
    account, account_names = _codes(col["username"])
    field, field_names = _codes(col["views_field"])
    views = _floats(col["views"])
    posted_us, scraped_us = _floats(col["posted_at"]), _floats(col["scraped_at"])
    interactions = _floats(col["likes"]) + _floats(col["comments"])
    with np.errstate(divide="ignore", invalid="ignore"):
        engagement = np.where(views > 0, interactions / views, np.nan)
    return Items(
        ids=col["post_id"],  # an Arrow array: a million Python strings would cost 0.15 s for nothing
        account=account,
        account_names=account_names,
        field=field,
        field_names=field_names or [None],
        views=views,
        posted=posted_us,
        scraped=scraped_us,
        pinned=col["is_pinned"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool),
        # The reel scraper's own posts are reels; only a different known product type is left out.
        is_reel=pc.equal(col["product_type"], "clips").fill_null(True).to_numpy(zero_copy_only=False),
        engagement=engagement,
        followers=_per_account(account_names, account, followers),
    )


# The columns of `reels` a label depends on: the label stage reads only these.
LABEL_INPUTS: tuple[str, ...] = ("post_id", "username", "views", "views_field", "posted_at", "scraped_at")


LABEL_INPUTS += ("is_pinned", "product_type", "likes", "comments")


def items_from_reels(reels: Sequence[Reel], followers: Mapping[str, int] | None = None) -> Items:
    rows = [{c: getattr(r, c) for c in LABEL_INPUTS} for r in reels]
    types = [pa.string(), pa.string(), pa.int64(), pa.string(), pa.timestamp("us", tz="UTC")]
    types += [pa.timestamp("us", tz="UTC"), pa.bool_(), pa.string(), pa.int64(), pa.int64()]
    schema = pa.schema(list(zip(LABEL_INPUTS, types, strict=True)))
    return items_from_arrow(pa.Table.from_pylist(rows, schema=schema), followers)


def items_from_posts(posts: Sequence[Post], followers: Mapping[str, int] | None = None) -> Items:
    """Items from posts with no scrape time: every post counts as matured and in the scoring window."""
    account, account_names = _codes(pa.array([p.group for p in posts], pa.string()))
    posted = [p.posted_at.timestamp() * 1e6 if p.posted_at else math.nan for p in posts]
    n = len(posts)
    return Items(
        ids=[p.id for p in posts],
        account=account,
        account_names=account_names,
        field=np.zeros(n, dtype=np.int64),
        field_names=[None],
        views=np.array([math.nan if p.views is None else p.views for p in posts], dtype=float),
        posted=np.array(posted, dtype=float),
        scraped=np.full(n, math.nan),
        pinned=np.zeros(n, dtype=bool),
        is_reel=np.ones(n, dtype=bool),
        engagement=np.array([math.nan if p.engagement is None else p.engagement for p in posts], dtype=float),
        followers=_per_account(account_names, account, followers),
    )


_METRICS = ("scraped_at", "views", "views_field", "likes", "comments")


def latest_metrics(reels: pa.Table, snapshots: pa.Table) -> pa.Table:
    """`reels`, in its order, with each reel's metrics from its newest snapshot when that is newer.

    Ingest keeps the two in step, so this normally changes nothing; it makes the labels follow the
    snapshot history even when a `reels` row was left behind.
    """
    if snapshots.num_rows == 0 or reels.num_rows == 0:
        return reels
    newest = snapshots.group_by("post_id", use_threads=False).aggregate([("scraped_at", "max")])
    newest = newest.rename_columns(["post_id", "scraped_at"])
    snap = snapshots.select(["post_id", *_METRICS]).join(newest, ["post_id", "scraped_at"], join_type="inner")
    snap = snap.rename_columns(["post_id", *(f"snap_{m}" for m in _METRICS)])
    keys = pa.table({"post_id": reels["post_id"], "_row": np.arange(reels.num_rows)})
    found = keys.join(snap, "post_id", join_type="left outer").sort_by("_row")  # post_id is unique in reels
    newer = pc.fill_null(pc.greater(found["snap_scraped_at"], reels["scraped_at"]), False)
    for m in _METRICS:
        merged = pc.if_else(newer, found[f"snap_{m}"], reels[m])
        reels = reels.set_column(reels.column_names.index(m), reels.schema.field(m), merged)
    return reels
