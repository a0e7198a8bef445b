"""Download and analysis at once (`reels run`): each video is analyzed as soon as it is stored, every stored
video exactly once, with the same tables as the stages one after the other; a failed download stage is
raised once the analyses that arrived are kept."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from reels import config, pipeline
from reels.analysis import Analyzed, ReelContext, VideoAnalysis
from reels.errors import StorageError
from reels.media.store import MediaStore
from reels.pipeline import components
from reels.sources.sample import SampleSource
from reels.storage.delta import DeltaStore
from reels.storage.tables import ANALYSES, MEDIA, TableSpec


class Slow:
    """An analyzer that takes `delay_s` per video and notes whether downloads were still running."""

    name, model, prompt_version = "slow", "slow-1", "v1"

    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s, self.calls, self.during_downloads = delay_s, [], 0
        self.concurrency = 2
        self._lock = threading.Lock()

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        downloading = any(t.name == "download" and t.is_alive() for t in threading.enumerate())
        with self._lock:
            self.calls.append(context.post_id)
            self.during_downloads += downloading
        time.sleep(self.delay_s)
        return Analyzed(VideoAnalysis(summary=f"a cat in {video.name}"), cost_usd=0.001)


def sample_job(tmp_path: Path, **analyze: object) -> pipeline.Job:
    settings = config.load(
        environ={}, overrides={"paths": {"lake": str(tmp_path / "lake")}, "analyze": analyze}
    )
    store = DeltaStore(tmp_path / "lake")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    job = pipeline.Job(settings, store, MediaStore(tmp_path / "media"), "run-1", now)
    pipeline.ingest(job, SampleSource())
    pipeline.label(job)
    return job


def test_videos_are_analyzed_while_the_others_download_each_exactly_once(tmp_path: Path) -> None:
    job = sample_job(tmp_path, queue_size=4)
    analyzer = Slow()
    with components.http_client(job.settings) as client:
        downloaded, analyzed = pipeline.download_and_analyze(job, client, [], analyzer)
    stored = [m for m in job.store.read(MEDIA).to_pylist() if m["status"] == "ok"]
    assert downloaded.counts["ok"] == len(stored) > 100
    assert sorted(analyzer.calls) == sorted(m["post_id"] for m in stored)  # every one, once
    assert analyzer.during_downloads > 0  # the analysis did not wait for the last download
    assert analyzed.counts["analyzed"] == len(stored) and analyzed.counts["already_analyzed"] == 0
    assert analyzed.counts["cost_usd_micros"] == len(stored) * 1000
    rows = job.store.read(ANALYSES).to_pylist()
    assert sorted(r["post_id"] for r in rows) == sorted(analyzer.calls)

    again = Slow()
    with components.http_client(job.settings) as client:
        downloaded, analyzed = pipeline.download_and_analyze(job, client, [], again)
    assert again.calls == [] and "ok" not in downloaded.counts
    assert analyzed.counts["already_analyzed"] == len(stored)


def test_the_same_tables_as_the_stages_one_after_the_other(tmp_path: Path) -> None:
    overlapped, sequential = sample_job(tmp_path / "a"), sample_job(tmp_path / "b")
    with components.http_client(overlapped.settings) as client:
        pipeline.download_and_analyze(overlapped, client, [], Slow(0.0))
        pipeline.download(sequential, client)
    pipeline.analyze(sequential, Slow(0.0))

    def table(job: pipeline.Job, spec: object, *columns: str) -> list[tuple[object, ...]]:
        return sorted(tuple(r[c] for c in columns) for r in job.store.read(spec).to_pylist())  # type: ignore[arg-type]

    assert table(overlapped, MEDIA, "post_id", "status", "sha256") == table(
        sequential, MEDIA, "post_id", "status", "sha256"
    )
    assert table(overlapped, ANALYSES, "post_id", "status", "summary") == table(
        sequential, ANALYSES, "post_id", "status", "summary"
    )


class FullDisk:
    """A store whose second write of `media` fails, as on a full disk; the rest is the Delta store's."""

    def __init__(self, store: DeltaStore) -> None:
        self.store, self.media_writes = store, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def merge(self, spec: TableSpec, rows: pa.Table) -> object:
        if spec is MEDIA:
            self.media_writes += 1
            if self.media_writes == 2:
                raise StorageError("cannot write table media: disk full")
        return self.store.merge(spec, rows)


def test_a_failed_download_stage_is_raised_after_the_arrived_analyses_are_kept(tmp_path: Path) -> None:
    job = sample_job(tmp_path)
    job = dataclasses.replace(job, store=FullDisk(job.store))  # type: ignore[arg-type]
    analyzer = Slow(0.0)
    with components.http_client(job.settings) as client, pytest.raises(StorageError, match="disk full"):
        pipeline.download_and_analyze(job, client, [], analyzer)
    kept = {r["post_id"] for r in job.store.read(ANALYSES).to_pylist()}
    assert kept and kept == set(analyzer.calls)  # every answer that arrived is in the table
