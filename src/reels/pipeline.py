"""The stages, wired to the tables: each reads what it needs, does its work, and merges its results back.

Every stage can run alone and is idempotent: it selects only the work not yet done (from the tables), and
writes by merge on the table keys, so a re-run or a resumed crash adds nothing twice and pays nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

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
from reels.report import ReportData, render_report
from reels.scoring import Post, ViralityRule
from reels.sources import ReelSource
from reels.status import failures
from reels.storage import Store
from reels.storage.tables import (
    ADS,
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
_BATCH = 32  # results are merged every this many items (and journaled one by one before that)


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

    def rows(self, spec: TableSpec) -> list[dict[str, Any]]:
        return self.store.read(spec).to_pylist()

    def merge(self, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        result = self.store.merge(spec, to_arrow(spec, list(rows)))
        return result.inserted, result.updated


def ingest(job: Job, source: ReelSource) -> StageCounts:
    """Parse every scrape of the source into reels, snapshots and quarantine rows."""
    counts = StageCounts("ingest")
    stored = {r["post_id"]: r for r in job.rows(REELS)}
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
    stored = {a["ad_id"]: a for a in job.rows(ADS)}
    label_columns = ("engagement_rate", "virality_label", "virality_method")
    merged = [ad | {c: stored.get(ad["ad_id"], {}).get(c) for c in label_columns} for ad in batch.ads]
    new, updated = job.merge(ADS, merged)
    counts.add("rows", len(rows))
    counts.add("new_ads", new)
    counts.add("updated_ads", updated)
    counts.add("quarantined", len(batch.quarantine))
    job.merge(QUARANTINE, [as_row(q) for q in batch.quarantine])
    return counts


def label(job: Job) -> StageCounts:
    """Recompute every reel's virality label from `reels` and the snapshots, all history, every run.

    So a pending reel becomes viral or not as later scrapes see it older, and changed thresholds relabel
    everything.
    """
    counts = StageCounts("label")
    rule = rule_for(job.settings.label)
    reels = job.store.read(REELS)
    verdicts = rule.table_labels(reels, job.store.read(REEL_SNAPSHOTS))
    updates = []
    for row, verdict in zip(reels.to_pylist(), verdicts, strict=True):
        counts.add(verdict.virality_label)
        updates.append(row | {c: getattr(verdict, c, None) for c in _LABEL_COLUMNS})
    counts.add("changed", job.merge(REELS, updates)[1])
    ads = job.rows(ADS)
    if ads:
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
    """Fetch the videos not yet stored; expired or dead links go to the fallbacks, in order."""
    counts = StageCounts("download")
    stored = job.rows(MEDIA)
    for row in stored:
        if row["status"] == "ok" and not job.media.has(row["sha256"]):
            row["status"] = "failed"  # the file vanished from the store: fetch it again
    todo = reels_to_download(job.rows(REELS), stored)
    counts.add("already_stored", sum(1 for m in stored if m["status"] == "ok"))
    reels = [Reel(**{c: r[c] for c in _REEL_COLUMNS}) for r in todo]
    with job.progress("download", len(reels)) as advance:
        for chunk in _chunks(reels):
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
    reels = {r["post_id"]: r for r in job.rows(REELS)}
    media = [m for m in job.rows(MEDIA) if m["status"] == "ok"]
    keys = {k for k in done_keys(analyzer) if k[0] not in redo}
    answered: Counter[tuple[str, str]] = Counter()
    try:
        done = _analysis_pass(job, analyzer, keys, media, reels, counts, answered, retry_failed=retry_failed)
        counts.add("already_analyzed", done)
        if measure is not None:
            _analysis_pass(
                job,
                measure,
                done_keys(measure),
                media,
                reels,
                counts,
                answered,
                retry_failed,
                "measured",
                "measure_failed",
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
    keys: set[tuple[str, str, str]] | frozenset[tuple[str, str, str]],
    media: Sequence[dict[str, Any]],
    reels: Mapping[str, dict[str, Any]],
    counts: StageCounts,
    answered: Counter[tuple[str, str]],
    retry_failed: bool = False,
    ok_key: str = "analyzed",
    failed_key: str = "failed",
) -> int:
    """Run `analyzer` over the videos with no row under `keys`; returns how many had one already."""
    existing = [a for a in job.rows(ANALYSES) if (a["analyzer"], a["model"], a["prompt_version"]) in keys]
    done = {a["post_id"] for a in existing if a["status"] == "ok" or not retry_failed}
    by_sha = {a["sha256"]: a for a in existing if a["status"] == "ok"}
    reused: list[AnalysisRow] = []
    fresh = []
    for m in media:
        if m["post_id"] in done:
            continue
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
                batch=_BATCH,
                advance=advance,
            )
    finally:
        counts.add("cost_usd_micros", round(cost * 1e6))
    return len({m["post_id"] for m in media} & done)


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


def insights(job: Job) -> StageCounts:
    """Estimate every feature's within-account effect on lift; skip when the inputs have not changed."""
    counts = StageCounts("insights")
    s = job.settings.insights
    table = insights_mod.feature_table(job.rows(REELS), job.rows(ANALYSES), min_reels=s.min_reels)
    fingerprint = insights_mod.input_fingerprint(table, s)
    previous = job.rows(INSIGHTS)
    if previous and max(previous, key=lambda r: r["created_at"])["input_fingerprint"] == fingerprint:
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
    latest = latest_run_rows(job.rows(INSIGHTS))
    supported = sorted(
        (insights_mod.from_row(r) for r in latest if r["supported"]), key=insights_mod.rank_key
    )
    if not supported:
        counts.notes.append("no playbook yet: no finding is supported")
        return counts
    insights_fp = supported[0].input_fingerprint
    size = job.settings.insights.playbook_size
    stored = job.rows(PLAYBOOK)
    fingerprint = playbook_mod.playbook_fingerprint(insights_fp, writer, size)
    if stored and max(stored, key=lambda r: r["created_at"])["input_fingerprint"] == fingerprint:
        counts.notes.append("playbook unchanged: its findings and writer are the same as last time")
        counts.add("unchanged", 1)
        return counts
    reels = {r["post_id"]: r for r in job.rows(REELS)}
    summaries = {a["post_id"]: a["summary"] for a in job.rows(ANALYSES) if a.get("summary")}
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


def latest_run_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (of `insights` or `playbook`) of the most recent run that wrote any."""
    if not rows:
        return []
    last = max(rows, key=lambda r: r["created_at"])["run_id"]
    return [r for r in rows if r["run_id"] == last]


def report(job: Job, current_run: Mapping[str, Any] | None = None) -> Path:
    """Write the HTML report; returns its path. `current_run`: the run in progress, shown as the latest."""
    runs = [r for r in job.rows(RUNS) if r["status"] != "running"]
    latest = latest_run_rows(job.rows(INSIGHTS))
    # A playbook written from older findings than the latest is out of date: it is not shown.
    book = [
        r
        for r in latest_run_rows(job.rows(PLAYBOOK))
        if latest and r["insights_run_id"] == latest[0]["run_id"]
    ]
    media, analyses = job.rows(MEDIA), job.rows(ANALYSES)
    data = ReportData(
        generated_at=job.now,
        run=current_run or (max(runs, key=lambda r: r["started_at"]) if runs else None),
        reels=job.rows(REELS),
        analyses=[a for a in analyses if a["status"] == "ok"],
        insights=[insights_mod.from_row(i) for i in latest],
        playbook=book,
        media_status=dict(Counter(m["status"] for m in media)),
        failures=failures(media, analyses),
        quarantined=job.store.read(QUARANTINE).num_rows,
    )
    path = job.settings.paths.report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


__all__ = ["Job", "MediaFile", "analyze", "download", "ingest", "insights", "label", "report"]
