"""What the lakehouse holds, read without reading it whole: row counts from the tables' metadata, counts
grouped by the engine, and the rows that are pending or failed (never more than there are of those)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reels.storage import Cond, Store
from reels.storage.tables import ALL, ANALYSES, MEDIA, REELS, RUNS

OK = (Cond("status", "=", "ok"),)
MAX_SCATTER = 3000  # non-viral reels the report plots: an even sample beyond this
# What the report shows of a reel listed one by one.
SHOWN = (
    "post_id", "username", "url", "caption", "views", "views_field", "baseline_views", "baseline_n",
    "baseline_source", "viral_ratio", "virality_tier", "virality_label", "engagement_rate",
    "virality_reason", "posted_at",
)  # fmt: skip


@dataclass(frozen=True)
class LakeStatus:
    tables: dict[str, int | None]  # None: not created yet
    runs: list[dict[str, Any]]  # newest first
    labels: dict[str, int]
    media: dict[str, int]
    pending_download: int
    pending_analysis: int
    failures: list[dict[str, Any]]  # post_id, stage, status, error
    analyses: dict[str, int]  # "analyzer (model)" → ok analyses


def lake_status(store: Store, last_runs: int = 5) -> LakeStatus:
    tables = {name: store.count(spec) for name, spec in ALL.items()}
    runs = sorted(store.read(RUNS).to_pylist(), key=lambda r: r["started_at"], reverse=True)[:last_runs]
    labels = store.tally(REELS, ("virality_label",))
    not_tried = store.missing(REELS, MEDIA, on=("post_id",), columns=("post_id",))
    not_analyzed = store.missing(
        MEDIA, ANALYSES, on=("post_id",), columns=("post_id",), where=OK, other_where=OK
    )
    return LakeStatus(
        tables=tables,
        runs=runs,
        labels={label or "unlabelled": n for (label,), n in labels.items()},
        media={status: n for (status,), n in store.tally(MEDIA, ("status",)).items()},
        pending_download=not_tried.num_rows,
        pending_analysis=not_analyzed.num_rows,
        failures=failures(store),
        analyses={f"{a} ({m})": n for (a, m), n in store.tally(ANALYSES, ("analyzer", "model"), OK).items()},
    )


def failures(store: Store) -> list[dict[str, Any]]:
    """What failed and why: downloads not ok, and analyses that failed with no ok analysis beside them."""
    columns = ("post_id", "status", "error")
    media = store.read(MEDIA, columns, [Cond("status", "!=", "ok")]).to_pylist()
    failed = store.read(ANALYSES, columns, [Cond("status", "!=", "ok")])
    answered = store.read(ANALYSES, ("post_id",), OK, keys=failed.select(["post_id"]))
    analyzed = set(answered["post_id"].to_pylist())
    return [dict(m, stage="download") for m in media] + [
        dict(a, stage="analyze") for a in failed.to_pylist() if a["post_id"] not in analyzed
    ]


def shown_reels(store: Store, cited: set[str]) -> list[dict[str, Any]]:
    """The reels the report shows one by one: every viral reel, an even sample (by post id) of the others
    with a baseline for the scatter, and the reels the findings cite."""
    viral = store.read(REELS, SHOWN, [Cond("virality_label", "=", "viral")])
    others = store.read(
        REELS,
        ("post_id", "username", "views", "baseline_views", "virality_label"),
        [Cond("virality_label", "!=", "viral"), Cond("baseline_views", ">", 0), Cond("views", ">", 0)],
    )
    others = others.take(pc.sort_indices(others["post_id"]))
    step = max(1, -(-others.num_rows // MAX_SCATTER))
    sample = others.take(pa.array(range(0, others.num_rows, step), pa.int64()))
    keys = pa.table({"post_id": pa.array(sorted(cited), pa.string())})
    rows = {r["post_id"]: r for r in [*sample.to_pylist(), *store.read(REELS, SHOWN, keys=keys).to_pylist()]}
    rows.update((r["post_id"], r) for r in viral.to_pylist())
    return list(rows.values())
