"""Stage 3, label: each reel's virality against its own account's usual views (virality.md §3).

In: the label inputs of every reel (`scores.LABEL_INPUTS`: views, when posted, when scraped, the account).
Out: the label columns (`virality_label`, tier, ratio, robust z, baseline, reason, ...) on whole Arrow
arrays: `virality.rule_for(settings).labelled(table)`; `Label` records for ads (`Post`s).
Tables: none here; `reels.pipeline.labels` reads `reels` and `ads` and writes back the changed labels.
"""
