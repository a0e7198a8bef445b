"""The analysis stage over `media`, `reels` and `analyses`: every stored video not yet analyzed by this
analyzer and prompt version is asked once; each answer is journaled as it arrives, merged in batches.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Set
from pathlib import Path
from typing import Any

import pyarrow as pa

from reels.analysis import Analyzed, Analyzer, ReelContext, attributed, done_keys
from reels.errors import AnalysisError, InvalidMedia
from reels.pipeline.job import Job, post_keys
from reels.pipeline.journal import Journal, replay, run_journaled
from reels.records import AnalysisRow, MediaFile, StageCounts, as_row
from reels.storage import Cond
from reels.storage.tables import ANALYSES, GEMINI_BATCHES, MEDIA, REELS

# Results are merged every this many items: each merge is a commit and (for new keys) a file, and the
# analyses are journaled one by one before that, so nothing paid for waits on a merge.
_ANALYSIS_BATCH = 250
_VIDEO = ("post_id", "sha256", "path", "duration_s")  # what an analyzer is given of a stored video
_STORED = (Cond("status", "=", "ok"),)
_CONTEXT = ("post_id", "username", "caption", "virality_label", "viral_ratio", "baseline_views")
_DONE = ("post_id", "analyzer", "model", "prompt_version", "status")


def analyze(
    job: Job,
    analyzer: Analyzer,
    *,
    retry_failed: bool = False,
    redo: frozenset[str] = frozenset(),
    measure: Analyzer | None = None,
    arriving: Iterable[list[MediaFile]] | None = None,
    expected: int = 0,
) -> StageCounts:
    """Analyze stored videos with no analysis yet by this analyzer (any of its models) and prompt version;
    then, with `measure` (the local analyzer, when Gemini analyzes), measure every video it has not measured.

    `redo`: analyzer names whose rows do not count as done (`--redo local` re-asks Gemini for the reels the
    local backup did when Gemini was down). The measurements come second so that a crash between the two
    never leaves a measured-only reel that would count as done for Gemini's local backup.
    `arriving`: downloads as they finish, in groups (about `expected` videos in all): each stored video is
    analyzed as soon as it arrives, before the stored videos that were waiting already.
    """
    counts = StageCounts("analyze")
    recovered = replay(journal_folder(job), ANALYSES, job.store)  # answers a crashed run had not merged
    if recovered:
        counts.add("recovered", recovered)
    keys = {k for k in done_keys(analyzer) if k[0] not in redo}
    tally = Tally(counts, analyzer.name)
    try:
        streamed = 0
        if arriving is not None:
            streamed = _stream_pass(job, analyzer, keys, tally, arriving, expected, retry_failed)
        done = analysis_pass(job, analyzer, keys, tally, retry_failed=retry_failed)
        counts.add("already_analyzed", max(0, done - streamed))
        if measure is not None:
            measuring = Tally(counts, measure.name, "measured", "measure_failed", tally.answered)
            analysis_pass(job, measure, done_keys(measure), measuring, retry_failed)
    finally:
        counts.notes += answered_notes(tally.answered, counts, asked=analyzer.name)
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


class Tally:
    """What one pass adds to the stage's counts as its rows are merged: outcomes, who answered, cost."""

    def __init__(
        self,
        counts: StageCounts,
        asked: str,
        ok_key: str = "analyzed",
        failed_key: str = "failed",
        answered: Counter[tuple[str, str]] | None = None,
    ) -> None:
        self.counts, self.asked, self.ok_key, self.failed_key = counts, asked, ok_key, failed_key
        self.answered: Counter[tuple[str, str]] = Counter() if answered is None else answered
        self.reused: set[int] = set()  # ids of the rows copied from another post's analysis

    def merge(self, job: Job, rows: list[AnalysisRow]) -> None:
        job.merge(ANALYSES, [as_row(a) for a in rows])
        cost = 0.0
        for row in rows:
            if id(row) in self.reused:
                self.counts.add("reused")
                continue
            self.counts.add(self.ok_key if row.status == "ok" else self.failed_key)
            if row.status == "ok":
                self.answered[(row.analyzer, row.model)] += 1
            if row.analyzer != self.asked:
                self.counts.add(f"by_{row.analyzer}")
            if row.service_tier and row.status == "ok":
                self.counts.add(f"tier_{row.service_tier}")
            cost += row.cost_usd or 0.0
        self.counts.add("cost_usd_micros", round(cost * 1e6))


def analysis_pass(
    job: Job, analyzer: Analyzer, keys: Set[tuple[str, str, str]], tally: Tally, retry_failed: bool = False
) -> int:
    """Run `analyzer` over the stored videos with no row under `keys`; returns how many had one already."""
    todo = unanalyzed(job, keys, retry_failed)
    stored = job.store.count(MEDIA, [Cond("status", "=", "ok")]) or 0
    todo = present_videos(job, todo)
    asked = not_in_batches(job, analyzer.name, todo)
    if len(asked) < len(todo):
        tally.counts.add("in_gemini_batches", len(todo) - len(asked))
    fresh, reused, reels = prepare(job, keys, asked, tally)
    tally.merge(job, reused)
    _run(job, analyzer, fresh, reels, tally, len(fresh))
    return stored - len(todo)


def _stream_pass(
    job: Job,
    analyzer: Analyzer,
    keys: Set[tuple[str, str, str]],
    tally: Tally,
    arriving: Iterable[list[MediaFile]],
    expected: int,
    retry_failed: bool,
) -> int:
    """Analyze the videos as they are stored; returns how many arrived."""
    seen = 0
    reels: dict[str, dict[str, Any]] = {}

    def items() -> Iterator[dict[str, Any] | AnalysisRow]:
        nonlocal seen
        for group in arriving:
            media = [{c: getattr(m, c) for c in _VIDEO} for m in group if m.status == "ok" and m.path]
            media = not_in_batches(job, analyzer.name, _not_done(job, keys, media, retry_failed))
            seen += len(media)
            fresh, reused, found = prepare(job, keys, media, tally)
            reels.update(found)
            yield from reused
            yield from fresh

    _run(job, analyzer, items(), reels, tally, expected)
    return seen


def _run(
    job: Job,
    analyzer: Analyzer,
    items: Iterable[dict[str, Any] | AnalysisRow],
    reels: Mapping[str, dict[str, Any]],
    tally: Tally,
    total: int,
) -> None:
    def one(item: dict[str, Any] | AnalysisRow) -> AnalysisRow:
        if isinstance(item, AnalysisRow):  # reused: already answered for the same video
            return item
        return _analyze_one(analyzer, item, reels.get(item["post_id"], {}), job)

    with job.progress(f"analyze ({analyzer.name})", total) as advance:
        run_journaled(
            items,
            one,
            workers=getattr(analyzer, "concurrency", None) or job.settings.analyze.concurrency,
            journal=Journal(journal_folder(job), ANALYSES, f"{job.run_id}-{analyzer.name}"),
            row_of=as_row,
            merge=lambda rows: tally.merge(job, rows),
            batch=_ANALYSIS_BATCH,
            advance=advance,
        )


def prepare(
    job: Job, keys: Set[tuple[str, str, str]], todo: list[dict[str, Any]], tally: Tally
) -> tuple[list[dict[str, Any]], list[AnalysisRow], dict[str, dict[str, Any]]]:
    """(the videos to ask about, the rows copied from an analysis of the same video under another post,
    the reels' context by post id)."""
    shas = sorted({m["sha256"] for m in todo if m["sha256"]})
    by_sha = (
        {
            a["sha256"]: a
            for a in job.rows(ANALYSES, where=[Cond("sha256", "in", shas), Cond("status", "=", "ok")])
            if (a["analyzer"], a["model"], a["prompt_version"]) in keys
        }
        if shas
        else {}
    )
    reels = {r["post_id"]: r for r in job.rows(REELS, _CONTEXT, keys=post_keys(m["post_id"] for m in todo))}
    reused = [_reuse(by_sha[m["sha256"]], m["post_id"], job) for m in todo if m["sha256"] in by_sha]
    tally.reused.update(id(r) for r in reused)
    return [m for m in todo if m["sha256"] not in by_sha], reused, reels


def _not_done(
    job: Job, keys: Set[tuple[str, str, str]], media: list[dict[str, Any]], retry_failed: bool
) -> list[dict[str, Any]]:
    """The arrived videos with no `analyses` row under `keys` (an ok one, with `retry_failed`)."""
    if not media:
        return []
    rows = job.rows(ANALYSES, _DONE, keys=post_keys(m["post_id"] for m in media))
    done = {
        r["post_id"]
        for r in rows
        if (r["analyzer"], r["model"], r["prompt_version"]) in keys
        and (r["status"] == "ok" or not retry_failed)
    }
    return [m for m in media if m["post_id"] not in done]


def unanalyzed(job: Job, keys: Set[tuple[str, str, str]], retry_failed: bool) -> list[dict[str, Any]]:
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


def present_videos(job: Job, todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The videos still in the media store; a vanished one is marked failed, so the next download fetches
    it again, instead of failing its analysis."""
    gone = {m["post_id"] for m in todo if not (m["path"] and Path(m["path"]).is_file())}
    if gone:
        error = "the video file is missing from the media store; it will be downloaded again"
        marks = post_keys(sorted(gone))
        marks = marks.append_column("status", pa.array(["failed"] * len(gone)))
        job.store.merge(MEDIA, marks.append_column("error", pa.array([error] * len(gone))))
    return [m for m in todo if m["post_id"] not in gone]


def not_in_batches(job: Job, analyzer: str, media: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`media` without the reels a Gemini batch not yet collected holds, when `analyzer` is Gemini: it is
    not asked twice (the batch's answers are paid for already)."""
    if analyzer != "gemini" or not media:
        return media
    pending = pending_in_batches(job)
    return [m for m in media if m["post_id"] not in pending] if pending else media


def pending_in_batches(job: Job) -> set[str]:
    """The post ids of every Gemini batch not yet collected."""
    if not job.store.exists(GEMINI_BATCHES):
        return set()
    rows = job.rows(GEMINI_BATCHES, ("post_ids",), [Cond("collected_at", "is null")])
    return {p for r in rows for p in r["post_ids"] or ()}


def journal_folder(job: Job) -> Path:
    """Where answered-but-not-yet-merged results wait: beside the videos, on the same disk or volume."""
    return job.media.root / ".journal"


def reel_context(media: dict[str, Any], reel: dict[str, Any]) -> ReelContext:
    """What an analyzer is told of a stored video's reel."""
    return ReelContext(
        media["post_id"],
        reel.get("username", ""),
        reel.get("caption") or "",
        reel.get("virality_label"),
        reel.get("viral_ratio"),
        reel.get("baseline_views"),
        media.get("duration_s"),
    )


def _analyze_one(analyzer: Analyzer, media: dict[str, Any], reel: dict[str, Any], job: Job) -> AnalysisRow:
    context = reel_context(media, reel)
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
        return failed_row(base, str(exc))
    return answer_row(base, attributed(out, analyzer))


def failed_row(base: dict[str, Any], error: str) -> AnalysisRow:
    """The `analyses` row of a reel that could not be analyzed, with its reason."""
    return AnalysisRow(
        **base,
        status="failed",
        error=error,
        note=None,
        fields={},
        raw_json=None,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
    )


def answer_row(base: dict[str, Any], out: Analyzed) -> AnalysisRow:
    """The `analyses` row of an answer, naming the analyzer, model and prompt version that produced it."""
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
        service_tier=out.tier,
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
