"""Gemini's Batch API (`[gemini] mode = "batch"`), through the real SDK against the local fake Gemini's batch
routes (tests/fakes/gemini_batches.py): jobs that succeed, partly fail, fail, expire or are cancelled, results
inline and as a file, a create whose answer was lost, a run that died mid-submission, the token budget."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reels import pipeline
from reels.analysis.gemini_batch import GeminiBatches
from reels.pipeline.batches import analyze_in_batches, cancel_batches, collect_batches
from reels.pipeline.status import cost_per_1000
from reels.storage.tables import ANALYSES, GEMINI_BATCHES
from tests.factories import reels_process
from tests.fakes.gemini_server import FakeGemini
from tests.test_gemini import PRIMARY, SAMPLE_MEDIA, context, fast_settings, gemini, job_with_media

BATCH = (1200 * 0.75 + 180 * 3.75) / 1e6 * 0.5  # the fake's token counts at half the primary's price
VIDEOS = SAMPLE_MEDIA[:6]
IDS = [v.stem for v in VIDEOS]


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(seed=3) as server:
        yield server


def batch_job(tmp_path: Path, fake: FakeGemini, run: str = "run-1", **gemini: Any) -> pipeline.Job:
    job = job_with_media(tmp_path, VIDEOS)
    chosen = dict(mode="batch", batch_wait_s=5, batch_poll_s=0.02, upload_timeout_s=5) | gemini
    settings = fast_settings(fake, **chosen)
    return replace(job, settings=replace(job.settings, gemini=settings), run_id=run)


def later(job: pipeline.Job, run: str, **gemini: Any) -> pipeline.Job:
    settings = replace(job.settings, gemini=replace(job.settings.gemini, **gemini))
    return replace(job, run_id=run, now=job.now + timedelta(hours=1), settings=settings)


def batcher(job: pipeline.Job) -> GeminiBatches:
    return GeminiBatches.from_settings(job.settings.gemini, "test-key")


def analyses(job: pipeline.Job) -> dict[str, dict[str, Any]]:
    return {r["post_id"]: r for r in job.store.read(ANALYSES).to_pylist()}


def batches(job: pipeline.Job) -> list[dict[str, Any]]:
    return sorted(job.store.read(GEMINI_BATCHES).to_pylist(), key=lambda r: r["batch_id"])


def test_a_batch_is_submitted_inline_collected_in_the_same_run_and_costs_the_batch_price(
    tmp_path: Path, fake: FakeGemini
) -> None:
    job = batch_job(tmp_path, fake)
    counts = analyze_in_batches(job, batcher(job))

    assert fake.counts["batches.create"] == 1 and fake.counts["generate"] == 0
    assert sorted(r["post_id"] for r in fake.requests) == sorted(IDS)
    assert all(r["via"] == "batch" and r["schema"] and r["system"] for r in fake.requests)
    rows = analyses(job)
    assert sorted(rows) == sorted(IDS)
    assert {(r["status"], r["service_tier"], r["model"]) for r in rows.values()} == {("ok", "batch", PRIMARY)}
    assert all(r["cost_usd"] == pytest.approx(BATCH) for r in rows.values())
    assert counts.counts["analyzed"] == 6 and counts.counts["tier_batch"] == 6
    assert counts.counts["cost_usd_micros"] == round(6 * BATCH * 1e6)
    (row,) = batches(job)
    assert (
        row["state"] == "succeeded" and row["input_file"] is None and row["job_name"].startswith("batches/")
    )
    assert (row["answered"], row["failed"], row["requeued"]) == (6, 0, 0)
    assert row["collected_at"] is not None and row["cost_usd"] == pytest.approx(6 * BATCH)
    assert fake.files == {}  # every uploaded video deleted once collected
    assert cost_per_1000(job.store, "run-1") == {
        f"gemini ({PRIMARY}, batch)": (6, pytest.approx(BATCH * 1000))
    }


def test_a_large_batch_goes_as_a_jsonl_file_and_its_results_come_back_as_a_file(
    tmp_path: Path, fake: FakeGemini
) -> None:
    fake.batch_extra = {"aFieldFromANewerApi": {"x": 1}}  # read as the SDK reads it: ignored
    job = batch_job(tmp_path, fake, batch_inline_max_bytes=1000)
    analyze_in_batches(job, batcher(job))
    (row,) = batches(job)
    assert row["input_file"].startswith("files/") and row["state"] == "succeeded"
    assert fake.counts["files.download"] == 1
    assert {r["status"] for r in analyses(job).values()} == {"ok"} and len(analyses(job)) == 6
    assert fake.files == {}  # the videos, the input file and the result file


def test_a_partly_failed_batch_keeps_the_answers_fails_the_unusable_and_asks_the_transient_again(
    tmp_path: Path, fake: FakeGemini
) -> None:
    fake.per_post.update({IDS[0]: "503", IDS[1]: "schema", IDS[2]: "blocked", IDS[3]: "400"})
    fake.batch_extra = {"aFieldFromANewerApi": {"x": 1}}  # read as the SDK reads it: ignored
    job = batch_job(tmp_path, fake)
    counts = analyze_in_batches(job, batcher(job))
    rows = analyses(job)
    assert IDS[0] not in rows  # transient: no row, so the next batch asks again
    assert {p: rows[p]["status"] for p in IDS[1:]} == {
        IDS[1]: "failed", IDS[2]: "failed", IDS[3]: "failed", IDS[4]: "ok", IDS[5]: "ok"
    }  # fmt: skip
    assert "not the schema" in rows[IDS[1]]["error"] and "blocked" in rows[IDS[2]]["error"]
    assert "400" in rows[IDS[3]]["error"]
    assert counts.counts["batch_requeued"] == 1 and counts.counts["failed"] == 3
    (row,) = batches(job)
    assert (row["answered"], row["failed"], row["requeued"]) == (2, 3, 1)

    fake.per_post.clear()
    second = later(job, "run-2")
    analyze_in_batches(second, batcher(second))
    assert [r["post_id"] for r in fake.requests if r["batch"] != row["job_name"]] == [IDS[0]]
    assert analyses(second)[IDS[0]]["status"] == "ok"


@pytest.mark.parametrize("outcome", ["fail", "expire", "cancel"])
def test_a_batch_that_failed_expired_or_was_cancelled_puts_its_reels_back(
    tmp_path: Path, fake: FakeGemini, outcome: str
) -> None:
    job = batch_job(tmp_path, fake, batch_wait_s=0)
    if outcome != "cancel":
        fake.batch_outcomes.append(outcome)
    analyze_in_batches(job, batcher(job))
    assert batches(job)[0]["collected_at"] is None  # left pending: no wait
    second = later(job, "run-2", batch_wait_s=5)
    if outcome == "cancel":
        counts = cancel_batches(second, batcher(second))
        assert counts.counts["batch_cancelled"] == 1
    else:
        counts = collect_batches(second, batcher(second), wait_s=5, sleep=lambda s: None)
    first = batches(second)[0]
    state = {"fail": "failed", "expire": "expired", "cancel": "cancelled"}[outcome]
    assert first["state"] == state and first["requeued"] == 6 and first["collected_at"] is not None
    assert any(f"{state}: 6 of 6 reels go in a later batch" in n for n in counts.notes)
    assert analyses(second) == {}

    third = later(second, "run-3")
    analyze_in_batches(third, batcher(third))
    assert fake.counts["batches.create"] == 2
    assert len(analyses(third)) == 6 and [b["state"] for b in batches(third)] == [state, "succeeded"]


def test_a_pending_batch_is_collected_by_a_later_run_and_its_reels_are_never_asked_twice(
    tmp_path: Path, fake: FakeGemini
) -> None:
    job = batch_job(tmp_path, fake, batch_wait_s=0)
    counts = analyze_in_batches(job, batcher(job))
    assert counts.counts["batch_submitted"] == 6 and counts.counts["batch_pending"] == 6
    assert any("the next run or `reels batches collect` collects them" in n for n in counts.notes)

    second = later(job, "run-2", batch_wait_s=0)
    counts = analyze_in_batches(second, batcher(second))  # still running: nothing new is submitted
    assert fake.counts["batches.create"] == 1 and "batch_submitted" not in counts.counts
    assert batches(second)[0]["state"] == "running"
    direct = pipeline.analyze(second, gemini(fake))  # nor asked directly
    assert fake.counts["generate"] == 0 and "analyzed" not in direct.counts
    assert direct.counts["in_gemini_batches"] == 6

    third = later(second, "run-3", batch_wait_s=0)
    counts = analyze_in_batches(third, batcher(third))
    assert counts.counts["analyzed"] == 6 and fake.counts["batches.create"] == 1
    assert {r["run_id"] for r in analyses(third).values()} == {"run-3"}  # collected, at the batch price
    fourth = later(third, "run-4")
    counts = analyze_in_batches(fourth, batcher(fourth))
    assert fake.counts["batches.create"] == 1 and "analyzed" not in counts.counts


def test_a_video_file_that_expired_before_the_batch_ran_is_uploaded_again_in_the_next(
    tmp_path: Path, fake: FakeGemini
) -> None:
    job = batch_job(tmp_path, fake, batch_wait_s=0)
    analyze_in_batches(job, batcher(job))
    expired = next(n for n, f in fake.files.items() if f.display_name == f"reel-{IDS[0]}")
    del fake.files[expired]  # the Files API's 48 h are over
    fake.batch_polls = 1
    second = later(job, "run-2", batch_wait_s=5)
    counts = analyze_in_batches(second, batcher(second))
    assert counts.counts["batch_requeued"] == 1 and counts.counts["batch_submitted"] == 1
    assert {r["status"] for r in analyses(second).values()} == {"ok"} and len(analyses(second)) == 6


def test_a_create_whose_answer_was_lost_is_found_by_its_name_not_created_again(
    tmp_path: Path, fake: FakeGemini
) -> None:
    fake.lose_create_answers = 1
    job = batch_job(tmp_path, fake)
    analyze_in_batches(job, batcher(job))
    assert len(fake.batches) == 1 and fake.counts["batches.list"] >= 1
    assert len(analyses(job)) == 6 and batches(job)[0]["state"] == "succeeded"


def test_a_create_whose_last_attempt_lost_its_answer_stays_pending_and_is_adopted_later(
    tmp_path: Path, fake: FakeGemini
) -> None:
    fake.lose_create_answers = 1
    job = batch_job(tmp_path, fake, max_retries=0, batch_wait_s=0)
    counts = analyze_in_batches(job, batcher(job))
    assert any("its creation is not confirmed" in n for n in counts.notes)
    (row,) = batches(job)
    assert row["state"] == "submitting" and row["collected_at"] is None and len(row["files"]) == 6
    soon = later(job, "run-2")  # an hour on: it may still be being submitted, so it is left alone
    analyze_in_batches(soon, batcher(soon))
    assert len(fake.batches) == 1 and batches(soon)[0]["state"] == "submitting"
    after = replace(later(soon, "run-3", batch_wait_s=5), now=job.now + timedelta(hours=3))
    analyze_in_batches(after, batcher(after))
    assert len(fake.batches) == 1 and fake.counts["batches.create"] == 1
    assert batches(after)[0]["state"] == "succeeded" and len(analyses(after)) == 6


def test_a_job_the_api_no_longer_has_puts_its_reels_back(tmp_path: Path, fake: FakeGemini) -> None:
    job = batch_job(tmp_path, fake, batch_wait_s=0)
    analyze_in_batches(job, batcher(job))
    fake.batches.clear()  # deleted, or the project changed
    second = later(job, "run-2", batch_wait_s=5)
    counts = analyze_in_batches(second, batcher(second))
    first = batches(second)[0]
    assert first["state"] == "lost" and first["requeued"] == 6 and "404" in first["error"]
    assert any("is lost" in n for n in counts.notes)
    assert counts.counts["batch_submitted"] == 6 and len(analyses(second)) == 6


def test_a_run_that_died_while_submitting_is_resolved_by_the_next(tmp_path: Path, fake: FakeGemini) -> None:
    job = batch_job(tmp_path, fake, batch_wait_s=0)
    stranded = dict(
        model=PRIMARY, prompt_version=batcher(job).prompt_version, state="submitting", files=[], est_tokens=1
    )
    # One died before creating its job; one after, before it could record the job's name.
    for batch_id, post_ids in (("reels-run-0a", IDS[:3]), ("reels-run-0b", IDS[3:])):
        row = stranded | dict(
            batch_id=batch_id, post_ids=post_ids, submitted_at=job.now - timedelta(hours=3), run_id="run-0"
        )
        job.merge(GEMINI_BATCHES, [row])
    b = batcher(job)
    uploaded = [(context(v), b.upload(v, v.stem).uri or "") for v in VIDEOS[3:]]
    b.create("reels-run-0b", b.requests(uploaded))  # the job the dead run created
    analyze_in_batches(job, b)
    states = {r["batch_id"]: r["state"] for r in batches(job)}
    assert states["reels-run-0a"] == "unsent" and states["reels-run-0b"] in ("pending", "running")
    # Only the unsent one's reels went in this run's batch; the adopted job's were not asked again.
    (new,) = [r for r in batches(job) if r["batch_id"] == "reels-run-1"]
    assert sorted(new["post_ids"]) == sorted(IDS[:3])


def test_the_enqueued_token_budget_holds_the_rest_for_a_later_batch(tmp_path: Path, fake: FakeGemini) -> None:
    job = batch_job(tmp_path, fake, batch_max_tokens=2 * 3450 + 100)  # two 30 s reels' worth
    counts = analyze_in_batches(job, batcher(job))
    assert counts.counts["batch_submitted"] == 2 and counts.counts["batch_waiting"] == 4
    assert any("batch_max_tokens" in n for n in counts.notes)
    second = later(job, "run-2")
    analyze_in_batches(second, batcher(second))
    assert len(analyses(second)) == 4


def reels(workdir: Path, fake: FakeGemini, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "GEMINI_API_KEY": "test-key-batch",
        "REELS_GEMINI__BASE_URL": fake.url,
        "REELS_GEMINI__MODE": "batch",
        "REELS_GEMINI__BATCH_WAIT_S": "0",
        "REELS_GEMINI__BATCH_POLL_S": "0.05",
        "REELS_PATHS__MEDIA": str(workdir / "media"),
        "REELS_PATHS__LAKE": str(workdir / "lake"),
    }
    return reels_process(workdir, *args, env=env, timeout=300)


def test_from_the_command_line_analyze_submits_batches_lists_and_collect_collects(
    tmp_path: Path, fake: FakeGemini
) -> None:
    job_with_media(tmp_path, VIDEOS)  # the lake at tmp_path/lake, its videos stored
    submitted = reels(tmp_path, fake, "analyze")
    assert submitted.returncode == 0, submitted.stderr
    assert "batch submitted 6" in submitted.stdout and "batch pending 6" in submitted.stdout
    listed = reels(tmp_path, fake, "batches")
    assert listed.returncode == 0 and "reels-" in listed.stdout and "1 pending, 0 collected" in listed.stderr
    status = reels(tmp_path, fake, "status")
    assert "Gemini batches pending: 1 (6 reels" in status.stdout

    collected = reels(tmp_path, fake, "batches", "collect", "--wait", "5")
    assert collected.returncode == 0, collected.stderr
    assert "analyzed 6" in collected.stdout and "batch collected 1" in collected.stdout
    assert "answered by gemini (gemini-3.8-flash) ×6" in collected.stdout
    again = reels(tmp_path, fake, "analyze")
    assert again.returncode == 0 and "batch submitted" not in again.stdout
    assert fake.counts["batches.create"] == 1

    bad = reels(tmp_path, fake, "batches", "collect", "--wait", "-1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
