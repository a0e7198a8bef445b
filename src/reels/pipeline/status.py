"""What the lakehouse holds, read without reading it whole: row counts from the tables' metadata, counts
grouped by the engine, and the rows that are pending or failed (never more than there are of those)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reels.report.render import MAX_POINTS, MAX_VIRAL_ROWS
from reels.storage import Cond, Store
from reels.storage.tables import ALL, ANALYSES, GEMINI_BATCHES, MEDIA, REELS, RUNS

OK = (Cond("status", "=", "ok"),)
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
    costs: dict[str, tuple[int, float]]  # "analyzer (model, tier)" → (reels, USD per 1,000), latest run
    costs_run: str | None  # the run those costs are of
    batches: list[tuple[str, str, int]]  # the Gemini batches not yet collected: (batch id, state, reels)


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
        **latest_costs(store, [r["run_id"] for r in runs]),
        batches=pending_batches(store),
    )


def pending_batches(store: Store) -> list[tuple[str, str, int]]:
    if not store.exists(GEMINI_BATCHES):
        return []
    rows = store.read(GEMINI_BATCHES, ("batch_id", "state", "post_ids"), [Cond("collected_at", "is null")])
    return sorted((r["batch_id"], r["state"], len(r["post_ids"] or ())) for r in rows.to_pylist())


def cost_per_1000(store: Store, run_id: str) -> dict[str, tuple[int, float]]:
    """What the ok analyses of one run cost per 1,000 reels, by analyzer, model and service tier."""
    columns = ("analyzer", "model", "service_tier", "cost_usd")
    rows = store.read(ANALYSES, columns, [*OK, Cond("run_id", "=", run_id)]).to_pylist()
    groups: dict[str, list[float]] = {}
    for r in rows:
        label = f"{r['analyzer']} ({r['model']}{', ' + r['service_tier'] if r['service_tier'] else ''})"
        groups.setdefault(label, []).append(r["cost_usd"] or 0.0)
    return {label: (len(c), sum(c) / len(c) * 1000) for label, c in sorted(groups.items())}


def latest_costs(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """The costs per 1,000 reels of the newest of `run_ids` (newest first) that analyzed anything."""
    for run_id in run_ids:
        costs = cost_per_1000(store, run_id)
        if costs:
            return {"costs": costs, "costs_run": run_id}
    return {"costs": {}, "costs_run": None}


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
    """The reels the report shows one by one: the viral reels with the highest ratios (whole), an even
    sample (by post id) of the viral and of the other reels with a baseline for the scatter, and the
    reels the findings cite."""
    plotted = ("post_id", "username", "views", "baseline_views", "virality_label", "viral_ratio")
    has_baseline = [Cond("baseline_views", ">", 0), Cond("views", ">", 0)]
    viral = store.read(REELS, plotted, [Cond("virality_label", "=", "viral")])
    others = store.read(REELS, plotted, [Cond("virality_label", "!=", "viral"), *has_baseline])
    top = viral.take(pc.sort_indices(viral, [("viral_ratio", "descending"), ("post_id", "ascending")]))
    listed = set(top["post_id"].slice(0, MAX_VIRAL_ROWS).to_pylist()) | cited
    rows: dict[str, dict[str, Any]] = {}
    for group in (viral, others):
        group = group.take(pc.sort_indices(group["post_id"]))
        step = max(1, -(-group.num_rows // MAX_POINTS))
        rows.update(
            (r["post_id"], r) for r in group.take(pa.array(range(0, group.num_rows, step))).to_pylist()
        )
    keys = pa.table({"post_id": pa.array(sorted(listed), pa.string())})
    rows.update((r["post_id"], r) for r in store.read(REELS, SHOWN, keys=keys).to_pylist())
    return list(rows.values())
