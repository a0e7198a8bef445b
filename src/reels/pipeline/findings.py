"""The insights stage over `reels`, `analyses`, `insights` and `playbook`: the findings, then the playbook."""

from __future__ import annotations

from datetime import timedelta

from reels import insights as insights_mod
from reels.insights import playbook as playbook_mod
from reels.insights.playbook import PlaybookWriter
from reels.pipeline.job import Job, post_keys
from reels.records import StageCounts, as_row
from reels.storage import Cond
from reels.storage.tables import (
    ANALYSES,
    INSIGHTS,
    PLAYBOOK,
    REELS,
)


def insights(job: Job, *, force: bool = False) -> StageCounts:
    """Estimate every feature's within-account effect on lift, over the labelled reels posted in the last
    `[insights] window_days`; skip when the inputs have not changed, or (unless `force`) when the latest
    findings are younger than `[insights] refresh_days`: a day's reels barely move a year's estimates,
    and the estimate costs what the window holds, not what the day brought."""
    counts = StageCounts("insights")
    s = job.settings.insights
    previous = job.latest(INSIGHTS, ("run_id", "created_at", "input_fingerprint"))
    if previous and not force and job.now - previous[0]["created_at"] < timedelta(days=s.refresh_days):
        counts.notes.append(
            f"insights from {previous[0]['created_at']:%Y-%m-%d %H:%M} UTC are less than {s.refresh_days:g} "
            "days old; `reels insights` re-estimates them now"
        )
        counts.add("fresh", 1)
        return counts
    reels = job.rows(
        REELS,
        insights_mod.REEL_COLUMNS,
        [
            Cond("virality_label", "in", sorted(insights_mod.TAKING_PART)),
            Cond("viral_ratio", "is not null"),
            Cond("posted_at", ">=", job.now - timedelta(days=s.window_days)),
        ],
    )
    analyses = job.rows(
        ANALYSES, ANALYSES.narrow, [Cond("status", "=", "ok")], keys=post_keys(r["post_id"] for r in reels)
    )
    table = insights_mod.feature_table(reels, analyses, min_reels=s.min_reels)
    fingerprint = insights_mod.input_fingerprint(table, s)
    if previous and previous[0]["input_fingerprint"] == fingerprint:
        counts.notes.append("insights unchanged: no new labels or analyses since the last run")
        counts.add("unchanged", 1)
        return counts
    found = insights_mod.findings(table, s, run_id=job.run_id, now=job.now, fingerprint=fingerprint)
    if not found:
        counts.notes.append(
            f"nothing to compare yet: {len(table.post_ids)} reels labelled viral or not viral, "
            f"in {len(table.account_names)} accounts"
        )
    job.merge(INSIGHTS, [as_row(i) for i in found])
    counts.add("tests", sum(1 for i in found if i.verdict != "not_enough_data"))
    counts.add("supported", sum(1 for i in found if i.supported))
    counts.add("not_enough_data", sum(1 for i in found if i.verdict == "not_enough_data"))
    return counts


def playbook(job: Job, writer: PlaybookWriter) -> StageCounts:
    """Write the playbook from the latest run's supported insights; skip when they and the writer have not
    changed, so an unchanged re-run pays for nothing."""
    counts = StageCounts("playbook")
    latest = job.latest(INSIGHTS)
    supported = sorted(
        (insights_mod.from_row(r) for r in latest if r["supported"]), key=insights_mod.rank_key
    )
    if not supported:
        counts.notes.append("no playbook yet: no finding is supported")
        return counts
    insights_fp = supported[0].input_fingerprint
    size = job.settings.insights.playbook_size
    stored = job.latest(PLAYBOOK, ("run_id", "created_at", "input_fingerprint"))
    fingerprint = playbook_mod.playbook_fingerprint(insights_fp, writer, size)
    if stored and stored[0]["input_fingerprint"] == fingerprint:
        counts.notes.append("playbook unchanged: its findings and writer are the same as last time")
        counts.add("unchanged", 1)
        return counts
    cited = post_keys({pid for i in supported for pid in i.example_post_ids})
    reels = {r["post_id"]: r for r in job.rows(REELS, keys=cited)}
    ok = [Cond("status", "=", "ok")]
    answers = job.rows(ANALYSES, ("post_id", "summary"), ok, cited)
    summaries = {a["post_id"]: a["summary"] for a in answers if a["summary"]}
    evidence = playbook_mod.evidence(supported, reels, summaries)
    written = playbook_mod.write_playbook(
        writer,
        evidence,
        size=size,
        run_id=job.run_id,
        insights_run_id=supported[0].run_id,
        insights_fingerprint=insights_fp,
        now=job.now,
    )
    job.merge(PLAYBOOK, [as_row(r) for r in written])
    counts.add("recommendations", len(written))
    counts.add(f"by_{written[0].writer}")
    counts.add("cost_usd_micros", round(sum(r.cost_usd or 0.0 for r in written) * 1e6))
    counts.notes += [written[0].note] if written[0].note else []
    return counts
