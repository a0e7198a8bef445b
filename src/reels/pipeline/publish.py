"""The report: what the tables hold, shown as one self-contained HTML file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reels import insights as insights_mod
from reels.pipeline.job import Job, post_keys
from reels.pipeline.status import cost_per_1000, failures, shown_reels
from reels.report.render import ReportData, listed_viral, render_report
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
    data = ReportData(
        generated_at=job.now,
        run=run,
        reels=reels,
        analyses=job.rows(ANALYSES, ANALYSES.narrow, ok, post_keys(listed_viral(reels))),
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
        costs=cost_per_1000(job.store, run["run_id"]) if run else {},
    )
    path = job.settings.paths.report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


def _producers(tally: Mapping[tuple[Any, ...], int]) -> dict[str, int]:
    """ "gemini (gemini-3.8-flash)" → ok analyses, from a tally by (analyzer, model)."""
    return {f"{a} ({m})": n for (a, m), n in tally.items()}
