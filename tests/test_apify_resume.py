"""A paid Apify run is never paid twice: a start whose answer is lost is resolved by looking the run up, and
a reels run that died after the scrape resumes that Apify run's dataset instead of starting another."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reels import config, pipeline
from reels.media.store import MediaStore
from reels.pipeline.ledger import StoreLedger
from reels.sources.apify import ApifySource
from reels.storage.delta import DeltaStore
from reels.storage.tables import REELS, SCRAPES
from tests.fakes.apify_server import FakeApify
from tests.test_apify import ACCOUNTS, ACTOR, TOKEN, reel_item, settings_for

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def apify() -> Iterator[FakeApify]:
    with FakeApify(token=TOKEN) as server:
        server.add_actor(ACTOR, items=[reel_item(0), reel_item(1)])
        yield server


def test_a_lost_start_answer_is_resolved_by_looking_the_run_up(apify: FakeApify) -> None:
    apify.lose_starts = 1  # Apify starts the run; its answer never arrives
    (scrape,) = ApifySource(settings_for(apify), TOKEN, ACCOUNTS).scrapes()
    assert len(apify.runs) == 1 and len(apify.calls("start")) == 1  # exactly one run exists
    assert scrape.source == "apify:RUN001" and len(scrape.items) == 2
    assert apify.calls("record")  # recognised by its input, not just by being new


def test_a_start_apify_refused_is_sent_again_and_a_run_from_elsewhere_is_not_taken(apify: FakeApify) -> None:
    other = ApifySource(settings_for(apify), TOKEN, ["someoneelse"])
    apify.fail("start", 503)  # answered: no run was created
    apify.lose_starts = 0
    (scrape,) = ApifySource(settings_for(apify), TOKEN, ACCOUNTS).scrapes()
    assert len(apify.calls("start")) == 2 and len(apify.runs) == 1 and scrape.source == "apify:RUN001"
    apify.lose_starts = 1
    list(other.scrapes())  # its answer lost too: a run with another input is never mistaken for it
    assert len(apify.runs) == 2 and other.run is not None and other.run.run_id == "RUN002"


def job(tmp_path: Path, run_id: str) -> pipeline.Job:
    settings = config.load(None, environ={})
    return pipeline.Job(settings, DeltaStore(tmp_path / "lake"), MediaStore(tmp_path / "media"), run_id, NOW)


def test_a_crash_after_the_scrape_resumes_its_dataset_and_starts_no_run(
    apify: FakeApify, tmp_path: Path
) -> None:
    crashed = job(tmp_path, "run-1")
    first = ApifySource(settings_for(apify), TOKEN, ACCOUNTS, ledger=StoreLedger(crashed.store, "run-1"))
    next(iter(first.scrapes()))  # the scrape is paid for; the process dies before ingesting it
    (row,) = crashed.store.read(SCRAPES).to_pylist()
    assert (row["apify_run_id"], row["dataset_id"], row["status"]) == ("RUN001", "DS001", "RUNNING")

    said: list[str] = []
    again = job(tmp_path, "run-2")
    source = ApifySource(
        settings_for(apify), TOKEN, ACCOUNTS, ledger=StoreLedger(again.store, "run-2"), notify=said.append
    )
    counts = pipeline.ingest(again, source)
    assert len(apify.calls("start")) == 1 and counts.counts["new_reels"] == 2
    assert said == [
        "Resuming Apify run RUN001 (dataset DS001): an earlier run started it and did not ingest it, "
        "so no new run is started."
    ]
    assert {r["status"] for r in again.store.read(SCRAPES).to_pylist()} == {"INGESTED"}
    assert again.store.read(REELS).num_rows == 2

    pipeline.ingest(
        job(tmp_path, "run-3"),
        ApifySource(
            settings_for(apify), TOKEN, ACCOUNTS, ledger=StoreLedger(again.store, "run-3"), notify=said.append
        ),
    )
    assert len(apify.calls("start")) == 2  # nothing left to resume: the next scrape is a new run
    assert said[-1].startswith(
        "Apify run RUN002 started (dataset DS002); if this stops, run the same command"
    )


def test_a_run_that_ended_without_items_is_not_resumed(apify: FakeApify, tmp_path: Path) -> None:
    apify.add_actor(ACTOR, items=[], status="FAILED")
    store = DeltaStore(tmp_path / "lake")
    with pytest.raises(Exception, match="ended FAILED"):
        list(ApifySource(settings_for(apify), TOKEN, ACCOUNTS, ledger=StoreLedger(store, "r1")).scrapes())
    (row,) = store.read(SCRAPES).to_pylist()
    assert row["status"] == "FAILED" and StoreLedger(store, "r2").pending(ACTOR) is None
