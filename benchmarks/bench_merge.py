"""Time `Store.merge` of 1,000,000 reels (10% of them changed) into a 1,000,000-row `reels` table, with
the embedded DeltaStore and with the SparkStore on an in-process pysail Spark Connect server.

Per store it prints the seconds of: the first load (create + insert every row), the merge (expected: 0
inserted, 10% updated), and the same merge again (0, 0: unchanged rows are not rewritten), plus the peak
RSS of the process so far. Each store runs in its own process so the figures do not mix.

Usage: python benchmarks/bench_merge.py [--rows N] [--updated-share F] [--store delta|spark|both]
(pysail and pyspark-client are in the `test` extra).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reels.storage import Store
from reels.storage.delta import DeltaStore
from reels.storage.tables import REELS

T = datetime(2026, 11, 16, tzinfo=UTC)


def reels_table(n: int, seed: int = 7) -> pa.Table:
    """n reels of 1,000 accounts with every column of `reels` that a scrape fills, and labels."""
    rng = np.random.default_rng(seed)
    ids = pa.array([f"R{i:09d}" for i in range(n)])
    users = pa.array([f"cat{i % 1000:04d}" for i in range(n)])
    views = rng.integers(100, 5_000_000, n)
    posted = pa.array(
        [T - timedelta(minutes=int(m)) for m in rng.integers(0, 500_000, n)], pa.timestamp("us", "UTC")
    )
    columns: dict[str, Any] = {
        "post_id": ids,
        "url": pc.binary_join_element_wise("https://www.instagram.com/reel/", ids, "/", ""),
        "username": users,
        "caption": pc.binary_join_element_wise("Sunbeam secured #catsofinstagram by ", users, ""),
        "hashtags": pa.array([["catsofinstagram", "cats"]] * n, pa.list_(pa.string())),
        "posted_at": posted,
        "scraped_at": pa.array([T] * n, pa.timestamp("us", "UTC")),
        "views": pa.array(views),
        "views_field": pa.array(["videoPlayCount"] * n),
        "likes": pa.array(views // 20),
        "comments": pa.array(views // 400),
        "duration_s": pa.array(rng.uniform(3, 60, n)),
        "is_pinned": pa.array(np.zeros(n, bool)),
        "source": pa.array(["apify"] * n),
        "virality_label": pa.array(["not_viral"] * n),
        "viral_ratio": pa.array(rng.uniform(0.1, 3, n)),
        "baseline_n": pa.array(np.full(n, 30)),
    }
    return pa.Table.from_arrays(
        [columns.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in REELS.schema], schema=REELS.schema
    )


def with_changes(table: pa.Table, share: float, seed: int = 11) -> pa.Table:
    """The same reels, a `share` of them with more views (a later scrape)."""
    rng = np.random.default_rng(seed)
    changed = rng.random(table.num_rows) < share
    views = table.column("views").to_numpy()
    return table.set_column(
        REELS.schema.get_field_index("views"), REELS.schema.field("views"), pa.array(views + changed * 1000)
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spark_store(workdir: Path) -> tuple[Store, Any]:
    os.environ["SAIL_CATALOG__LIST"] = '[{name="workspace", type="memory", initial_database=["test"]}]'
    os.environ["SAIL_CATALOG__DEFAULT_CATALOG"] = "workspace"
    os.environ["SAIL_CATALOG__DEFAULT_DATABASE"] = '["test"]'
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    from reels.storage.spark import SparkStore

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    _, port = server.listening_address
    spark = (
        SparkSession.builder.remote(f"sc://127.0.0.1:{port}")
        .config("spark.sql.warehouse.dir", str(workdir.resolve()))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    return SparkStore(spark), lambda: (spark.stop(), server.stop())


def bench(kind: str, rows: int, share: float) -> None:
    base = reels_table(rows)
    batch = with_changes(base, share)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "delta":
            store: Store = DeltaStore(Path(tmp) / "lake")
            stop: Any = lambda: None  # noqa: E731
        else:
            store, stop = spark_store(Path(tmp))
        try:
            for step, table in (("first load", base), ("merge", batch), ("same merge again", batch)):
                start = time.perf_counter()
                result = store.merge(REELS, table)
                seconds = time.perf_counter() - start
                print(
                    f"{kind:5}  {step:17} {table.num_rows:>9,} rows  {seconds:7.2f} s  "
                    f"inserted {result.inserted:>9,}  updated {result.updated:>9,}  "
                    f"peak RSS {peak_rss_mb():,.0f} MB",
                    flush=True,
                )
            start = time.perf_counter()
            assert store.read(REELS).num_rows == rows
            print(
                f"{kind:5}  {'read back':17} {rows:>9,} rows  {time.perf_counter() - start:7.2f} s",
                flush=True,
            )
        finally:
            stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--updated-share", type=float, default=0.10)
    parser.add_argument("--store", choices=["delta", "spark", "both"], default="both")
    args = parser.parse_args()
    if args.store != "both":
        bench(args.store, args.rows, args.updated_share)
        return
    for kind in ("delta", "spark"):  # one process each: separate peak RSS, no shared caches
        command = [sys.executable, __file__, "--rows", str(args.rows), "--store", kind]
        subprocess.run([*command, "--updated-share", str(args.updated_share)], check=True)


if __name__ == "__main__":
    main()
