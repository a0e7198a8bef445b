"""The report: what the tables hold, shown as one self-contained HTML file."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reels import insights as insights_mod
from reels.media.thumbnail import ensure_thumbnail
from reels.pipeline.job import Job, post_keys
from reels.pipeline.status import failures, latest_costs, shown_reels
from reels.report.render import ReportData, listed_viral, render_report
from reels.report.trends import RISING_FIELDS
from reels.storage import Cond
from reels.storage.tables import (
    ACCOUNTS,
    ANALYSES,
    INSIGHTS,
    MEDIA,
    PLAYBOOK,
    QUARANTINE,
    REELS,
    RUNS,
)


def report(job: Job, current_run: Mapping[str, Any] | None = None) -> Path:
    """Write the HTML report; returns its path. `current_run`: the run in progress, shown as the latest.

    Reads what it shows, not the lake: counts grouped by the engine, every viral reel, an even sample of
    the others for the scatter, the reels the findings cite, and the analyses of the reels listed."""
    runs = job.rows(RUNS, where=[Cond("status", "!=", "running")])
    latest = job.latest(INSIGHTS)
    # A playbook written from older findings than the latest is out of date: it is not shown.
    book = [r for r in job.latest(PLAYBOOK) if latest and r["insights_run_id"] == latest[0]["run_id"]]
    found = [insights_mod.from_row(i) for i in latest]
    reels = shown_reels(job.store, {pid for i in found for pid in i.example_post_ids})
    ok = [Cond("status", "=", "ok")]
    run = current_run or (max(runs, key=lambda r: r["started_at"]) if runs else None)
    this_run = [*ok, Cond("run_id", "=", run["run_id"])] if run else None
    posts = job.rows(REELS, _POSTS)
    viral = [p["post_id"] for p in posts if p["virality_label"] == "viral"]
    shown = listed_viral(reels)
    cited = [pid for i in found for pid in i.example_post_ids]
    newest = [r["run_id"] for r in sorted(runs, key=lambda r: r["started_at"], reverse=True)]
    costs = latest_costs(job.store, ([run["run_id"]] if run else []) + newest)
    data = ReportData(
        generated_at=job.now,
        run=run,
        reels=reels,
        analyses=job.rows(ANALYSES, ANALYSES.narrow, ok, post_keys(shown)),
        insights=found,
        playbook=book,
        media_status={status: n for (status,), n in job.store.tally(MEDIA, ("status",)).items()},
        failures=failures(job.store),
        quarantined=job.store.count(QUARANTINE) or 0,
        labels=job.store.tally(REELS, ("username", "virality_label")),
        accounts={r["username"]: r for r in job.rows(ACCOUNTS, ("username", "status", "followers"))}
        if job.store.exists(ACCOUNTS)
        else {},
        methods=[m for (m,) in job.store.tally(REELS, ("virality_method",)) if m],
        producers=_producers(job.store.tally(ANALYSES, ("analyzer", "model"), ok)),
        answered=_producers(job.store.tally(ANALYSES, ("analyzer", "model"), this_run) if this_run else {}),
        analyzed=len(job.store.tally(ANALYSES, ("post_id",), ok)),
        costs=costs["costs"],
        costs_run=costs["costs_run"],
        posts=posts,
        features=_features(job, viral),
        thumbnails=thumbnails(job, [*shown, *cited]),
        quarantine_reasons=job.store.tally(QUARANTINE, ("reason",)) if job.store.exists(QUARANTINE) else {},
    )
    path = job.settings.paths.report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


# What the week, the trends and the accounts read of every reel: narrow columns.
_POSTS = ("post_id", "username", "posted_at", "views", "virality_label", "viral_ratio")
_THUMB_MAX_BYTES = 40_000  # a thumbnail larger than this is not inlined (the report stays small)


def thumbnails(job: Job, post_ids: Iterable[str]) -> dict[str, str]:
    """post_id → the data: URI of its thumbnail, extracted now for a video stored before thumbnails were
    (once: it is kept beside the video)."""
    wanted = sorted(set(post_ids))
    if not wanted:
        return {}
    media = job.rows(MEDIA, ("post_id", "path", "duration_s"), [Cond("status", "=", "ok")], post_keys(wanted))
    out = {}
    for m in media:
        thumb = ensure_thumbnail(Path(m["path"]), m["duration_s"]) if m["path"] else None
        if thumb is not None and thumb.stat().st_size <= _THUMB_MAX_BYTES:
            out[m["post_id"]] = "data:image/jpeg;base64," + base64.b64encode(thumb.read_bytes()).decode()
    return out


def _features(job: Job, viral: list[str]) -> dict[str, dict[str, Any]]:
    """What trends count of each viral reel: its own hashtags and sound, and its analysis's fields (a
    model's answer before the local measurements)."""
    if not viral:
        return {}
    wanted = {source: [f for s, f, _ in RISING_FIELDS if s == source] for source in ("analysis", "reel")}
    present = [f for f in wanted["analysis"] if f in ANALYSES.columns]
    keys = post_keys(viral)
    rows = job.rows(ANALYSES, ("post_id", "analyzer", *present), [Cond("status", "=", "ok")], keys)
    out: dict[str, dict[str, Any]] = {
        r["post_id"]: {f: r[f] for f in wanted["reel"]}
        for r in job.rows(REELS, ("post_id", *wanted["reel"]), keys=keys)
    }
    for r in sorted(rows, key=lambda r: r["analyzer"] == "local"):
        found = out.setdefault(r["post_id"], {})
        for f in present:
            if found.get(f) is None and r[f] is not None:
                found[f] = r[f]
    return out


def _producers(tally: Mapping[tuple[Any, ...], int]) -> dict[str, int]:
    """ "gemini (gemini-3.8-flash)" → ok analyses, from a tally by (analyzer, model)."""
    return {f"{a} ({m})": n for (a, m), n in tally.items()}
