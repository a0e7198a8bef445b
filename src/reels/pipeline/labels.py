"""The label stage over `reels` (and `ads`): every label recomputed, only the changed ones written."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from reels.label.rule import ViralityRule
from reels.label.scores import LABEL_INPUTS, Post
from reels.label.virality import rule_for
from reels.pipeline.accounts import followers
from reels.pipeline.job import LABEL_COLUMNS, Job
from reels.records import StageCounts
from reels.storage import Cond
from reels.storage.rows import differing
from reels.storage.tables import ACCOUNT_SNAPSHOTS, ADS, REELS


def label(job: Job) -> StageCounts:
    """Recompute every reel's virality label from the columns of `reels` it depends on, all history, every
    run, in Arrow; write back only the labels that changed, and only the label columns.

    So a pending reel becomes viral or not as later scrapes see it older, and changed thresholds relabel
    everything.
    """
    counts = StageCounts("label")
    rule = rule_for(job.settings.label)
    # The stored reasons and methods are long and not needed to tell a change: a reason follows from the
    # other columns, and a row labelled by other settings (another method) is relabelled whole.
    compared = [c for c in LABEL_COLUMNS if c not in ("virality_reason", "virality_method")]
    reels = job.store.read(REELS, (*LABEL_INPUTS, *compared))
    other_method = job.store.read(REELS, ("post_id",), [Cond("virality_method", "!=", rule.method)])
    # Followers from the newest profile snapshots: views per follower, and the pooled baseline by followers.
    labelled = rule.labelled(reels, followers(job) if job.store.exists(ACCOUNT_SNAPSHOTS) else None)
    changed = differing(labelled.table, reels, compared)
    changed |= pc.is_in(reels["post_id"], other_method["post_id"]).to_numpy(zero_copy_only=False)
    for tally in pc.value_counts(labelled.table["virality_label"]).to_pylist():
        counts.add(tally["values"], tally["counts"])
    del reels
    counts.add("changed", job.store.merge(REELS, labelled.rows(np.flatnonzero(changed))).updated)
    if job.store.exists(ADS):
        ads = job.rows(ADS)
        for name in _label_ads(job, rule, ads):
            counts.add(f"ads_{name}")
    return counts


def _label_ads(job: Job, rule: ViralityRule, ads: list[dict[str, Any]]) -> list[str]:
    """Label ads against the other ads of the export history (one group: there is no account); returns the
    labels. Views are plays, else impressions; engagement counts every interaction."""
    posts = []
    for ad in ads:
        views = ad["plays"] if ad["plays"] is not None else ad["impressions"]
        parts = [ad[c] for c in ("likes", "comments", "shares", "saves") if ad[c] is not None]
        ad["engagement_rate"] = sum(parts) / views if views and parts else None
        posts.append(Post("ads", ad["ad_id"], views, ad["started_at"], ad["engagement_rate"]))
    labels = rule.post_labels(posts)
    for ad, verdict in zip(ads, labels, strict=True):
        ad["virality_label"], ad["virality_method"] = verdict.virality_label, verdict.virality_method
    job.merge(ADS, ads)
    return [lab.virality_label for lab in labels]
