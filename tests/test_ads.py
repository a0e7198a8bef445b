"""Ad-level exports: CSV and XLSX through `reels ingest --ads`, bad rows quarantined, then labelled."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from reels.cli import cli
from reels.storage.delta import DeltaStore
from reels.storage.tables import ADS, QUARANTINE

HEADER = [
    "Ad ID",
    "Ad name",
    "Reporting starts",
    "Reporting ends",
    "Impressions",
    "Reach",
    "Video plays",
    "Post reactions",
    "Post comments",
    "Post shares",
    "Post saves",
    "Amount spent (USD)",
]
ROWS = [
    [
        "120201",
        "Loaf hook v1",
        "2026-11-01",
        "2026-11-07",
        "12000",
        "9000",
        "8000",
        "300",
        "20",
        "15",
        "9",
        "45.10",
    ],
    [
        "120202",
        "Zoomies cut",
        "2026-11-01",
        "2026-11-07",
        "15000",
        "11000",
        "9500",
        "410",
        "31",
        "22",
        "12",
        "51.00",
    ],
    ["120203", "Box cat", "2026-11-01", "2026-11-07", "9000", "7000", "6100", "250", "11", "7", "4", "38.20"],
    [
        "120204",
        "Tabby POV",
        "2026-11-01",
        "2026-11-07",
        "11000",
        "8000",
        "7200",
        "280",
        "16",
        "9",
        "6",
        "40.00",
    ],
    [
        "120205",
        "Breakout",
        "2026-11-01",
        "2026-11-07",
        "400000",
        "300000",
        "250000",
        "21000",
        "900",
        "1500",
        "800",
        "60.00",
    ],
    ["", "No id", "2026-11-01", "2026-11-07", "1", "1", "1", "1", "1", "1", "1", "1"],
    ["120207", "Bad count", "2026-11-01", "2026-11-07", "lots", "1", "1", "1", "1", "1", "1", "1"],
]


def write_export(path: Path) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([HEADER, *ROWS])
    else:
        book = Workbook()
        sheet = book.active
        sheet.append(HEADER)
        for row in ROWS:  # numbers as numbers, as Excel keeps them
            sheet.append(
                [float(c) if c.replace(".", "").isdigit() and i > 3 else c for i, c in enumerate(row)]
            )
        book.save(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_lands_in_ads_and_bad_rows_in_quarantine(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / f"ads{suffix}")
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", "--ads", str(export)])
    assert result.exit_code == 0, result.output
    assert "new ads 5" in result.output and "quarantined 2" in result.output
    store = DeltaStore(tmp_path / "lakehouse")
    ads = {a["ad_id"]: a for a in store.read(ADS).to_pylist()}
    assert set(ads) == {"120201", "120202", "120203", "120204", "120205"}
    assert ads["120201"]["plays"] == 8000 and ads["120201"]["spend"] == pytest.approx(45.10)
    reasons = sorted(q["reason"] for q in store.read(QUARANTINE).to_pylist())
    assert reasons == ["Impressions must be a number, got 'lots'", "missing ad_id"]
    again = runner.invoke(cli, ["ingest", "--ads", str(export)])
    assert "new ads 0" in again.output and store.read(ADS).num_rows == 5  # idempotent


def test_columns_can_be_mapped_by_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ads.csv").write_text("Creative,Views\nA1,100\nA2,200\n")
    (tmp_path / "reels.toml").write_text('[ads]\ncolumns = {ad_id = "Creative", plays = "Views"}\n')
    result = CliRunner().invoke(cli, ["ingest", "--ads", "ads.csv"])
    assert result.exit_code == 0, result.output
    plays = {a["ad_id"]: a["plays"] for a in DeltaStore(tmp_path / "lakehouse").read(ADS).to_pylist()}
    assert plays == {"A1": 100, "A2": 200}


def test_an_unknown_mapped_field_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reels.toml").write_text('[ads]\ncolumns = {budget = "Spend"}\n')
    result = CliRunner().invoke(cli, ["ingest", "--ads", "x.csv"])
    assert result.exit_code == 2 and "[ads] columns: unknown field 'budget'" in result.output


def test_label_labels_the_ads_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "ads.csv")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "--ads", str(export)]).exit_code == 0
    result = runner.invoke(cli, ["label"])
    assert result.exit_code == 0, result.output
    ads = {a["ad_id"]: a for a in DeltaStore(tmp_path / "lakehouse").read(ADS).to_pylist()}
    assert all(a["virality_method"] and a["virality_label"] for a in ads.values())
    assert ads["120201"]["engagement_rate"] == pytest.approx((300 + 20 + 15 + 9) / 8000)
    # Five ads are too few for the default rule's own baseline: the labels say so rather than guess.
    assert ads["120205"]["virality_label"] == "insufficient_data"


def test_the_legacy_rule_still_labels_ads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "ads.csv")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "--ads", str(export)]).exit_code == 0
    result = runner.invoke(cli, ["label"], env={"REELS_LABEL__METHOD": "mean_last_50"})
    assert result.exit_code == 0, result.output
    ads = {a["ad_id"]: a for a in DeltaStore(tmp_path / "lakehouse").read(ADS).to_pylist()}
    assert ads["120205"]["virality_label"] == "viral"
    assert ads["120205"]["virality_method"].startswith("mean_last_n")
