"""A day costs what the day brings, not what the lake holds: on a lake with thousands of old reels whose
work is all done, each stage reads back only the rows of the day's reels (counted by the store), and the
day's new rows are appended without rewriting an old file."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from reels import config, pipeline
from reels.analysis import Analyzed, ReelContext, VideoAnalysis
from reels.media.store import MediaStore
from reels.pipeline.components import http_client
from reels.pipeline.status import lake_status
from reels.sources.sample import SampleSource
from reels.storage import Cond
from reels.storage.delta import DeltaStore
from reels.storage.tables import ANALYSES, MEDIA, REELS, to_arrow

OLD = 3000  # reels of other accounts, labelled, downloaded and analyzed long ago
NOW = datetime(2026, 11, 24, tzinfo=UTC)


class QuickAnalyzer:
    """A real Analyzer that answers at once, so the test measures reads, not video decoding."""

    name, model, prompt_version = "stub", "stub-1", "v1"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        self.calls.append(context.post_id)
        return Analyzed(VideoAnalysis(duration_s=1.0, people_present=True), input_tokens=1, output_tokens=1)


def old_lake(store: DeltaStore) -> None:
    """OLD reels of 100 accounts, written as three files (three old runs), their videos and analyses."""
    for part in range(3):
        ids = [f"old{part}-{i:04d}" for i in range(OLD // 3)]
        when = NOW - timedelta(days=300 - part)
        reels = [
            dict(
                post_id=p,
                username=f"oldcat{i % 100}",
                views=1000 + i,
                views_field="videoPlayCount",
                posted_at=when,
                scraped_at=when + timedelta(days=9),
                is_pinned=False,
                media_url=f"https://scontent.cdninstagram.com/{p}.mp4",
                source="apify",
            )
            for i, p in enumerate(ids)
        ]
        store.merge(REELS, to_arrow(REELS, reels))
        media = [
            dict(post_id=p, status="ok", media_url=r["media_url"], sha256=f"{p:0>64}", path=f"/gone/{p}.mp4")
            for p, r in zip(ids, reels, strict=True)
        ]
        store.merge(MEDIA, to_arrow(MEDIA, media))
        done = [
            dict(post_id=p, analyzer="stub", model="stub-1", prompt_version="v1", status="ok", raw_json="{}")
            for p in ids
        ]
        store.merge(ANALYSES, to_arrow(ANALYSES, done))


@pytest.fixture
def job(tmp_path: Path) -> pipeline.Job:
    settings = config.load(
        None,
        environ={},
        overrides={
            "paths": {"lake": str(tmp_path / "lake"), "report": str(tmp_path / "report.html")},
            "insights": {"refresh_days": 7.0},
        },
    )
    store = DeltaStore(tmp_path / "lake")
    old_lake(store)
    job = pipeline.Job(settings, store, MediaStore(tmp_path / "media"), "today", NOW)
    pipeline.label(job)  # labelled long ago too
    return job


def reads_of(job: pipeline.Job, stage: Any) -> tuple[Any, Counter[str]]:
    before = Counter(job.store.reads)  # type: ignore[attr-defined]
    out = stage()
    after = job.store.reads  # type: ignore[attr-defined]
    return out, Counter({t: n - before[t] for t, n in after.items() if n - before[t]})


def live_files(job: pipeline.Job, table: str) -> set[str]:
    return set(DeltaTable(str(job.settings.paths.lake / table)).file_uris())


def test_each_stage_reads_the_days_rows_not_the_lakes(job: pipeline.Job) -> None:
    day = 200  # the sample: about 150 reels with videos, a few bad items; far fewer than OLD
    old_files = {t: live_files(job, t) for t in ("reels", "media", "analyses")}

    _, read = reads_of(job, lambda: pipeline.ingest(job, SampleSource()))
    assert read["reels"] <= day

    counts, read = reads_of(job, lambda: pipeline.label(job))
    assert read["reels"] == job.store.count(REELS)  # the labels are recomputed over the whole history...
    assert counts.counts["changed"] <= day  # ...and only the changed ones are written

    with http_client(job.settings) as client:
        counts, read = reads_of(job, lambda: pipeline.download(job, client))
    assert counts.counts["ok"] > 100
    assert read["reels"] <= day and read["media"] <= day

    analyzer = QuickAnalyzer()
    counts, read = reads_of(job, lambda: pipeline.analyze(job, analyzer))
    assert len(analyzer.calls) == counts.counts["analyzed"] > 100
    assert not any(c.startswith("old") for c in analyzer.calls)
    assert read["media"] <= day and read["reels"] <= day and read["analyses"] <= day
    assert counts.counts["already_analyzed"] == OLD

    # The day's rows were appended (or merged into the day's own files): every old file is still live.
    for table, files in old_files.items():
        assert files <= live_files(job, table), table

    _, read = reads_of(job, lambda: pipeline.insights(job, force=True))
    assert read["analyses"] <= 2 * job.store.count(REELS)  # the window's reels, without raw_json
    _, read = reads_of(job, lambda: pipeline.report(job))
    assert read["analyses"] <= 2 * 200  # only for the viral reels listed one by one
    status, read = reads_of(job, lambda: lake_status(job.store))
    assert status.tables["reels"] == job.store.count(REELS) > OLD
    assert read["reels"] <= day and read["media"] <= day and read["analyses"] <= day


def test_a_second_label_pass_writes_nothing(job: pipeline.Job) -> None:
    pipeline.ingest(job, SampleSource())
    pipeline.label(job)
    version = DeltaTable(str(job.settings.paths.lake / "reels")).version()
    counts = pipeline.label(job)
    assert counts.counts["changed"] == 0
    assert DeltaTable(str(job.settings.paths.lake / "reels")).version() == version


def test_a_vanished_video_is_fetched_again_not_failed(job: pipeline.Job) -> None:
    pipeline.ingest(job, SampleSource())
    with http_client(job.settings) as client:
        pipeline.download(job, client)
    media = {m["post_id"]: m for m in job.store.read(MEDIA, where=[Cond("status", "=", "ok")]).to_pylist()}
    victim = next(m for p, m in media.items() if not p.startswith("old"))
    Path(victim["path"]).unlink()
    analyzer = QuickAnalyzer()
    pipeline.analyze(job, analyzer)
    assert victim["post_id"] not in analyzer.calls
    (row,) = job.store.read(MEDIA, where=[Cond("post_id", "=", victim["post_id"])]).to_pylist()
    assert row["status"] == "failed" and "missing" in row["error"]
    with http_client(job.settings) as client:
        again = pipeline.download(job, client)
    assert again.counts.get("ok", 0) >= 1
    pipeline.analyze(job, analyzer)
    assert victim["post_id"] in analyzer.calls
