"""What the lakehouse holds: row counts, the last runs, and what is pending or failed and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from reels.storage import Store
from reels.storage.tables import ALL, ANALYSES, MEDIA, REELS, RUNS


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
    tables = {name: (store.read(spec).num_rows if store.exists(spec) else None) for name, spec in ALL.items()}
    reels = store.read(REELS).to_pylist()
    media = store.read(MEDIA).to_pylist()
    analyses = store.read(ANALYSES).to_pylist()
    stored = {m["post_id"] for m in media if m["status"] == "ok"}
    analyzed = {a["post_id"] for a in analyses if a["status"] == "ok"}
    tried = {m["post_id"] for m in media}
    runs = sorted(store.read(RUNS).to_pylist(), key=lambda r: r["started_at"], reverse=True)[:last_runs]
    return LakeStatus(
        tables=tables,
        runs=runs,
        labels=dict(Counter(r["virality_label"] or "unlabelled" for r in reels)),
        media=dict(Counter(m["status"] for m in media)),
        pending_download=sum(1 for r in reels if r["post_id"] not in tried),
        pending_analysis=len(stored - analyzed),
        failures=failures(media, analyses),
        analyses=dict(Counter(f"{a['analyzer']} ({a['model']})" for a in analyses if a["status"] == "ok")),
    )


def failures(media: list[dict[str, Any]], analyses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What failed and why: downloads not ok, and analyses that failed with no ok analysis beside them."""
    analyzed = {a["post_id"] for a in analyses if a["status"] == "ok"}
    return [
        dict(post_id=m["post_id"], stage="download", status=m["status"], error=m["error"])
        for m in media
        if m["status"] != "ok"
    ] + [
        dict(post_id=a["post_id"], stage="analyze", status=a["status"], error=a["error"])
        for a in analyses
        if a["status"] != "ok" and a["post_id"] not in analyzed
    ]
