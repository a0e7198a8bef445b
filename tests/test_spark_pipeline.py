"""The pipeline gives the same tables whichever store holds them: the real stages on the bundled sample,
once with the DeltaStore and once with the SparkStore (pysail)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reels import config, pipeline
from reels.analysis.local import LocalAnalyzer
from reels.insights.playbook import TemplateWriter
from reels.media.store import MediaStore
from reels.pipeline.components import http_client
from reels.pipeline.runs import tracked_run
from reels.sources.sample import SampleSource
from reels.storage import Store
from reels.storage.delta import DeltaStore
from reels.storage.spark import SparkStore
from reels.storage.tables import ALL
from tests.test_bundle import dashboard, widget_fields
from tests.test_storage import fresh_spark_store, sail_spark  # noqa: F401 - its session fixture

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def run_pipeline(store: Store, media: Path) -> dict[str, list[dict[str, Any]]]:
    settings = config.load(None, environ={}, overrides={"analyze": {"concurrency": 2}})
    job = pipeline.Job(settings, store, MediaStore(media), "r1", NOW)
    pipeline.ingest(job, SampleSource())
    pipeline.label(job)
    with http_client(settings) as client:
        pipeline.download(job, client)
    pipeline.analyze(job, LocalAnalyzer())
    pipeline.insights(job)
    pipeline.playbook(job, TemplateWriter())
    return {name: comparable(store.read(spec).to_pylist(), spec.key, media) for name, spec in ALL.items()}


def comparable(rows: list[dict[str, Any]], key: tuple[str, ...], media: Path) -> list[dict[str, Any]]:
    """The rows in key order, with media paths relative to their store. Every other column must match,
    run ids and times included: both runs share the run id and the clock."""
    for row in rows:
        if row.get("path"):
            row["path"] = str(Path(row["path"]).relative_to(media))
    return sorted(rows, key=lambda r: [str(r[k]) for k in key])


def test_the_spark_store_gives_the_same_tables_as_the_delta_store(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    spark_store = fresh_spark_store(request.getfixturevalue("sail_spark"))
    delta = run_pipeline(DeltaStore(tmp_path / "lake"), tmp_path / "media-delta")
    spark = run_pipeline(spark_store, tmp_path / "media-spark")
    sizes = {name: len(rows) for name, rows in delta.items()}
    tables = ("reels", "reel_snapshots", "media", "analyses", "insights", "playbook")
    assert min(sizes[n] for n in tables) > 0, sizes
    assert len({r["username"] for r in delta["reels"]}) >= 8
    labels = {
        r["post_id"]: (r["virality_label"], r["virality_tier"], r["viral_ratio"]) for r in delta["reels"]
    }
    assert "viral" in {label for label, _, _ in labels.values()}
    assert {
        r["post_id"]: (r["virality_label"], r["virality_tier"], r["viral_ratio"]) for r in spark["reels"]
    } == labels
    for name in ALL:
        assert spark[name] == delta[name], name
    dashboard_queries_run_on(spark_store)


def dashboard_queries_run_on(store: SparkStore) -> None:
    """Every dataset of the Databricks dashboard runs on the Spark store's tables, its bare table names
    resolved in the store's catalog and schema (as the bundle's dataset_catalog and dataset_schema do), and
    gives every column its widgets read."""
    with tracked_run(store, run_id="r1", command="run", source="sample", analyzer="local", started_at=NOW):
        pass
    board = dashboard()
    used = widget_fields(board)
    spark = store.spark
    before = spark.catalog.currentCatalog(), spark.catalog.currentDatabase()
    spark.catalog.setCurrentCatalog(store.catalog)
    spark.catalog.setCurrentDatabase(store.schema)
    try:
        for dataset in board["datasets"]:
            result = spark.sql("".join(dataset["queryLines"]))
            rows = result.collect()
            assert used.get(dataset["name"], set()) <= set(result.columns), dataset["name"]
            if dataset["name"] != "failures":  # the sample's failures: 2 expired links and 1 gone
                assert rows, dataset["name"]
    finally:
        spark.catalog.setCurrentCatalog(before[0])
        spark.catalog.setCurrentDatabase(before[1])
