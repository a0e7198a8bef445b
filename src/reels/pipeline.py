"""The stages, wired to the tables: each reads what it needs, does its work, and merges its results back.

Every stage can run alone and is idempotent: it selects only the work not yet done (from the tables), and
writes by merge on the table keys, so a re-run or a resumed crash adds nothing twice and pays nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reels import ads as ads_mod
from reels import insights as insights_mod
from reels.analysis import Analyzer, ReelContext, attributed, done_keys
from reels.config import Settings
from reels.download import download_media
from reels.errors import AnalysisError, InputError, InvalidMedia
from reels.fallbacks import Fallback
from reels.ingest import field_map, parse_items, reason_kind
from reels.insights import playbook as playbook_mod
from reels.insights.playbook import PlaybookWriter
from reels.journal import Journal, replay, run_journaled
from reels.mediastore import MediaStore
from reels.records import AnalysisRow, MediaFile, Reel, StageCounts, as_row
from reels.report import ReportData, listed_viral, render_report
from reels.scoring import LABEL_INPUTS, Post, ViralityRule
from reels.sources import ReelSource
from reels.status import failures, shown_reels
from reels.storage import Cond, Store
from reels.storage.rows import differing
from reels.storage.tables import (
    ADS,
    ALL,
    ANALYSES,
    INSIGHTS,
    LABEL_FIELDS,
    MEDIA,
    PLAYBOOK,
    QUARANTINE,
    REEL_SNAPSHOTS,
    REELS,
    RUNS,
    TableSpec,
    to_arrow,
)
from reels.virality import rule_for

# A stage reports progress through this: progress(label, total) gives a context whose value is advance(n).
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
_LABEL_COLUMNS = tuple(name for name, _ in LABEL_FIELDS)
_REEL_COLUMNS = tuple(f.name for f in dataclasses.fields(Reel))
# Results are merged every this many items: each merge is a commit and (for new keys) a file, and the
# analyses are journaled one by one before that, so nothing paid for waits on a merge.
_ANALYSIS_BATCH = 250
_DOWNLOAD_BATCH = 100  # a download's result is its file on disk; the row follows within this many
_MEDIA_STATE = ("post_id", "status", "media_url", "sha256")
_VIDEO = ("post_id", "sha256", "path", "duration_s")  # what an analyzer is given of a stored video
_STORED = (Cond("status", "=", "ok"),)
_NARROW_ANALYSES = tuple(c for c in ANALYSES.columns if c not in ANALYSES.wide)
_CONTEXT = ("post_id", "username", "caption", "virality_label", "viral_ratio", "baseline_views")


def no_progress(label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


@dataclass(frozen=True)
class Job:
    """What every stage needs: settings, where the tables and videos live, this run's id and clock."""

    settings: Settings
    store: Store
    media: MediaStore
    run_id: str
    now: datetime
    progress: Progress = no_progress

    def rows(
        self,
        spec: TableSpec,
        columns: Sequence[str] | None = None,
        where: Sequence[Cond] = (),
        keys: pa.Table | None = None,
    ) -> list[dict[str, Any]]:
        return self.store.read(spec, columns, where, keys).to_pylist()

    def merge(self, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        result = self.store.merge(spec, to_arrow(spec, list(rows)))
        return result.inserted, result.updated


def post_keys(post_ids: Iterable[str]) -> pa.Table:
    """Post ids as the `keys` of a read."""
    return pa.table({"post_id": pa.array(list(post_ids), pa.string())})


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
        wanted = ("post_id", "scraped_at", *_LABEL_COLUMNS)
        keys = post_keys({r.post_id for r in batch.reels})
        stored = {r["post_id"]: r for r in job.rows(REELS, wanted, keys=keys)}
        rows = []
        for reel in batch.reels:
            previous = stored.get(reel.post_id)
            if previous and previous["scraped_at"] > reel.scraped_at:
                continue  # an older scrape never overwrites newer metrics
            # Keep the label until the label stage recomputes it, so an unchanged reel stays unchanged.
            row = as_row(reel) | {c: previous.get(c) for c in _LABEL_COLUMNS} if previous else as_row(reel)
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
    compared = [c for c in _LABEL_COLUMNS if c not in ("virality_reason", "virality_method")]
    reels = job.store.read(REELS, (*LABEL_INPUTS, *compared))
    other_method = job.store.read(REELS, ("post_id",), [Cond("virality_method", "!=", rule.method)])
    labelled = rule.labelled(reels)
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


def reels_to_download(
    reels: Sequence[dict[str, Any]], media: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Reels whose video is not stored yet and may be fetchable now.

    Retried: transient failures. A permanent failure or an expired link is retried only once the scrape
    brings a different link.
    """
    done = {m["post_id"]: m for m in media}
    todo = []
    for reel in reels:
        previous = done.get(reel["post_id"])
        retry = (
            previous is not None and previous["status"] != "ok" and previous["media_url"] != reel["media_url"]
        )
        if previous is None or previous["status"] == "failed" or retry:
            todo.append(reel)
    return todo


def download(job: Job, client: httpx.Client, fallbacks: Sequence[Fallback] = ()) -> StageCounts:
    """Fetch the videos not yet stored; expired or dead links go to the fallbacks, in order.

    Reads only the reels with no `media` row for their current link other than a transient failure (the
    engine runs that anti-join), then those reels' `media` rows: the day's new and refreshed reels, not
    the history.
    """
    counts = StageCounts("download")
    maybe = job.store.missing(
        REELS,
        MEDIA,
        on=("post_id", "media_url"),
        columns=_REEL_COLUMNS,
        other_where=[Cond("status", "!=", "failed")],
    ).to_pylist()
    stored = job.rows(MEDIA, _MEDIA_STATE, keys=post_keys(r["post_id"] for r in maybe))
    for row in stored:
        if row["status"] == "ok" and not job.media.has(row["sha256"]):
            row["status"] = "failed"  # the file vanished from the store: fetch it again
    todo = reels_to_download(maybe, stored)
    reels = [Reel(**{c: r[c] for c in _REEL_COLUMNS}) for r in todo]
    with job.progress("download", len(reels)) as advance:
        for chunk in _chunks(reels, _DOWNLOAD_BATCH):
            results = download_media(
                chunk,
                client=client,
                store=job.media,
                settings=job.settings.download,
                now=job.now,
                run_id=job.run_id,
                fallbacks=fallbacks,
            )
            job.merge(MEDIA, [as_row(m) for m in results])
            for result in results:
                counts.add(result.status)
            advance(len(chunk))
    return counts


def analyze(
    job: Job,
    analyzer: Analyzer,
    *,
    retry_failed: bool = False,
    redo: frozenset[str] = frozenset(),
    measure: Analyzer | None = None,
) -> StageCounts:
    """Analyze stored videos with no analysis yet by this analyzer (any of its models) and prompt version;
    then, with `measure` (the local analyzer, when Gemini analyzes), measure every video it has not measured.

    `redo`: analyzer names whose rows do not count as done (`--redo local` re-asks Gemini for the reels the
    local backup did when Gemini was down). The measurements come second so that a crash between the two
    never leaves a measured-only reel that would count as done for Gemini's local backup.
    """
    counts = StageCounts("analyze")
    recovered = replay(journal_folder(job), ANALYSES, job.store)  # answers a crashed run had not merged
    if recovered:
        counts.add("recovered", recovered)
    keys = {k for k in done_keys(analyzer) if k[0] not in redo}
    answered: Counter[tuple[str, str]] = Counter()
    try:
        done = _analysis_pass(job, analyzer, keys, counts, answered, retry_failed=retry_failed)
        counts.add("already_analyzed", done)
        if measure is not None:
            _analysis_pass(
                job, measure, done_keys(measure), counts, answered, retry_failed, "measured", "measure_failed"
            )
    finally:
        counts.notes += answered_notes(answered, counts, asked=analyzer.name)
    return counts


def answered_notes(answered: Counter[tuple[str, str]], counts: StageCounts, *, asked: str) -> list[str]:
    """Who really answered, per analyzer and model, and what to do when the backup stood in for Gemini."""
    if not answered:
        return []
    notes = ["answered by " + " · ".join(f"{a} ({m}) ×{n}" for (a, m), n in sorted(answered.items()))]
    stood_in = counts.counts.get("by_local", 0) if asked != "local" else 0
    if stood_in:
        notes.append(
            f"the local analyzer stood in for {asked} on {stood_in} reels; `reels analyze --redo local` "
            f"asks {asked} for them again"
        )
    return notes


def _analysis_pass(
    job: Job,
    analyzer: Analyzer,
    keys: Set[tuple[str, str, str]],
    counts: StageCounts,
    answered: Counter[tuple[str, str]],
    retry_failed: bool = False,
    ok_key: str = "analyzed",
    failed_key: str = "failed",
) -> int:
    """Run `analyzer` over the stored videos with no row under `keys`; returns how many had one already."""
    todo = _unanalyzed(job, keys, retry_failed)
    stored = job.store.count(MEDIA, [Cond("status", "=", "ok")]) or 0
    todo = _present_videos(job, todo)
    shas = sorted({m["sha256"] for m in todo if m["sha256"]})
    by_sha = {
        a["sha256"]: a
        for a in job.rows(ANALYSES, where=[Cond("sha256", "in", shas), Cond("status", "=", "ok")])
        if (a["analyzer"], a["model"], a["prompt_version"]) in keys
    }
    reels = {r["post_id"]: r for r in job.rows(REELS, _CONTEXT, keys=post_keys(m["post_id"] for m in todo))}
    reused: list[AnalysisRow] = []
    fresh = []
    for m in todo:
        cached = by_sha.get(m["sha256"])
        if cached:  # the same video under another post: reuse, pay nothing
            reused.append(_reuse(cached, m["post_id"], job))
            counts.add("reused")
        else:
            fresh.append(m)
    job.merge(ANALYSES, [as_row(a) for a in reused])
    cost = 0.0

    def one(m: dict[str, Any]) -> AnalysisRow:
        return _analyze_one(analyzer, m, reels.get(m["post_id"], {}), job)

    def merge(rows: list[AnalysisRow]) -> None:
        nonlocal cost
        job.merge(ANALYSES, [as_row(a) for a in rows])
        for row in rows:
            counts.add(ok_key if row.status == "ok" else failed_key)
            if row.status == "ok":
                answered[(row.analyzer, row.model)] += 1
            if row.analyzer != analyzer.name:
                counts.add(f"by_{row.analyzer}")
            cost += row.cost_usd or 0.0

    try:
        with job.progress(f"analyze ({analyzer.name})", len(fresh)) as advance:
            run_journaled(
                fresh,
                one,
                workers=getattr(analyzer, "concurrency", None) or job.settings.analyze.concurrency,
                journal=Journal(journal_folder(job), ANALYSES, f"{job.run_id}-{analyzer.name}"),
                row_of=as_row,
                merge=merge,
                batch=_ANALYSIS_BATCH,
                advance=advance,
            )
    finally:
        counts.add("cost_usd_micros", round(cost * 1e6))
    return stored - len(todo)


def _unanalyzed(job: Job, keys: Set[tuple[str, str, str]], retry_failed: bool) -> list[dict[str, Any]]:
    """Stored videos with no `analyses` row under `keys` (an ok one, with `retry_failed`): one anti-join
    per (analyzer, prompt version) of the keys, run by the engine, intersected here."""
    groups: dict[tuple[str, str], set[str]] = {}
    for name, model, prompt in keys:
        groups.setdefault((name, prompt), set()).add(model)
    todo: dict[str, dict[str, Any]] | None = None
    for (name, prompt), models in sorted(groups.items()):
        done_where = [
            Cond("analyzer", "=", name),
            Cond("prompt_version", "=", prompt),
            Cond("model", "in", sorted(models)),
            *([Cond("status", "=", "ok")] if retry_failed else []),
        ]
        rows = job.store.missing(
            MEDIA, ANALYSES, on=("post_id",), columns=_VIDEO, where=_STORED, other_where=done_where
        ).to_pylist()
        found = {r["post_id"]: r for r in rows}
        todo = found if todo is None else {k: v for k, v in todo.items() if k in found}
    if todo is None:  # no keys: nothing counts as done
        todo = {r["post_id"]: r for r in job.rows(MEDIA, _VIDEO, _STORED)}
    return sorted(todo.values(), key=lambda m: m["post_id"])


def _present_videos(job: Job, todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The videos still in the media store; a vanished one is marked failed, so the next download fetches
    it again, instead of failing its analysis."""
    gone = {m["post_id"] for m in todo if not (m["path"] and Path(m["path"]).is_file())}
    if gone:
        error = "the video file is missing from the media store; it will be downloaded again"
        marks = post_keys(sorted(gone))
        marks = marks.append_column("status", pa.array(["failed"] * len(gone)))
        job.store.merge(MEDIA, marks.append_column("error", pa.array([error] * len(gone))))
    return [m for m in todo if m["post_id"] not in gone]


def journal_folder(job: Job) -> Path:
    """Where answered-but-not-yet-merged results wait: beside the videos, on the same disk or volume."""
    return job.media.root / ".journal"


def _analyze_one(analyzer: Analyzer, media: dict[str, Any], reel: dict[str, Any], job: Job) -> AnalysisRow:
    context = ReelContext(
        media["post_id"],
        reel.get("username", ""),
        reel.get("caption") or "",
        reel.get("virality_label"),
        reel.get("viral_ratio"),
        reel.get("baseline_views"),
        media.get("duration_s"),
    )
    base = dict(
        post_id=media["post_id"],
        analyzer=analyzer.name,
        model=analyzer.model,
        prompt_version=analyzer.prompt_version,
        sha256=media["sha256"],
        analyzed_at=job.now,
        run_id=job.run_id,
    )
    try:
        out = analyzer.analyze(Path(media["path"]), context)
    except (AnalysisError, InvalidMedia) as exc:
        return AnalysisRow(
            **base,
            status="failed",
            error=str(exc),
            note=None,
            fields={},
            raw_json=None,
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
        )
    out = attributed(out, analyzer)
    produced_by = dict(analyzer=out.analyzer, model=out.model, prompt_version=out.prompt_version)
    return AnalysisRow(
        **base | produced_by,
        status="ok",
        error=None,
        note=out.note,
        fields=out.analysis.model_dump(),
        raw_json=out.raw_json or out.analysis.model_dump_json(),
        input_tokens=out.input_tokens,
        output_tokens=out.output_tokens,
        cost_usd=out.cost_usd,
    )


def _reuse(cached: dict[str, Any], post_id: str, job: Job) -> AnalysisRow:
    fields = {k: v for k, v in cached.items() if k not in {f.name for f in dataclasses.fields(AnalysisRow)}}
    meta = {f.name: cached[f.name] for f in dataclasses.fields(AnalysisRow) if f.name != "fields"}
    return AnalysisRow(
        **meta
        | dict(
            post_id=post_id,
            fields=fields,
            cost_usd=0.0,
            input_tokens=0,
            output_tokens=0,
            analyzed_at=job.now,
            run_id=job.run_id,
        )
    )


def insights(job: Job, *, force: bool = False) -> StageCounts:
    """Estimate every feature's within-account effect on lift, over the labelled reels posted in the last
    `[insights] window_days`; skip when the inputs have not changed, or (unless `force`) when the latest
    findings are younger than `[insights] refresh_days`: a day's reels barely move a year's estimates,
    and the estimate costs what the window holds, not what the day brought."""
    counts = StageCounts("insights")
    s = job.settings.insights
    previous = _latest(job, INSIGHTS, ("run_id", "created_at", "input_fingerprint"))
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
        ANALYSES, _NARROW_ANALYSES, [Cond("status", "=", "ok")], keys=post_keys(r["post_id"] for r in reels)
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
    latest = _latest(job, INSIGHTS)
    supported = sorted(
        (insights_mod.from_row(r) for r in latest if r["supported"]), key=insights_mod.rank_key
    )
    if not supported:
        counts.notes.append("no playbook yet: no finding is supported")
        return counts
    insights_fp = supported[0].input_fingerprint
    size = job.settings.insights.playbook_size
    stored = _latest(job, PLAYBOOK, ("run_id", "created_at", "input_fingerprint"))
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


def _latest(job: Job, spec: TableSpec, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows (of `insights` or `playbook`) of the most recent run that wrote any: found from two narrow
    columns, then read by run id."""
    runs = job.store.read(spec, ("run_id", "created_at"))
    if runs.num_rows == 0:
        return []
    last = runs.take([pc.index(runs["created_at"], pc.max(runs["created_at"])).as_py()])["run_id"][0]
    return job.rows(spec, columns, [Cond("run_id", "=", last.as_py())])


def report(job: Job, current_run: Mapping[str, Any] | None = None) -> Path:
    """Write the HTML report; returns its path. `current_run`: the run in progress, shown as the latest.

    Reads what it shows, not the lake: counts grouped by the engine, every viral reel, an even sample of
    the others for the scatter, the reels the findings cite, and the analyses of the reels listed."""
    runs = job.rows(RUNS, where=[Cond("status", "!=", "running")])
    latest = _latest(job, INSIGHTS)
    # A playbook written from older findings than the latest is out of date: it is not shown.
    book = [r for r in _latest(job, PLAYBOOK) if latest and r["insights_run_id"] == latest[0]["run_id"]]
    found = [insights_mod.from_row(i) for i in latest]
    reels = shown_reels(job.store, {pid for i in found for pid in i.example_post_ids})
    ok = [Cond("status", "=", "ok")]
    run = current_run or (max(runs, key=lambda r: r["started_at"]) if runs else None)
    this_run = [*ok, Cond("run_id", "=", run["run_id"])] if run else None
    data = ReportData(
        generated_at=job.now,
        run=run,
        reels=reels,
        analyses=job.rows(ANALYSES, _NARROW_ANALYSES, ok, post_keys(listed_viral(reels))),
        insights=found,
        playbook=book,
        media_status={status: n for (status,), n in job.store.tally(MEDIA, ("status",)).items()},
        failures=failures(job.store),
        quarantined=job.store.count(QUARANTINE) or 0,
        labels=job.store.tally(REELS, ("username", "virality_label")),
        methods=[m for (m,) in job.store.tally(REELS, ("virality_method",)) if m],
        producers=_producers(job.store.tally(ANALYSES, ("analyzer", "model"), ok)),
        answered=_producers(job.store.tally(ANALYSES, ("analyzer", "model"), this_run) if this_run else {}),
        analyzed=len(job.store.tally(ANALYSES, ("post_id",), ok)),
    )
    path = job.settings.paths.report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


def maintain(job: Job) -> StageCounts:
    """Compact each table's small files and vacuum the files no recent version needs ([storage] settings).
    Runs after the stages, when nothing else writes; an answered call was merged (or journaled) before."""
    counts = StageCounts("maintain")
    st = job.settings.storage
    for spec in ALL.values():
        done = job.store.maintain(
            spec,
            min_files=st.compact_min_files,
            target_mb=st.target_file_mb,
            retain_hours=st.vacuum_retention_hours,
        )
        counts.add("files_compacted", done.files_compacted)
        counts.add("files_written", done.files_written)
        counts.add("files_vacuumed", done.files_vacuumed)
        if done.note and done.note not in counts.notes:
            counts.notes.append(done.note)
    return counts


def _producers(tally: Mapping[tuple[Any, ...], int]) -> dict[str, int]:
    """ "gemini (gemini-3.8-flash)" → ok analyses, from a tally by (analyzer, model)."""
    return {f"{a} ({m})": n for (a, m), n in tally.items()}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = ["Job", "MediaFile", "analyze", "download", "ingest", "insights", "label", "maintain", "report"]
