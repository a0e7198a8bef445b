"""`reels ingest --source apify` end to end: the real apify-client against the local fake Apify API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reels.cli import cli
from reels.storage.delta import DeltaStore
from reels.storage.tables import QUARANTINE, REEL_SNAPSHOTS, REELS, RUNS
from tests.fakes.apify_server import FakeApify

TOKEN = "apify_api_test_token"
SAMPLE = resources.files("reels.sources") / "sample_data"


def sample_items(name: str) -> list[Any]:
    return json.loads((SAMPLE / name).read_text())


@pytest.fixture
def apify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApify]:
    monkeypatch.chdir(tmp_path)
    with FakeApify(token=TOKEN) as server:
        yield server


def ingest(server: FakeApify, *args: str) -> Result:
    env = {
        "APIFY_TOKEN": TOKEN,
        "REELS_APIFY__API_URL": server.url,
        "REELS_APIFY__MIN_DELAY_BETWEEN_RETRIES_MS": "1",
        "GEMINI_API_KEY": "",
    }
    return CliRunner().invoke(cli, ["ingest", "--source", "apify", *args], env=env)


def accounts_of(items: list[Any]) -> list[str]:
    return sorted({i["ownerUsername"] for i in items if isinstance(i, dict) and "ownerUsername" in i})


def test_incremental_runs_ask_only_for_what_is_new(apify: FakeApify, tmp_path: Path) -> None:
    first, second = sample_items("scrape_1.json"), sample_items("scrape_2.json")
    accounts = accounts_of(first)
    (tmp_path / "accounts.json").write_text(json.dumps({"username": accounts, "resultsLimit": 30}))

    apify.add_actor(
        "apify/instagram-reel-scraper",
        items=first,
        cost_usd=0.42,
        finished_at=datetime(2026, 11, 9, 6, tzinfo=UTC),
    )
    result = ingest(apify)
    assert result.exit_code == 0, result.output
    (start,) = apify.calls("start", "POST")
    assert start.body["username"] == accounts
    assert start.body["resultsLimit"] == 30
    assert "onlyPostsNewerThan" not in start.body  # a first run takes everything

    store = DeltaStore(tmp_path / "lakehouse")
    newest = {}
    for r in store.read(REELS).to_pylist():
        newest[r["username"]] = max(newest.get(r["username"], r["posted_at"]), r["posted_at"])

    apify.add_actor(
        "apify/instagram-reel-scraper", items=second, finished_at=datetime(2026, 11, 16, 6, tzinfo=UTC)
    )
    result = ingest(apify)
    assert result.exit_code == 0, result.output
    second_start = apify.calls("start", "POST")[-1]
    cutoff = min(newest.values()).date().toordinal() - 14  # the default look-back
    assert second_start.body["onlyPostsNewerThan"] == datetime.fromordinal(cutoff).strftime("%Y-%m-%d")

    # Per run, every item became a reel or a quarantine row, and each scrape appended its own snapshots.
    runs = sorted(store.read(RUNS).to_pylist(), key=lambda r: r["started_at"])
    for run, items in zip(runs, (first, second), strict=True):
        counts = json.loads(run["counts_json"])["ingest"]
        assert counts["items"] == len(items) == counts["reels"] + counts["quarantined"]
    snapshots = store.read(REEL_SNAPSHOTS).to_pylist()
    assert {s["scraped_at"] for s in snapshots} == {
        datetime(2026, 11, 9, 6, tzinfo=UTC),
        datetime(2026, 11, 16, 6, tzinfo=UTC),
    }
    assert runs[0]["cost_usd"] == pytest.approx(0.42)


def test_error_rows_are_reported_per_account(apify: FakeApify, tmp_path: Path) -> None:
    (tmp_path / "accounts.json").write_text(json.dumps(["private_kitty_club", "loafmode"]))
    apify.add_actor(
        "apify/instagram-reel-scraper",
        items=[
            {
                "inputUrl": "https://www.instagram.com/private_kitty_club",
                "error": "no_items",
                "errorDescription": "Empty or private data for provided input",
            },
        ],
    )
    result = ingest(apify)
    assert result.exit_code == 0, result.output
    assert "scraper error no_items ×1 for https://www.instagram.com/private_kitty_club" in result.output
    assert DeltaStore(tmp_path / "lakehouse").read(QUARANTINE).num_rows == 1


def test_a_failed_run_ingests_nothing_and_exits_1(apify: FakeApify, tmp_path: Path) -> None:
    (tmp_path / "accounts.json").write_text(json.dumps(["loafmode"]))
    apify.add_actor("apify/instagram-reel-scraper", items=sample_items("scrape_1.json"), status="FAILED")
    result = ingest(apify)
    assert result.exit_code == 1
    assert "ended FAILED" in result.output
    store = DeltaStore(tmp_path / "lakehouse")
    assert store.read(REELS).num_rows == 0
    assert [r["status"] for r in store.read(RUNS).to_pylist()] == ["failed"]


def test_invalid_token_exits_2(apify: FakeApify, tmp_path: Path) -> None:
    (tmp_path / "accounts.json").write_text(json.dumps(["loafmode"]))
    env = {"APIFY_TOKEN": "wrong", "REELS_APIFY__API_URL": apify.url}
    result = CliRunner().invoke(cli, ["ingest", "--source", "apify"], env=env)
    assert result.exit_code == 2
    assert "APIFY_TOKEN" in result.output and "wrong" not in result.output


def test_reading_a_finished_dataset_starts_no_run(apify: FakeApify, tmp_path: Path) -> None:
    apify.add_dataset("DSX", sample_items("scrape_1.json"))
    result = ingest(apify, "--dataset-id", "DSX")
    assert result.exit_code == 0, result.output
    assert apify.calls("start", "POST") == []
    assert DeltaStore(tmp_path / "lakehouse").read(REELS).num_rows > 100


def test_no_accounts_is_a_configuration_error(apify: FakeApify) -> None:
    result = ingest(apify)
    assert result.exit_code == 2
    assert "reels accounts add" in result.output


def test_accounts_commands_edit_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.json").write_text(json.dumps({"username": ["loafmode"], "resultsLimit": 5}))
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["accounts", "add", "@WhiskerDiaries", "https://www.instagram.com/catnapclub/"]
        ).exit_code
        == 0
    )
    assert runner.invoke(cli, ["accounts", "remove", "loafmode"]).exit_code == 0
    listed = runner.invoke(cli, ["accounts"])
    rows = [line.split()[:3] for line in listed.stdout.splitlines()]
    assert rows == [["catnapclub", "core", "added"], ["whiskerdiaries", "core", "added"]]
    everything = runner.invoke(cli, ["accounts", "list", "--all"]).stdout
    assert "loafmode" in everything and "removed by `reels accounts remove`" in everything
    assert json.loads((tmp_path / "accounts.json").read_text())["resultsLimit"] == 5  # other keys kept
