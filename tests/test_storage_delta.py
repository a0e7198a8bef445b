import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from reels.storage.delta import DeltaStore
from reels.storage.tables import ALL, MEDIA, REEL_SNAPSHOTS, REELS, to_arrow

T = datetime(2026, 11, 16, tzinfo=UTC)


def rows(*specs: tuple[str, int | None], tags: list[str] | None = None) -> pa.Table:
    return to_arrow(
        REELS,
        [
            dict(
                post_id=p,
                views=v,
                hashtags=tags or [],
                posted_at=T,
                scraped_at=T,
                is_pinned=False,
                baseline_n=0,
            )
            for p, v in specs
        ],
    )


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(tmp_path / "lake")


def test_missing_table_reads_empty_with_schema(store: DeltaStore) -> None:
    for spec in ALL.values():
        assert not store.exists(spec)
        assert store.read(spec).schema == spec.schema


def test_merge_creates_upserts_and_is_idempotent(store: DeltaStore) -> None:
    assert store.merge(REELS, rows(("a", 1), ("b", 2))) == (2, 0)
    assert store.merge(REELS, rows(("a", 1), ("b", 2))) == (0, 0)  # identical: nothing rewritten
    assert store.merge(REELS, rows(("a", 5), ("c", None))) == (1, 1)
    got = {r["post_id"]: r["views"] for r in store.read(REELS).to_pylist()}
    assert got == {"a": 5, "b": 2, "c": None}


def test_a_change_to_or_from_null_is_an_update(store: DeltaStore) -> None:
    store.merge(REELS, rows(("a", 1)))
    assert store.merge(REELS, rows(("a", None))) == (0, 1)
    assert store.merge(REELS, rows(("a", 3))) == (0, 1)


def test_duplicate_keys_in_one_batch_keep_the_last(store: DeltaStore) -> None:
    assert store.merge(REELS, rows(("a", 1), ("a", 2), ("b", 1), ("a", 3))) == (2, 0)
    assert store.merge(REELS, rows(("a", 4), ("a", 5))) == (0, 1)
    got = store.read(REELS).to_pylist()
    assert len(got) == 2 and {r["post_id"]: r["views"] for r in got}["a"] == 5


def test_composite_keys(store: DeltaStore) -> None:
    snap = [
        dict(post_id="a", scraped_at=T, views=1),
        dict(post_id="a", scraped_at=T.replace(day=17), views=2),
    ]
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, snap)) == (2, 0)
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, snap)) == (0, 0)
    assert store.read(REEL_SNAPSHOTS).num_rows == 2


def test_list_columns_round_trip_and_change(store: DeltaStore) -> None:
    store.merge(REELS, rows(("a", 1), tags=["x"]))
    assert store.merge(REELS, rows(("a", 1), tags=["x", "y"])) == (0, 1)
    assert store.read(REELS).to_pylist()[0]["hashtags"] == ["x", "y"]


def test_concurrent_writers_lose_nothing(store: DeltaStore) -> None:
    store.merge(MEDIA, to_arrow(MEDIA, [dict(post_id="seed", status="ok")]))
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(5):
                store.merge(MEDIA, to_arrow(MEDIA, [dict(post_id=f"{prefix}{i}", status="ok")]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.read(MEDIA).num_rows == 16


def test_insert_only_tables_keep_the_first_row(store: DeltaStore) -> None:
    first = [dict(post_id="a", scraped_at=T, views=1, run_id="r1")]
    store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, first))
    again = [dict(post_id="a", scraped_at=T, views=1, run_id="r2")]
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, again)) == (0, 0)
    assert store.read(REEL_SNAPSHOTS).to_pylist()[0]["run_id"] == "r1"
