"""The analysis stage through Gemini's Batch API (`[gemini] mode = "batch"`), over `media`, `reels`,
`analyses` and `gemini_batches`.

A run first collects the batches earlier runs left pending, then submits one batch for the stored videos
with no answer yet (none already in a pending batch, at most `batch_max_tokens` of them enqueued), waits up
to `batch_wait_s` for it, and collects what finished. What is still pending then is collected by a later run
or `reels batches collect`. Nothing is asked twice:

- a batch's row is written before it is created, under the name it is created with, so a run that died
  before hearing the API's answer finds the job by that name instead of submitting it again;
- a pending batch's reels are left out of every new batch and of the direct analysis;
- a finished batch's answers are merged into `analyses` (each at the batch price) before the batch is marked
  collected, and a merge is idempotent, so a crash in between only collects it again, for nothing.

A batch that failed, expired or was cancelled, and a reel whose request hit a transient error, go back to
be asked in a later batch; a reel whose answer was unusable (blocked, not the schema) gets a failed row.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Set
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reels.analysis import Analyzer, done_keys
from reels.errors import AnalysisError, ConfigError, Transient
from reels.pipeline.analyses import (
    Tally,
    analysis_pass,
    answer_row,
    answered_notes,
    failed_row,
    journal_folder,
    not_in_batches,
    prepare,
    present_videos,
    reel_context,
    unanalyzed,
)
from reels.pipeline.job import Job, post_keys
from reels.pipeline.journal import replay
from reels.records import AnalysisRow, StageCounts
from reels.storage import Cond
from reels.storage.tables import ANALYSES, GEMINI_BATCHES, MEDIA

if TYPE_CHECKING:
    from reels.analysis.gemini_batch import BatchJob, GeminiBatches

log = logging.getLogger(__name__)

# A batch still "submitting" this long after its run started was never created, or its run died after the
# create: a later run looks it up by name then (before, the run may still be uploading beside it).
SUBMITTING_FOR = timedelta(hours=2)


def analyze_in_batches(
    job: Job,
    batcher: GeminiBatches,
    *,
    retry_failed: bool = False,
    redo: frozenset[str] = frozenset(),
    measure: Analyzer | None = None,
    wait_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> StageCounts:
    """Collect, submit, wait, collect; then the local measurements of every video (as `analyze` does)."""
    counts = StageCounts("analyze")
    recovered = replay(journal_folder(job), ANALYSES, job.store)  # a crashed direct run's answers
    if recovered:
        counts.add("recovered", recovered)
    keys = {k for k in done_keys(batcher) if k[0] not in redo}
    tally = Tally(counts, batcher.name)
    try:
        collect(job, batcher, tally)
        submit(job, batcher, keys, tally, retry_failed)
        wait = job.settings.gemini.batch_wait_s if wait_s is None else wait_s
        wait_and_collect(job, batcher, tally, wait, sleep, clock)
        if measure is not None:
            measuring = Tally(counts, measure.name, "measured", "measure_failed", tally.answered)
            analysis_pass(job, measure, done_keys(measure), measuring, retry_failed)
    finally:
        counts.notes += answered_notes(tally.answered, counts, asked=batcher.name)
        counts.notes += pending_notes(job, counts)
    return counts


def collect_batches(
    job: Job,
    batcher: GeminiBatches,
    *,
    wait_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> StageCounts:
    """Collect the pending batches that finished (waiting up to `wait_s` for the rest); submits nothing."""
    counts = StageCounts("analyze")
    tally = Tally(counts, batcher.name)
    try:
        collect(job, batcher, tally)
        wait_and_collect(job, batcher, tally, wait_s, sleep, clock)
    finally:
        counts.notes += answered_notes(tally.answered, counts, asked=batcher.name)
        counts.notes += pending_notes(job, counts)
    return counts


def cancel_batches(job: Job, batcher: GeminiBatches, batch_ids: Set[str] = frozenset()) -> StageCounts:
    """Cancel the pending batches (those of `batch_ids`, or all); their reels go back to be asked again."""
    counts = StageCounts("analyze")
    for row in active_batches(job):
        if (batch_ids and row["batch_id"] not in batch_ids) or not row["job_name"]:
            continue
        try:
            batcher.cancel(row["job_name"])
            counts.add("batch_cancelled")
        except AnalysisError as exc:
            counts.notes.append(f"batch {row['batch_id']}: could not cancel it: {exc}")
    collect(job, batcher, Tally(counts, batcher.name))
    counts.notes += pending_notes(job, counts)
    return counts


def active_batches(job: Job) -> list[dict[str, Any]]:
    """The batches not yet collected, oldest first."""
    if not job.store.exists(GEMINI_BATCHES):
        return []
    rows = job.rows(GEMINI_BATCHES, where=[Cond("collected_at", "is null")])
    return sorted(rows, key=lambda r: (r["submitted_at"], r["batch_id"]))


def pending_notes(job: Job, counts: StageCounts) -> list[str]:
    notes = []
    for row in active_batches(job):
        n = len(row["post_ids"] or ())
        counts.add("batch_pending", n)
        notes.append(
            f"batch {row['batch_id']} ({row['job_name'] or 'not created'}): {n} reels {row['state']}; "
            "the next run or `reels batches collect` collects them"
        )
    return notes


# -- submit ----------------------------------------------------------------------------------------------


def submit(
    job: Job, batcher: GeminiBatches, keys: Set[tuple[str, str, str]], tally: Tally, retry_failed: bool
) -> None:
    """One batch for the stored videos with no answer and in no pending batch, within the token budget."""
    counts = tally.counts
    todo = present_videos(job, not_in_batches(job, batcher.name, unanalyzed(job, keys, retry_failed)))
    fresh, reused, reels = prepare(job, keys, todo, tally)
    tally.merge(job, reused)
    enqueued = sum(r["est_tokens"] or 0 for r in active_batches(job) if r["model"] == batcher.model)
    budget = job.settings.gemini.batch_max_tokens - enqueued
    chosen, tokens = [], 0
    for media in fresh:
        need = batcher.tokens(media["duration_s"])
        if tokens + need > budget:
            break
        chosen.append(media)
        tokens += need
    if len(chosen) < len(fresh):
        waiting = len(fresh) - len(chosen)
        counts.add("batch_waiting", waiting)
        counts.notes.append(
            f"{waiting} reels wait for a later batch: the pending batches hold {enqueued + tokens:,} of the "
            f"{job.settings.gemini.batch_max_tokens:,} input tokens [gemini] batch_max_tokens allows"
        )
    if not chosen:
        return
    row: dict[str, Any] = dict(
        batch_id=f"reels-{job.run_id}",
        model=batcher.model,
        prompt_version=batcher.prompt_version,
        state="submitting",
        post_ids=[m["post_id"] for m in chosen],
        files=[],
        est_tokens=tokens,
        submitted_at=job.now,
        run_id=job.run_id,
    )
    job.merge(GEMINI_BATCHES, [row])  # before the job exists: a lost answer is found again by this name
    uploaded = _upload(job, batcher, chosen, tally, row)
    if not uploaded:
        _close(job, row, "unsent", error="no video could be uploaded")
        return
    row["post_ids"] = [m["post_id"] for m, _, _ in uploaded]
    contexts = [(reel_context(m, reels.get(m["post_id"], {})), uri) for m, uri, _ in uploaded]
    try:
        requests = batcher.requests(contexts)
        row["input_file"] = batcher.input_file(row["batch_id"], requests)
        job.merge(GEMINI_BATCHES, [row])  # every file it uses is known before it is created
        created = batcher.create(row["batch_id"], row["input_file"] or requests)
    except AnalysisError as exc:
        if isinstance(exc, Transient):
            # The job may exist (a create whose answer was lost): the row stays "submitting", its reels
            # pending, and a later run adopts the job by its name, or frees them once it is known not to.
            counts.notes.append(
                f"batch {row['batch_id']}: its creation is not confirmed ({exc}); a later run looks it up"
            )
            return
        _close(job, row, "unsent", error=str(exc))
        _delete_files(batcher, row)
        counts.notes.append(f"the batch was not submitted ({exc}); its reels are asked in a later run")
        return
    row.update(job_name=created.name, state=created.state, checked_at=job.now)
    job.merge(GEMINI_BATCHES, [row])
    counts.add("batch_submitted", len(uploaded))


def _upload(
    job: Job, batcher: GeminiBatches, chosen: list[dict[str, Any]], tally: Tally, row: dict[str, Any]
) -> list[tuple[dict[str, Any], str, str]]:
    """(media, file uri, file name) of the videos uploaded, recorded in `row` (so a crash leaves them known);
    a video Gemini refuses gets a failed row; one whose upload failed for a transient reason, or that left
    the media store meanwhile, is left for a later batch. A wrong API key stops it, after the record."""

    def one(media: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        try:
            return media, batcher.upload(Path(media["path"]), media["post_id"])
        except (AnalysisError, ConfigError, OSError) as exc:
            return media, exc

    done: list[tuple[dict[str, Any], str, str]] = []
    refused: list[AnalysisRow] = []
    stop: ConfigError | None = None
    with (
        job.progress("upload (gemini batch)", len(chosen)) as advance,
        ThreadPoolExecutor(batcher.concurrency) as pool,
    ):
        for media, out in pool.map(one, chosen):
            advance(1)
            if isinstance(out, ConfigError):
                stop = out
            elif isinstance(out, OSError | Transient):
                tally.counts.add("upload_failed")
            elif isinstance(out, AnalysisError):
                refused.append(failed_row(_base(job, batcher.model, batcher.prompt_version, media), str(out)))
            else:
                done.append((media, out.uri or "", out.name or ""))
    row["files"] = [name for _, _, name in done]
    job.merge(GEMINI_BATCHES, [row])
    tally.merge(job, refused)
    if stop is not None:
        _close(job, row, "unsent", error=str(stop))
        _delete_files(batcher, row)
        raise stop
    return done


def _delete_files(batcher: GeminiBatches, row: dict[str, Any], *more: str | None) -> None:
    for name in [*(row.get("files") or ()), row.get("input_file"), *more]:
        batcher.files.delete(name)


# -- collect ---------------------------------------------------------------------------------------------


def collect(job: Job, batcher: GeminiBatches, tally: Tally) -> None:
    """Ask every pending batch's state; merge the answers of those that finished."""
    for row in active_batches(job):
        try:
            if row["state"] == "submitting":
                found = _resolve(job, batcher, row)
            else:
                found = batcher.get(row["job_name"])
            if found is None:
                continue
            if not found.finished:
                if found.state != row["state"]:
                    job.merge(GEMINI_BATCHES, [row | dict(state=found.state, checked_at=job.now)])
                continue
            _finish(job, batcher, tally, row, found)
        except AnalysisError as exc:
            if isinstance(exc, Transient):
                tally.counts.notes.append(
                    f"batch {row['batch_id']}: not collected now ({exc}); a later run tries"
                )
                continue
            # The job (or its result file) is gone: nothing more will come of it.
            n = len(row["post_ids"] or ())
            _close(job, row, "lost", error=str(exc), requeued=n)
            tally.counts.add("batch_requeued", n)
            tally.counts.notes.append(
                f"batch {row['batch_id']} is lost ({exc}); its {n} reels go in a later batch"
            )


def wait_and_collect(
    job: Job,
    batcher: GeminiBatches,
    tally: Tally,
    wait_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    deadline = clock() + wait_s
    poll = job.settings.gemini.batch_poll_s
    while active_batches(job) and (left := deadline - clock()) > 0:
        sleep(min(poll, left))
        collect(job, batcher, tally)


def _resolve(job: Job, batcher: GeminiBatches, row: dict[str, Any]) -> BatchJob | None:
    """A batch recorded but not known to be created: the API's job of that name, else (once the run that
    submitted it has had time enough to finish) it was never created and its reels are free again."""
    if row["run_id"] == job.run_id or job.now - row["submitted_at"] < SUBMITTING_FOR:
        return None  # still being submitted, by this run or one running beside it
    found = batcher.find(row["batch_id"])
    if found is None:
        _close(job, row, "unsent", error="the run that submitted it stopped before the batch was created")
        _delete_files(batcher, row)
        return None
    row.update(job_name=found.name, state=found.state)
    job.merge(GEMINI_BATCHES, [row | dict(checked_at=job.now)])
    return found


def _finish(job: Job, batcher: GeminiBatches, tally: Tally, row: dict[str, Any], found: BatchJob) -> None:
    """Merge a finished batch's answers (a failed or cancelled one may carry some), put the rest back, mark
    it collected, then delete its files."""
    post_ids = list(row["post_ids"] or ())
    rows: list[AnalysisRow] = []
    requeued = len(post_ids)
    if found.state in ("succeeded", "partially_succeeded") or batcher.has_results(found):
        requeued = 0
        sha = {m["post_id"]: m for m in job.rows(MEDIA, ("post_id", "sha256"), keys=post_keys(post_ids))}
        for item in batcher.results(found, post_ids, row["model"]):
            media = sha.get(item.post_id, {"post_id": item.post_id})
            base = _base(job, row["model"], row["prompt_version"], media)
            if item.analyzed is not None:
                answer = dataclasses.replace(item.analyzed, prompt_version=row["prompt_version"])
                rows.append(answer_row(base, answer))
            elif item.transient:
                requeued += 1
            else:
                rows.append(failed_row(base, item.error or "no answer"))
        tally.merge(job, rows)  # the answers first: a crash before the row below only collects it again
    if found.state not in ("succeeded", "partially_succeeded"):
        tally.counts.notes.append(
            f"batch {row['batch_id']} {found.state}: {requeued} of {len(post_ids)} reels go in a later batch"
        )
    tally.counts.add("batch_collected")
    tally.counts.add("batch_requeued", requeued)
    _close(
        job,
        row,
        found.state,
        answered=sum(1 for r in rows if r.status == "ok"),
        failed=sum(1 for r in rows if r.status != "ok"),
        requeued=requeued,
        cost_usd=sum(r.cost_usd or 0.0 for r in rows),
    )
    # Only now: a crash before the close above must find the result file still there.
    _delete_files(batcher, row, found.source.file_name if found.source is not None else None)


def _close(job: Job, row: dict[str, Any], state: str, **done: Any) -> None:
    """The batch collected (or never created): its reels are no longer pending."""
    row.update(state=state, collected_at=job.now, collected_run_id=job.run_id, checked_at=job.now, **done)
    job.merge(GEMINI_BATCHES, [row])


def _base(job: Job, model: str, prompt_version: str, media: dict[str, Any]) -> dict[str, Any]:
    return dict(
        post_id=media["post_id"],
        analyzer="gemini",
        model=model,
        prompt_version=prompt_version,
        sha256=media.get("sha256"),
        analyzed_at=job.now,
        run_id=job.run_id,
    )


__all__ = ["active_batches", "analyze_in_batches", "cancel_batches", "collect_batches"]
