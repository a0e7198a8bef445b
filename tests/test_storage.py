"""The `Store` behaviours, run by the same test code against both backends: the embedded DeltaStore, and
the SparkStore on a local Spark Connect server (pysail: real Delta files, the MERGE SQL of Databricks)."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from reels.errors import ConfigError
from reels.storage import Cond, MergeResult, Store
from reels.storage.delta import DeltaStore
from reels.storage.spark import SparkStore, open_spark_store
from reels.storage.tables import ALL, ANALYSES, MEDIA, QUARANTINE, REEL_SNAPSHOTS, REELS, TableSpec, to_arrow

T = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture(scope="session")
def sail_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Spark Connect session on an in-process pysail server: catalog `workspace`, database `test`."""
    pytest.importorskip("pyspark.sql.connect.session", reason="needs pyspark-client (the [test] extra)")
    spark_server = pytest.importorskip("pysail.spark", reason="needs pysail (the [test] extra)")
    from pyspark.sql import SparkSession

    os.environ["SAIL_CATALOG__LIST"] = '[{name="workspace", type="memory", initial_database=["test"]}]'
    os.environ["SAIL_CATALOG__DEFAULT_CATALOG"] = "workspace"
    os.environ["SAIL_CATALOG__DEFAULT_DATABASE"] = '["test"]'
    server = spark_server.SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    _, port = server.listening_address
    warehouse = tmp_path_factory.mktemp("warehouse").resolve()  # Sail needs an absolute warehouse dir
    spark = (
        SparkSession.builder.remote(f"sc://127.0.0.1:{port}")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield spark
    spark.stop()
    server.stop()


def fresh_spark_store(spark: Any) -> SparkStore:
    """A SparkStore on an empty schema of its own, so tests share the server but no tables."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS workspace.{schema}").collect()
    return SparkStore(spark, catalog="workspace", schema=schema)


@pytest.fixture(params=["delta", "spark"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "delta":
        return DeltaStore(tmp_path / "lake")
    return fresh_spark_store(request.getfixturevalue("sail_spark"))


def reel(post_id: str, views: int | None, tags: list[str] | None = None, **more: Any) -> dict[str, Any]:
    return dict(
        post_id=post_id,
        views=views,
        hashtags=tags or [],
        posted_at=T,
        scraped_at=T,
        is_pinned=False,
        baseline_n=0,
        **more,
    )


def rows(*specs: tuple[str, int | None], tags: list[str] | None = None) -> pa.Table:
    return to_arrow(REELS, [reel(p, v, tags) for p, v in specs])


def views(store: Store) -> dict[str, int | None]:
    return {r["post_id"]: r["views"] for r in store.read(REELS).to_pylist()}


def test_missing_table_reads_empty_with_schema(store: Store) -> None:
    for spec in ALL.values():
        assert not store.exists(spec)
        assert store.read(spec).schema == spec.schema


def test_merge_creates_the_table(store: Store) -> None:
    assert store.merge(REELS, rows(("a", 1), ("b", 2))) == (2, 0)
    assert store.exists(REELS) and not store.exists(MEDIA)
    got = store.read(REELS)
    assert got.schema == REELS.schema
    assert got.sort_by("post_id").to_pylist() == rows(("a", 1), ("b", 2)).to_pylist()


def test_merge_upserts_and_an_identical_merge_updates_nothing(store: Store) -> None:
    store.merge(REELS, rows(("a", 1), ("b", 2)))
    assert store.merge(REELS, rows(("a", 1), ("b", 2))) == (0, 0)
    assert store.merge(REELS, rows(("a", 5), ("c", None))) == (1, 1)
    assert views(store) == {"a": 5, "b": 2, "c": None}


def test_a_change_to_or_from_null_is_an_update(store: Store) -> None:
    store.merge(REELS, rows(("a", 1)))
    assert store.merge(REELS, rows(("a", None))) == (0, 1)
    assert store.merge(REELS, rows(("a", 3))) == (0, 1)


def test_duplicate_keys_in_one_batch_keep_the_last(store: Store) -> None:
    assert store.merge(REELS, rows(("a", 1), ("a", 2), ("b", 1), ("a", 3))) == (2, 0)
    assert store.merge(REELS, rows(("a", 4), ("a", 5))) == (0, 1)
    assert views(store) == {"a": 5, "b": 1}


def test_composite_keys(store: Store) -> None:
    snap = [
        dict(post_id="a", scraped_at=T, views=1),
        dict(post_id="a", scraped_at=T.replace(day=17), views=2),
    ]
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, snap)) == (2, 0)
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, snap)) == (0, 0)
    assert store.read(REEL_SNAPSHOTS).num_rows == 2


def test_list_columns_round_trip_and_change(store: Store) -> None:
    store.merge(REELS, rows(("a", 1), tags=["x"]))
    assert store.merge(REELS, rows(("a", 1), tags=["x", "y"])) == (0, 1)
    assert store.read(REELS).to_pylist()[0]["hashtags"] == ["x", "y"]


def test_insert_only_tables_keep_the_first_row(store: Store) -> None:
    first = [dict(post_id="a", scraped_at=T, views=1, run_id="r1")]
    store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, first))
    again = [dict(post_id="a", scraped_at=T, views=7, run_id="r2")]
    assert store.merge(REEL_SNAPSHOTS, to_arrow(REEL_SNAPSHOTS, again)) == (0, 0)
    assert store.read(REEL_SNAPSHOTS).to_pylist() == to_arrow(REEL_SNAPSHOTS, first).to_pylist()
    twice = [dict(source="s", item_hash="h", reason="one"), dict(source="s", item_hash="h", reason="two")]
    assert store.merge(QUARANTINE, to_arrow(QUARANTINE, twice)) == (1, 0)


@pytest.mark.parametrize("store", ["delta", "spark"], indirect=True)
def test_a_column_added_to_the_spec_is_added_to_the_table(store: Store) -> None:
    old = TableSpec(REELS.name, REELS.key, pa.schema([f for f in REELS.schema if f.name != "music"]))
    store.merge(old, to_arrow(old, [reel("a", 1), reel("b", 2)]))
    assert store.read(REELS).column("music").to_pylist() == [None, None]  # read as null before it exists
    newer = to_arrow(REELS, [reel("a", 1, music="purr"), reel("b", 2)])
    assert store.merge(REELS, newer) == (0, 1)  # "a" gained a value; "b" is unchanged
    got = {r["post_id"]: r["music"] for r in store.read(REELS).to_pylist()}
    assert got == {"a": "purr", "b": None}
    assert store.merge(REELS, newer) == (0, 0)


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    store.merge(MEDIA, to_arrow(MEDIA, [dict(post_id="seed", status="ok")]))
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(5):
                batch = [dict(post_id=f"{prefix}{i}", status="ok"), dict(post_id="seed", status=prefix)]
                store.merge(MEDIA, to_arrow(MEDIA, batch))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = store.read(MEDIA).column("post_id").to_pylist()
    assert sorted(got) == sorted(["seed", *(f"{p}{i}" for p in "xyz" for i in range(5))])


def test_spark_store_is_named_and_readable_by_delta_rs(sail_spark: Any) -> None:
    store = fresh_spark_store(sail_spark)
    store.merge(REELS, rows(("a", 1)))
    assert store.location == f"workspace.{store.schema}"
    assert store.table_name(REELS) == f"`workspace`.`{store.schema}`.`reels`"
    location = next(
        r["data_type"]
        for r in sail_spark.sql(f"DESCRIBE TABLE EXTENDED {store.table_name(REELS)}").collect()
        if r["col_name"] == "Location"
    )
    from deltalake import DeltaTable, QueryBuilder

    read = QueryBuilder().register("t", DeltaTable(location)).execute("SELECT post_id FROM t").read_all()
    assert pa.table(read).column("post_id").to_pylist() == ["a"]


def test_open_spark_store_checks_the_url() -> None:
    pytest.importorskip("pyspark.sql.connect.session", reason="needs pyspark-client (the [test] extra)")
    with pytest.raises(ConfigError, match="sc://host:port"):
        open_spark_store("http://127.0.0.1:15002")


def test_without_pyspark_the_spark_store_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # what `import pyspark.sql` meets when absent
    with pytest.raises(ConfigError, match=r"reels-etl\[spark\]"):
        open_spark_store("sc://127.0.0.1:15002")


def test_a_large_batch_is_sent_in_parts_that_cover_it_once() -> None:
    from reels.storage.spark_sql import parts as _parts

    batch = rows(*((f"p{i}", i) for i in range(1000)))
    parts = _parts(batch, batch.nbytes // 4)
    assert 4 <= len(parts) <= 5
    assert pa.concat_tables(parts).equals(batch)
    assert _parts(batch.slice(0, 0), 1) == []


@pytest.mark.parametrize("store", ["delta", "spark"], indirect=True)
def test_a_nan_stays_the_same_value(store: Store) -> None:
    rows = to_arrow(
        ANALYSES, [dict(post_id="a", analyzer="l", model="m", prompt_version="v", loudness_db=float("nan"))]
    )
    store.merge(ANALYSES, rows)
    assert store.merge(ANALYSES, rows) == (0, 0)


# -- reads pushed into the engine ------------------------------------------------------------------------

HOSTILE = ["it's", "back\\slash", "x' OR '1'='1", 'quo"te', "ünï ☃"]


def test_reads_project_filter_and_join_on_keys(store: Store) -> None:
    store.merge(REELS, rows(*[(p, i) for i, p in enumerate(["a", "b", "c", *HOSTILE])]))
    got = store.read(REELS, ["post_id", "views"], [Cond("views", ">=", 2), Cond("post_id", "!=", "c")])
    assert got.column_names == ["post_id", "views"]
    assert sorted(got["post_id"].to_pylist()) == sorted(HOSTILE)
    keys = pa.table({"post_id": ["a", *HOSTILE[:3], "nope"]})
    assert sorted(store.read(REELS, ["post_id"], keys=keys)["post_id"].to_pylist()) == sorted(
        ["a", *HOSTILE[:3]]
    )
    # A scraped id is a value, never SQL: quotes and backslashes match themselves and nothing else.
    for value in HOSTILE:
        assert store.read(REELS, ["post_id"], [Cond("post_id", "=", value)])["post_id"].to_pylist() == [value]
    assert store.read(REELS, ["post_id"], [Cond("post_id", "in", HOSTILE[2:4])]).num_rows == 2
    assert store.read(REELS, ["post_id"], [Cond("post_id", "in", [])]).num_rows == 0
    assert store.read(REELS, ["post_id"], [Cond("posted_at", ">=", T)]).num_rows == 8


def test_missing_is_an_anti_join_under_conditions(store: Store) -> None:
    store.merge(REELS, rows(("a", 1), ("b", 2), ("c", 3), ("it's", 4)))
    media = [
        dict(post_id="a", status="ok"),
        dict(post_id="b", status="failed"),
        dict(post_id="it's", status="ok"),
    ]
    store.merge(MEDIA, to_arrow(MEDIA, media))
    todo = store.missing(
        REELS, MEDIA, on=["post_id"], columns=["post_id"], other_where=[Cond("status", "=", "ok")]
    )
    assert sorted(todo["post_id"].to_pylist()) == ["b", "c"]
    assert store.missing(REELS, MEDIA, on=["post_id"], where=[Cond("views", ">", 2)]).num_rows == 1


def test_counts_come_from_metadata_and_tallies_from_the_engine(store: Store) -> None:
    assert store.count(REELS) is None and store.tally(REELS, ["username"]) == {}
    store.merge(REELS, to_arrow(REELS, [reel(f"p{i}", i, username=f"u{i % 3}") for i in range(30)]))
    store.merge(REELS, to_arrow(REELS, [reel("p0", 99, username="u0")]))  # an update: still 30 rows
    assert store.count(REELS) == 30
    assert store.count(REELS, [Cond("views", ">=", 20)]) == 11
    assert store.tally(REELS, ["username"]) == {("u0",): 10, ("u1",): 10, ("u2",): 10}
    assert store.tally(REELS, ["username", "views_field"], [Cond("views", "<", 3)]) == {
        ("u1", None): 1,
        ("u2", None): 1,
    }


def test_a_merge_of_some_columns_writes_only_those(store: Store) -> None:
    store.merge(REELS, rows(("a", 1), ("b", 2)))
    labels = pa.table({"post_id": ["a", "new"], "virality_label": ["viral", "pending"]})
    assert store.merge(REELS, labels) == MergeResult(1, 1)
    got = {r["post_id"]: r for r in store.read(REELS).to_pylist()}
    assert got["a"]["views"] == 1 and got["a"]["virality_label"] == "viral"  # views kept
    assert got["b"]["virality_label"] is None and got["new"]["views"] is None
    assert store.merge(REELS, labels) == MergeResult(0, 0)


def test_wide_columns_are_not_compared(store: Store) -> None:
    row = dict(post_id="p", analyzer="a", model="m", prompt_version="v", status="ok", raw_json="{}")
    store.merge(ANALYSES, to_arrow(ANALYSES, [row]))
    assert store.merge(ANALYSES, to_arrow(ANALYSES, [row | {"raw_json": '{"same": "answer"}'}])) == (0, 0)
    assert store.merge(ANALYSES, to_arrow(ANALYSES, [row | {"status": "failed"}])) == (0, 1)


def test_maintenance_compacts_and_vacuums_without_changing_rows(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    store = DeltaStore(tmp_path / "lake")
    for i in range(12):  # twelve days of new reels: twelve small files
        store.merge(REELS, rows((f"p{i}", i)))
    store.merge(REELS, rows(("p0", 100)))  # an update replaces one file
    before = sorted(store.read(REELS).to_pylist(), key=lambda r: r["post_id"])
    path = str(tmp_path / "lake" / "reels")
    assert len(DeltaTable(path).file_uris()) == 12
    kept = store.maintain(REELS, min_files=8, target_mb=64, retain_hours=168)
    assert (kept.files_compacted, kept.files_written, kept.files_vacuumed) == (
        12,
        1,
        0,
    )  # too recent to delete
    assert len(DeltaTable(path).file_uris()) == 1
    done = store.maintain(REELS, min_files=8, target_mb=64, retain_hours=0)
    assert done.files_compacted == 0 and done.files_vacuumed == 13
    assert len(list((tmp_path / "lake" / "reels").glob("*.parquet"))) == 1
    assert sorted(store.read(REELS).to_pylist(), key=lambda r: r["post_id"]) == before


def test_new_keys_are_appended_without_touching_old_files(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    store = DeltaStore(tmp_path / "lake")
    store.merge(MEDIA, to_arrow(MEDIA, [dict(post_id=f"old{i}", status="ok") for i in range(100)]))
    path = str(tmp_path / "lake" / "media")
    old = set(DeltaTable(path).file_uris())
    for day in range(3):
        store.merge(MEDIA, to_arrow(MEDIA, [dict(post_id=f"d{day}-{i}", status="ok") for i in range(5)]))
    assert old <= set(DeltaTable(path).file_uris())  # no old file was rewritten
    assert store.count(MEDIA) == 115


def test_the_spark_store_skips_upkeep_the_engine_lacks(sail_spark: Any) -> None:
    store = fresh_spark_store(sail_spark)
    store.merge(REELS, rows(("a", 1)))
    done = store.maintain(REELS, min_files=1, target_mb=64, retain_hours=168)
    assert done.table == "reels"
    assert done.note is not None and "OPTIMIZE" in done.note  # pysail has neither: skipped, said so
