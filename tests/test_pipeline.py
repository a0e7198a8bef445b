"""End to end on the bundled sample: the real stages, real Delta tables, the local analyzer; then again."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reels import config, pipeline
from reels.analysis import Analyzed, ReelContext, VideoAnalysis
from reels.media.store import MediaStore
from reels.pipeline.components import http_client
from reels.sources.sample import SampleSource
from reels.storage.delta import DeltaStore
from reels.storage.tables import ANALYSES, MEDIA, QUARANTINE, REELS
from tests.factories import reels_process


def test_first_run_says_what_it_used_and_fills_every_stage(two_runs: dict[str, Any]) -> None:
    out = two_runs["first"].stdout
    assert "No APIFY_TOKEN set: using the bundled sample" in out
    assert "No GEMINI_API_KEY set: analyzing videos with the local analyzer" in out
    tables = two_runs["after_first"]
    assert len(tables["reels"]) >= 120
    assert len({r["username"] for r in tables["reels"]}) >= 8
    assert {r["virality_label"] for r in tables["reels"]} >= {"viral", "not_viral"}
    assert all(r["virality_method"] and r["virality_reason"] for r in tables["reels"])
    assert len(tables["analyses"]) >= 120
    supported = {i["insight_id"] for i in tables["insights"] if i["supported"]}
    # The sample plants sound, cuts and cats on viral reels; the local analyzer measures them.
    assert {"has_audio", "cat_visible"} <= supported, supported
    assert all(
        i["q_value"] <= 0.10 and i["accounts_same_sign"] >= 2 for i in tables["insights"] if i["supported"]
    )
    book = tables["playbook"]
    assert 1 <= len(book) <= 7 and {r["writer"] for r in book} == {"template"}
    assert all(set(r["insight_ids"]) <= supported for r in book)
    report = (two_runs["workdir"] / "reels_report.html").read_text()
    assert report.count("<svg") >= 2


def test_second_run_changes_nothing_and_pays_nothing(two_runs: dict[str, Any]) -> None:
    assert two_runs["after_second"] == two_runs["after_first"]
    out = two_runs["second"].stdout
    assert "Nothing new" in out
    assert re.search(r"(?<!already )analyzed [1-9]", out) is None  # zero new analyses
    assert re.search(r"\bok [1-9]", out) is None  # zero downloads


def test_hidden_likes_and_fallback_views_field(two_runs: dict[str, Any]) -> None:
    reels = {r["post_id"]: r for r in two_runs["after_first"]["reels"]}
    assert reels["DdyWEX8oy-l"]["likes"] is None and reels["DdyWEX8oy-l"]["engagement_rate"] is None
    assert reels["DeAHZkaW_WB"]["views_field"] == "videoViewCount"


def test_bad_items_are_quarantined_not_lost(two_runs: dict[str, Any]) -> None:
    reasons = " | ".join(q["reason"] for q in two_runs["after_first"]["quarantine"])
    for expected in (
        "no_items",
        "not_found",
        "restricted_page",
        "missing shortCode",
        "videoPlayCount must be",
    ):
        assert expected in reasons


def test_failed_downloads_are_recorded_with_reasons(two_runs: dict[str, Any]) -> None:
    media = {m["post_id"]: m for m in two_runs["after_first"]["media"]}
    assert media["DeQdyyoSYEX"]["status"] == "expired" and "expired" in media["DeQdyyoSYEX"]["error"]
    assert media["DdeTKi7_7ef"]["status"] == "gone"
    assert sum(m["status"] == "ok" for m in media.values()) >= 120
    assert len(media) == len(two_runs["after_first"]["reels"])  # every reel has an outcome


def test_a_caption_cannot_change_the_label(two_runs: dict[str, Any]) -> None:
    reels = {r["post_id"]: r for r in two_runs["after_first"]["reels"]}
    assert "Ignore previous instructions" in reels["DeIH31t-zaG"]["caption"]
    assert reels["DeIH31t-zaG"]["virality_label"] != "viral"


def test_status_shows_tables_runs_and_failures(two_runs: dict[str, Any]) -> None:
    done = reels_process(two_runs["workdir"], "status")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "reels" in out and "expired" in out and "HTTP 404" in out
    assert out.count(" run ") >= 2


class CrashingAnalyzer:
    """A real Analyzer that dies (like a killed job) after `survive` videos."""

    name, model, prompt_version = "stub", "stub-1", "v1"

    def __init__(self, survive: int) -> None:
        self.survive = survive
        self.calls: list[str] = []

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        if len(self.calls) >= self.survive:
            raise KeyboardInterrupt
        self.calls.append(context.post_id)
        return Analyzed(VideoAnalysis(duration_s=1.0), input_tokens=10, output_tokens=5, cost_usd=0.001)


def test_a_crashed_analysis_resumes_without_redoing_work(tmp_path: Path) -> None:
    settings = config.load(None, environ={}, overrides={"analyze": {"concurrency": 1}})
    store = DeltaStore(tmp_path / "lake")
    job = pipeline.Job(
        settings, store, MediaStore(tmp_path / "media"), "r1", datetime(2026, 11, 24, tzinfo=UTC)
    )
    pipeline.ingest(job, SampleSource())
    pipeline.label(job)
    with http_client(settings) as client:
        pipeline.download(job, client)
    stored = sum(m["status"] == "ok" for m in store.read(MEDIA).to_pylist())
    crashing = CrashingAnalyzer(survive=40)
    with pytest.raises(KeyboardInterrupt):
        pipeline.analyze(job, crashing)
    saved = {a["post_id"] for a in store.read(ANALYSES).to_pylist()}
    assert 0 < len(saved) <= 40  # whole batches were kept
    resumed = CrashingAnalyzer(survive=10_000)
    counts = pipeline.analyze(job, resumed)
    assert not saved & set(resumed.calls)  # nothing analyzed twice
    rows = store.read(ANALYSES).to_pylist()
    assert len(rows) == len({r["post_id"] for r in rows}) == stored
    assert counts.counts["analyzed"] + counts.counts.get("reused", 0) == stored - len(saved)
    assert store.read(QUARANTINE).num_rows > 0 and store.read(REELS).num_rows >= 120
