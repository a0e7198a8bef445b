"""The sources into the tables: each scrape's items into `reels`, `reel_snapshots` and `quarantine`;
an ad export into `ads`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from reels.config.fields import field_map
from reels.errors import InputError
from reels.pipeline.job import LABEL_COLUMNS, Job, post_keys
from reels.records import StageCounts, as_row
from reels.sources import ReelSource
from reels.sources import ads as ads_mod
from reels.sources.ingest import parse_items, reason_kind
from reels.storage.tables import (
    ADS,
    QUARANTINE,
    REEL_SNAPSHOTS,
    REELS,
)


def ingest(job: Job, source: ReelSource) -> StageCounts:
    """Parse every scrape of the source into reels, snapshots and quarantine rows. Reads back only the
    stored rows of the scraped reels."""
    counts = StageCounts("ingest")
    errors: Counter[tuple[str, str]] = Counter()
    reasons: Counter[str] = Counter()
    fields = field_map(job.settings.ingest.fields)
    for scrape in source.scrapes():
        batch = parse_items(
            scrape.items, source=scrape.source, scraped_at=scrape.scraped_at, run_id=job.run_id, fields=fields
        )
        counts.add("items", batch.items)
        counts.add("cost_usd_micros", round((scrape.cost_usd or 0.0) * 1e6))
        counts.add("reels", len(batch.reels))
        counts.add("quarantined", len(batch.quarantine))
        errors.update(batch.errors_by_input)
        reasons.update(reason_kind(q.reason) for q in batch.quarantine if q.kind != "error_row")
        unusable = batch.items > 0 and not batch.reels and all(q.kind == "invalid" for q in batch.quarantine)
        wanted = ("post_id", "scraped_at", *LABEL_COLUMNS)
        keys = post_keys({r.post_id for r in batch.reels})
        stored = {r["post_id"]: r for r in job.rows(REELS, wanted, keys=keys)}
        rows = []
        for reel in batch.reels:
            previous = stored.get(reel.post_id)
            if previous and previous["scraped_at"] > reel.scraped_at:
                continue  # an older scrape never overwrites newer metrics
            # Keep the label until the label stage recomputes it, so an unchanged reel stays unchanged.
            row = as_row(reel) | {c: previous.get(c) for c in LABEL_COLUMNS} if previous else as_row(reel)
            stored[reel.post_id] = row
            rows.append(row)
        new, updated = job.merge(REELS, rows)
        counts.add("new_reels", new)
        counts.add("updated_reels", updated)
        counts.add("snapshots", job.merge(REEL_SNAPSHOTS, [as_row(s) for s in batch.snapshots])[0])
        counts.add("new_quarantined", job.merge(QUARANTINE, [as_row(q) for q in batch.quarantine])[0])
        source.ingested(scrape)
        if unusable and scrape.source.startswith("file:"):
            top = reasons.most_common(1)[0][0]
            raise InputError(
                f"None of the {batch.items} items of {scrape.source[5:]} is a reel (most often: {top}); "
                "use an export of apify/instagram-reel-scraper, or map its columns in [ingest] fields."
            )
    # An error row means "this account failed", never "no new reels": say so per input.
    counts.notes += [f"scraper error {code} ×{n} for {ref}" for (ref, code), n in sorted(errors.items())]
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    counts.notes += [f"quarantined ×{n}: {reason}" for reason, n in top[:5]]
    if len(top) > 5:
        counts.notes.append(f"quarantined ×{sum(n for _, n in top[5:])} for {len(top) - 5} other reasons")
    return counts


def ingest_ads(job: Job, path: Path) -> StageCounts:
    """Read an ad-level export (CSV/XLSX) into `ads`; unusable rows go to quarantine."""
    counts = StageCounts("ingest_ads")
    rows = ads_mod.read_export(path)
    batch = ads_mod.parse_ads(
        rows, source=f"ads:{path.name}", seen_at=job.now, run_id=job.run_id, columns=job.settings.ads.columns
    )
    label_columns = ("engagement_rate", "virality_label", "virality_method")
    ids = pa.table({"ad_id": pa.array([ad["ad_id"] for ad in batch.ads], pa.string())})
    stored = {a["ad_id"]: a for a in job.rows(ADS, ("ad_id", *label_columns), keys=ids)}
    merged = [ad | {c: stored.get(ad["ad_id"], {}).get(c) for c in label_columns} for ad in batch.ads]
    new, updated = job.merge(ADS, merged)
    counts.add("rows", len(rows))
    counts.add("new_ads", new)
    counts.add("updated_ads", updated)
    counts.add("quarantined", len(batch.quarantine))
    job.merge(QUARANTINE, [as_row(q) for q in batch.quarantine])
    return counts
