"""The Spark store: Delta tables `<catalog>.<schema>.<table>` written with SQL MERGE through a SparkSession.

On Databricks the session is the runtime's own and the tables are Unity Catalog tables; elsewhere it is a
Spark Connect session (`sc://host:port`), e.g. a local pysail server in the tests. pyspark is imported only
when this store is built, so the embedded store never needs it.

Only the Spark subset that both Databricks and Spark Connect servers such as pysail run is used:
`createDataFrame`, temp views, `saveAsTable`, `spark.catalog.tableExists`, `spark.table` and
`MERGE [WITH SCHEMA EVOLUTION] INTO` — no delta-spark `DeltaTable` API. Reads are DataFrame filters and
joins (a semi join with the keys, an anti join for `missing`), so Spark prunes and runs them on the
executors; conditions are Column expressions, never SQL text built from values. `OPTIMIZE` and `VACUUM`
run where the engine has them (Databricks); elsewhere `maintain` says it skipped them.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from reels.errors import ConfigError, StorageError
from reels.storage import Cond, Maintenance, MergeResult, check
from reels.storage.commit import retry_conflicts
from reels.storage.rows import conform, dedupe_on_key, written_columns
from reels.storage.spark_sql import (
    changed_predicate,
    filtered,
    optimize_counts,
    parts,
    quote,
    reported_counts,
)
from reels.storage.tables import TableSpec

if TYPE_CHECKING:  # pragma: no cover - typing only; pyspark is optional
    from pyspark.sql import SparkSession

_INSTALL_HINT = (
    "The Spark store needs pyspark: run on Databricks, or `pip install 'reels-etl[spark]'` "
    "and set [storage] spark_remote = 'sc://host:port'."
)
_MAX_PART_BYTES = 48 * 2**20  # Arrow bytes per MERGE source; its wire form is larger
# A MERGE that lost a commit race did not commit anything and must be re-run against the new version:
# Delta on Spark/Databricks names the conflict (ConcurrentAppendException, DELTA_CONCURRENT_APPEND, ...);
# delta-rs based servers (pysail) say "Failed to commit transaction", and may fail to list a log that a
# concurrent commit is checkpointing ("Missing commit file"). Re-running is safe even if a MERGE did commit:
# the batch is keyed and deduplicated, and an unchanged row is not rewritten.
_CONFLICT = re.compile(
    r"Concurrent\w*Exception|DELTA_CONCURRENT_\w+|DELTA_METADATA_CHANGED|DELTA_PROTOCOL_CHANGED"
    r"|MetadataChangedException|ProtocolChangedException|Failed to commit transaction|Missing commit file",
    re.IGNORECASE,
)


def _pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError as exc:
        raise ConfigError(_INSTALL_HINT) from exc
    return pyspark.sql


def open_spark_store(
    remote: str | None = None,
    *,
    catalog: str = "workspace",
    schema: str = "test",
    schema_evolution: bool = True,
    environ: Mapping[str, str] | None = None,
) -> SparkStore:
    """A SparkStore on a Spark Connect server (`remote`, e.g. "sc://127.0.0.1:15002"), else on the active
    session (Databricks, or SPARK_REMOTE in the environment). Raises ConfigError when there is neither or
    pyspark is not installed."""
    environ = os.environ if environ is None else environ
    shown = (remote or "active session").split("/;")[0]  # a Spark Connect URL may carry ;token=...
    sql = _pyspark()
    try:
        if remote:
            if not remote.startswith("sc://"):
                raise ConfigError(f"[storage] spark_remote must look like sc://host:port, got {shown!r}.")
            spark = (
                sql.SparkSession.builder.remote(remote)
                .config("spark.sql.session.timeZone", "UTC")
                .getOrCreate()
            )
        else:
            spark = sql.SparkSession.getActiveSession()
            if spark is None and (environ.get("DATABRICKS_RUNTIME_VERSION") or environ.get("SPARK_REMOTE")):
                spark = sql.SparkSession.builder.getOrCreate()
    except ConfigError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot start a Spark session ({shown}): {type(exc).__name__}") from exc
    if spark is None:
        raise ConfigError(
            "[storage] kind = 'spark' needs a Spark session: run on Databricks, "
            "or set [storage] spark_remote = 'sc://host:port'."
        )
    return SparkStore(spark, catalog=catalog, schema=schema, schema_evolution=schema_evolution)


class SparkStore:
    """Tables `<catalog>.<schema>.<name>` through a SparkSession; created on first merge, then MERGEd.

    Each batch is deduplicated on its key (last row wins) before the MERGE; a matched row is updated only
    when a column IS DISTINCT FROM the stored one, so an identical re-merge changes nothing; insert-only
    tables never update. A MERGE that loses a concurrent-commit race is re-run (with backoff), so
    overlapping writers neither lose nor duplicate a row.
    """

    def __init__(
        self,
        spark: SparkSession,
        *,
        catalog: str = "workspace",
        schema: str = "test",
        schema_evolution: bool = True,
    ) -> None:
        self.spark = spark
        self.catalog = catalog
        self.schema = schema
        # `MERGE WITH SCHEMA EVOLUTION` (Databricks Runtime 15.2+, pysail) adds columns a newer TableSpec has.
        self.schema_evolution = schema_evolution
        self.location = f"{catalog}.{schema}"
        # Databricks' MERGE returns its row counts; others (pysail) do not, so they are counted beforehand.
        self._reports_counts: bool | None = None
        self.reads: Counter[str] = Counter()

    def table_name(self, spec: TableSpec) -> str:
        return ".".join(quote(p) for p in (self.catalog, self.schema, spec.name))

    def exists(self, spec: TableSpec) -> bool:
        try:
            return bool(self.spark.catalog.tableExists(f"{self.catalog}.{self.schema}.{spec.name}"))
        except Exception as exc:
            raise self._error("check", spec, exc) from exc

    def read(
        self,
        spec: TableSpec,
        columns: Sequence[str] | None = None,
        where: Sequence[Cond] = (),
        keys: pa.Table | None = None,
    ) -> pa.Table:
        names = list(columns or spec.columns)
        check(spec, names, where)
        if not self.exists(spec) or (keys is not None and keys.num_rows == 0):
            return conform(spec.schema.empty_table(), spec, names)
        try:
            df = filtered(self.spark.table(self.table_name(spec)), where)
            if keys is not None:
                wanted = self.spark.createDataFrame(conform(keys, spec, keys.column_names)).distinct()
                df = df.join(wanted, on=keys.column_names, how="left_semi")
            table = self._arrow(df, spec, names)
        except Exception as exc:
            raise self._error("read", spec, exc) from exc
        self.reads[spec.name] += table.num_rows
        return table

    def missing(
        self,
        spec: TableSpec,
        other: TableSpec,
        *,
        on: Sequence[str],
        columns: Sequence[str] | None = None,
        where: Sequence[Cond] = (),
        other_where: Sequence[Cond] = (),
    ) -> pa.Table:
        if not self.exists(other):
            return self.read(spec, columns, where)
        names = list(columns or spec.columns)
        check(spec, [*names, *on], where)
        check(other, on, other_where)
        if not self.exists(spec):
            return conform(spec.schema.empty_table(), spec, names)
        try:
            df = filtered(self.spark.table(self.table_name(spec)), where)
            done = filtered(self.spark.table(self.table_name(other)), other_where)
            done = done.select(*[quote(c) for c in on])
            table = self._arrow(df.join(done, on=list(on), how="left_anti"), spec, names)
        except Exception as exc:
            raise self._error("read", spec, exc) from exc
        self.reads[spec.name] += table.num_rows
        return table

    def count(self, spec: TableSpec, where: Sequence[Cond] = ()) -> int | None:
        """Delta answers a bare COUNT from the files' statistics in the log, without reading data."""
        check(spec, (), where)
        if not self.exists(spec):
            return None
        try:
            return int(filtered(self.spark.table(self.table_name(spec)), where).count())
        except Exception as exc:
            raise self._error("read", spec, exc) from exc

    def tally(
        self, spec: TableSpec, columns: Sequence[str], where: Sequence[Cond] = ()
    ) -> dict[tuple[Any, ...], int]:
        check(spec, columns, where)
        if not self.exists(spec):
            return {}
        try:
            df = filtered(self.spark.table(self.table_name(spec)), where)
            grouped = df.groupBy(*[quote(c) for c in columns]).count()
            return {tuple(row[: len(columns)]): int(row[-1]) for row in grouped.collect()}
        except Exception as exc:
            raise self._error("read", spec, exc) from exc

    def maintain(
        self, spec: TableSpec, *, min_files: int, target_mb: int, retain_hours: float
    ) -> Maintenance:
        """`OPTIMIZE` (Databricks picks the files to compact and the size; on a liquid-clustered table it
        clusters too) and `VACUUM ... RETAIN n HOURS`. Databricks refuses a retention under 7 days unless
        `spark.databricks.delta.retentionDurationCheck.enabled` is off."""
        if not self.exists(spec):
            return Maintenance(spec.name, 0, 0, 0)
        name = self.table_name(spec)
        compacted = written = vacuumed = 0
        try:
            if min_files:
                done = self.spark.sql(f"OPTIMIZE {name}").collect()
                compacted, written = optimize_counts(done)
            self.spark.sql(f"VACUUM {name} RETAIN {int(retain_hours)} HOURS").collect()
        except Exception as exc:
            lacks = r"not (yet )?(supported|implemented)|PARSE_SYNTAX_ERROR|syntax|found (OPTIMIZE|VACUUM)"
            if re.search(lacks, str(exc), re.I):  # e.g. pysail: a parse error on the statement
                skipped = "this engine has no OPTIMIZE/VACUUM"
                return Maintenance(spec.name, compacted, written, vacuumed, skipped)
            raise self._error("compact", spec, exc) from exc
        return Maintenance(spec.name, compacted, written, vacuumed)

    def _arrow(self, df: Any, spec: TableSpec, names: Sequence[str]) -> pa.Table:
        present = set(df.columns)
        chosen = [c for c in names if c in present]
        return conform(df.select(*[quote(c) for c in chosen]).toArrow(), spec, names)

    def merge(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        rows = dedupe_on_key(conform(rows, spec, written_columns(spec, rows)), spec.key)
        inserted = updated = 0
        # A Spark Connect request is capped (128 MiB by default): a large batch goes as several MERGEs.
        # Its keys are unique after the dedupe, so the parts touch disjoint rows and add up to one MERGE.
        for part in parts(rows, _MAX_PART_BYTES):
            result = self._merge_part(spec, part)
            inserted, updated = inserted + result.inserted, updated + result.updated
        return MergeResult(inserted, updated)

    def _merge_part(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        view = f"reels_batch_{spec.name}_{uuid.uuid4().hex}"
        try:
            source = self.spark.createDataFrame(rows)
            source.createOrReplaceTempView(view)
        except Exception as exc:
            raise self._error("write", spec, exc) from exc
        try:
            return retry_conflicts(
                lambda: self._merge_once(spec, source, view, rows.slice(0, 1)),
                is_conflict=lambda e: bool(_CONFLICT.search(str(e))),
                table=self.table_name(spec),
            )
        except StorageError:
            raise
        except Exception as exc:
            raise self._error("write", spec, exc) from exc
        finally:
            with contextlib.suppress(Exception):  # the view dies with the session anyway
                self.spark.catalog.dropTempView(view)

    def _merge_once(self, spec: TableSpec, source: Any, view: str, template: pa.Table) -> MergeResult:
        name = self.table_name(spec)
        if not self.exists(spec):
            try:
                # Created from one full-schema row (Spark cannot infer a schema from no rows), left empty.
                one = self.spark.createDataFrame(conform(template, spec)).limit(0)
                one.write.format("delta").mode("ignore").saveAsTable(name)
            except Exception:
                if not self.exists(spec):  # else: another writer created it first; merge into theirs
                    raise
        target_columns = set(self.spark.table(name).columns)
        columns = list(source.columns)
        changed = changed_predicate(spec, target_columns, columns)
        counted = None if self._reports_counts else self._count(spec, view, name, changed)
        evolve = " WITH SCHEMA EVOLUTION" if self.schema_evolution else ""
        on_key = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in spec.key)
        set_all, insert = "*", "*"
        if len(columns) < len(spec.columns):  # only these columns are written; the others keep their values
            set_all = ", ".join(f"t.{quote(c)} = s.{quote(c)}" for c in columns)
            names = ", ".join(quote(c) for c in columns)
            insert = f"({names}) VALUES ({', '.join(f's.{quote(c)}' for c in columns)})"
        update = "" if spec.insert_only else f"WHEN MATCHED AND ({changed}) THEN UPDATE SET {set_all} "
        statement = (
            f"MERGE{evolve} INTO {name} AS t USING {view} AS s ON {on_key} "
            f"{update}WHEN NOT MATCHED THEN INSERT {insert}"
        )
        result = self.spark.sql(statement).collect()
        reported = reported_counts(result)
        self._reports_counts = reported is not None
        if reported is not None:
            return reported
        assert counted is not None  # counted whenever the engine was not known to report counts
        return counted

    def _count(self, spec: TableSpec, view: str, name: str, changed: str) -> MergeResult:
        """What the MERGE will insert and update, for engines whose MERGE does not say."""
        first = quote(spec.key[0])
        on_key = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in spec.key)
        updated = (
            "0"
            if spec.insert_only
            else (f"SUM(CASE WHEN t.{first} IS NOT NULL AND ({changed}) THEN 1 ELSE 0 END)")
        )
        row = self.spark.sql(
            f"SELECT SUM(CASE WHEN t.{first} IS NULL THEN 1 ELSE 0 END) AS inserted, {updated} AS updated "
            f"FROM {view} AS s LEFT JOIN {name} AS t ON {on_key}"
        ).collect()[0]
        return MergeResult(int(row["inserted"] or 0), int(row["updated"] or 0))

    def _error(self, verb: str, spec: TableSpec, exc: BaseException) -> StorageError:
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        hint = ""
        if re.search(
            r"SCHEMA_NOT_FOUND|NO_SUCH_CATALOG|CATALOG_NOT_FOUND|database .* not found", str(exc), re.I
        ):
            hint = (
                f" Create it first (CREATE SCHEMA {self.catalog}.{self.schema}) "
                "or set [storage] catalog and schema."
            )
        return StorageError(f"cannot {verb} table {self.catalog}.{self.schema}.{spec.name}: {message}.{hint}")
