"""A virality rule: scores whole arrays at once; labels, and their reasons, are built from the scores.

Records are built only at the edge, from the arrays: `Labelled.rows` gives the label columns of a table,
`ViralityRule.labels` one `Label` per reel or post.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from reels.config import LabelSettings
from reels.label.reasons import label_columns
from reels.label.scores import (
    LABELS,
    TIER_NAMES,
    Items,
    Post,
    Scores,
    baseline_source,
    items_from_arrow,
    items_from_posts,
    items_from_reels,
    latest_metrics,
    plain_floats,
)
from reels.records import Label, Reel


@dataclass(frozen=True, slots=True)
class ViralityLabel(Label):
    """A `Label` plus the supporting signals, which are stored next to it but never decide it."""

    age_days: float | None = None
    baseline_spread: float | None = None  # the floored log-scale spread robust_z divides by
    views_per_follower: float | None = None
    niche_ratio: float | None = None  # views / median of all tracked accounts' matured reels


class ViralityRule(ABC):
    """Turns items into scores; labels and their one-sentence reasons are built from the scores."""

    method: str

    def __init__(self, settings: LabelSettings) -> None:
        self.settings = settings

    @abstractmethod
    def scores(self, items: Items) -> Scores:
        """Every item's label code and numbers, computed on whole arrays."""

    @abstractmethod
    def reason(self, items: Items, scores: Scores, i: int) -> str:
        """One sentence on why item i got its label."""

    def reasons(self, items: Items, scores: Scores, at: np.ndarray | None = None) -> pa.Array:
        """The reasons of the items at positions `at` (all by default), in that order. Rules that can
        build them on whole arrays override this."""
        at = np.arange(len(items)) if at is None else at
        return pa.array([self.reason(items, scores, int(i)) for i in at], pa.string())

    def labelled(self, reels: pa.Table, followers: Mapping[str, int] | None = None) -> Labelled:
        """Every row's label columns but the reason, computed on whole columns of a table with the
        LABEL_INPUTS columns; the reasons are built on demand, for the rows that need them."""
        items = items_from_arrow(reels, followers)
        sc = self.scores(items)
        return Labelled(label_columns(reels["post_id"], items, sc, self.method), items, sc, self)

    def label_table(self, reels: pa.Table, followers: Mapping[str, int] | None = None) -> pa.Table:
        """Every label column of `reels` (LABEL_FIELDS, keyed by post_id), reasons included, for every row."""
        return self.labelled(reels, followers).rows()

    def labels(self, reels: Sequence[Reel], followers: Mapping[str, int] | None = None) -> list[Label]:
        """One label per reel, in the same order."""
        return self.item_labels(items_from_reels(reels, followers))

    def post_labels(self, posts: Sequence[Post], followers: Mapping[str, int] | None = None) -> list[Label]:
        """One label per post (e.g. ads, grouped by `Post.group`), in the same order."""
        return self.item_labels(items_from_posts(posts, followers))

    def table_labels(
        self,
        reels: pa.Table,
        snapshots: pa.Table | None = None,
        followers: Mapping[str, int] | None = None,
    ) -> list[Label]:
        """One label per row of a `reels` table, in order, measured at each reel's newest snapshot."""
        if snapshots is not None:
            reels = latest_metrics(reels, snapshots)
        return self.item_labels(items_from_arrow(reels, followers))

    def item_labels(self, items: Items) -> list[Label]:
        """Labels built from the scores, one per item, in order."""
        sc = self.scores(items)
        codes = zip(sc.label.tolist(), sc.tier.tolist(), strict=True)
        numbers = zip(
            plain_floats(sc.ratio),
            plain_floats(sc.z),
            plain_floats(sc.baseline_views),
            sc.baseline_n.tolist(),
            strict=True,
        )
        signals = zip(
            plain_floats(items.age),
            plain_floats(sc.spread),
            plain_floats(sc.views_per_follower),
            plain_floats(sc.niche_ratio),
            strict=True,
        )
        engagement = plain_floats(items.engagement)
        reasons = self.reasons(items, sc).to_pylist()
        ids = items.ids.to_pylist() if isinstance(items.ids, pa.Array) else list(items.ids)
        out: list[Label] = []
        for i, ((label, tier), (ratio, z, baseline, n), signal) in enumerate(
            zip(codes, numbers, signals, strict=True)
        ):
            out.append(
                ViralityLabel(
                    ids[i],
                    LABELS[label],
                    TIER_NAMES[tier],
                    ratio,
                    z,
                    baseline,
                    n,
                    baseline_source(sc, i),
                    engagement[i],
                    self.method,
                    reasons[i],
                    *signal,
                )
            )
        return out


@dataclass(frozen=True)
class Labelled:
    """A rule's labels for a table of reels: every label column but the reason, and what the reasons
    are built from."""

    table: pa.Table
    items: Items
    scores: Scores
    rule: ViralityRule

    def rows(self, at: np.ndarray | None = None) -> pa.Table:
        """The label columns of the rows at positions `at` (all by default), with their reasons."""
        if at is None:  # every row: no copy of the columns
            return self.table.append_column("virality_reason", self.rule.reasons(self.items, self.scores))
        reasons = self.rule.reasons(self.items, self.scores, at)
        return self.table.take(pa.array(at, pa.int64())).append_column("virality_reason", reasons)
