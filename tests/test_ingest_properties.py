"""Whatever the scraper sends, every item ends as exactly one reel or one quarantine row, and every row
fits its table: arbitrary JSON, real items with one field mutated into anything, and arbitrary CSV and
JSONL files through the file source's reader."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reels.cli import cli
from reels.config.fields import REEL_FIELDS
from reels.records import as_row
from reels.sources.ads import parse_ads
from reels.sources.file import read_items
from reels.sources.ingest import parse_items
from reels.storage.delta import DeltaStore
from reels.storage.tables import ADS, QUARANTINE, REEL_SNAPSHOTS, REELS, to_arrow

T = datetime(2026, 11, 16, 6, tzinfo=UTC)
RAW_KEYS = sorted({name for names in REEL_FIELDS.values() for name in names})
ODD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\x00", "🐈" * 3, "9" * 5000, "", " "])
TEXT = st.text(max_size=20) | ODD_TEXT
NUMBERS = (
    st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([-1, 0, 2**64, -(2**63) - 1, 1e308, -0.0])
)
STAMPS = st.sampled_from(
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "2026-11-01T00:00:00",
        "2026-13-01T00:00:00Z",
        "2026-11-01T00:00:00.000Z",
        "1999-01-01T00:00:00Z",
    ]
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT | STAMPS
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
ITEMS = st.dictionaries(st.sampled_from(RAW_KEYS) | TEXT, JSON, max_size=12) | JSON
REAL = [
    i
    for i in json.loads(
        resources.files("reels.sources").joinpath("sample_data/scrape_2.json").read_text(encoding="utf-8")
    )
    if "error" not in i
]


def check(items: list[Any]) -> None:
    batch = parse_items(items, source="prop", scraped_at=T, run_id="r1")
    assert len(batch.reels) + len(batch.quarantine) == len(items)  # none lost, none twice
    assert len(batch.snapshots) == len(batch.reels)
    to_arrow(REELS, [as_row(r) for r in batch.reels])  # every row fits its table
    to_arrow(REEL_SNAPSHOTS, [as_row(s) for s in batch.snapshots])
    to_arrow(QUARANTINE, [as_row(q) for q in batch.quarantine])
    assert all(q.reason for q in batch.quarantine)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ITEMS, max_size=6))
def test_arbitrary_json_items_each_end_as_a_reel_or_a_quarantine_row(items: list[Any]) -> None:
    check(items)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(REAL) - 1), st.sampled_from(RAW_KEYS), JSON | st.just(...))
def test_a_real_item_with_any_field_changed_to_anything_still_ends_somewhere(
    index: int, key: str, value: Any
) -> None:
    item = dict(REAL[index])
    if value is ...:
        item.pop(key, None)
    else:
        item[key] = value
    check([item, REAL[(index + 1) % len(REAL)]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from([*RAW_KEYS, "a/b", "a", "images/0/x", "images/x", "l/99999999999", "l/1"]), max_size=6
    ),
    st.lists(
        st.lists(TEXT.filter(lambda t: "\ud800" not in t and "\udfff" not in t), max_size=6), max_size=4
    ),
)
def test_any_csv_file_is_read_row_by_row(
    tmp_path_factory: Any, header: list[str], rows: list[list[str]]
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    path = Path(tmp_path_factory.mktemp("csv")) / "items.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    items = read_items(path)
    assert len(items) == len([r for r in csv.DictReader(out.getvalue().splitlines())])
    check(items)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(max_size=30) | st.sampled_from(["[" * 5000, "1" * 5000, "{}", "NaN", '{"a": Infinity}']),
        max_size=6,
    )
)
def test_any_jsonl_file_is_read_line_by_line(tmp_path_factory: Any, lines: list[str]) -> None:
    path = Path(tmp_path_factory.mktemp("jsonl")) / "items.jsonl"
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines)
    path.write_text(text, encoding="utf-8")
    check(read_items(path))


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("videoPlayCount", 2**64, "videoPlayCount is out of range"),
        ("videoPlayCount", float("nan"), "videoPlayCount must be a whole number"),
        ("likesCount", float("inf"), "likesCount must be a whole number"),
        ("videoDuration", float("inf"), "videoDuration must be a non-negative number"),
        ("timestamp", "9999-12-31T23:59:59-14:00", "timestamp is out of range"),
        ("timestamp", "1970-01-01T00:00:00Z", "before Instagram"),
        ("caption", "cat \ud800", "caption holds characters that are not text"),
        ("hashtags", ["ok", "\udfff"], "hashtags must be a list of strings"),
        ("ownerUsername", 7, "ownerUsername must be a string, got a number"),
    ],
)
def test_values_the_tables_cannot_hold_are_quarantined_with_their_reason(
    key: str, value: Any, reason: str
) -> None:
    batch = parse_items([REAL[0] | {key: value}, REAL[1]], source="prop", scraped_at=T, run_id="r1")
    assert [r.post_id for r in batch.reels] == [REAL[1]["shortCode"]]
    (bad,) = batch.quarantine
    assert reason in bad.reason and bad.kind == "invalid"
    to_arrow(QUARANTINE, [as_row(bad)])


def test_a_file_of_hostile_items_is_ingested_item_by_item(tmp_path: Path) -> None:
    items = [REAL[0], REAL[1] | {"videoPlayCount": 2**64}, {"shortCode": "\ud800"}, "not an item", REAL[2]]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n{broken", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ingest", "--source", str(path)])
    assert result.exit_code == 0, result.output
    assert "items 6 · reels 2 · quarantined 4" in result.output
    assert "quarantined ×1: videoPlayCount is out of range" in result.output
    store = DeltaStore(tmp_path / "lakehouse")
    assert store.read(REELS).num_rows == 2 and store.read(QUARANTINE).num_rows == 4


AD_HEADERS = [
    "Ad ID",
    "Ad name",
    "Impressions",
    "Reach",
    "Plays",
    "Likes",
    "Amount spent (USD)",
    "Reporting starts",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(AD_HEADERS) | TEXT, SCALARS | st.datetimes(), max_size=8), max_size=5
    )
)
def test_any_ad_export_row_ends_as_an_ad_or_a_quarantine_row(rows: list[dict[str, Any]]) -> None:
    batch = parse_ads(rows, source="ads:x.csv", seen_at=T, run_id="r1")
    assert len(batch.ads) + len(batch.quarantine) == len(rows)
    to_arrow(ADS, batch.ads)
    to_arrow(QUARANTINE, [as_row(q) for q in batch.quarantine])
