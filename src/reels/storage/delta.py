"""The embedded store: Delta tables in a folder through `deltalake` (delta-rs), no Spark, no server."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from reels.errors import StorageError
from reels.storage import MergeResult
from reels.storage.tables import TableSpec

_COMMIT_ATTEMPTS = 6


class DeltaStore:
    """Delta tables under one root folder, one sub-folder per table."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def _path(self, spec: TableSpec) -> str:
        return str(self.root / spec.name)

    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self._path(spec))

    def read(self, spec: TableSpec) -> pa.Table:
        if not self.exists(spec):
            return spec.schema.empty_table()
        try:
            table = DeltaTable(self._path(spec)).to_pyarrow_table()
        except (DeltaError, OSError) as exc:
            raise StorageError(f"cannot read table {spec.name} at {self._path(spec)}: {exc}") from exc
        return conform(table, spec)

    def merge(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        rows = dedupe_on_key(conform(rows, spec), spec.key)
        if rows.num_rows == 0:
            return MergeResult(0, 0)
        for attempt in range(_COMMIT_ATTEMPTS):
            try:
                return self._merge_once(spec, rows)
            except CommitFailedError:
                # Another writer committed first; a merge must be re-run against the new version.
                time.sleep(0.05 * 2**attempt)
            except (DeltaError, OSError) as exc:
                raise StorageError(f"cannot write table {spec.name} at {self._path(spec)}: {exc}") from exc
        raise StorageError(f"table {spec.name}: gave up after {_COMMIT_ATTEMPTS} conflicting commits")

    def _merge_once(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        path = self._path(spec)
        if not self.exists(spec):
            Path(path).mkdir(parents=True, exist_ok=True)
            try:
                write_deltalake(path, rows, mode="error")
                return MergeResult(rows.num_rows, 0)
            except DeltaError as exc:
                if "already exists" not in str(exc):
                    raise
                # Lost the race to create it: fall through and merge into the winner's table.
        try:
            table = DeltaTable(path)
        except TableNotFoundError as exc:
            raise CommitFailedError(str(exc)) from exc
        on_key = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        merger = table.merge(
            source=rows, predicate=on_key, source_alias="s", target_alias="t", merge_schema=True
        )
        if not spec.insert_only:
            # A column the stored table lacks yet (the spec grew) has no `t.` side: a value there is a change.
            present = {f.name for f in table.schema().fields}
            changed = _any_of(
                [
                    f"(t.{c} IS DISTINCT FROM s.{c})" if c in present else f"(s.{c} IS NOT NULL)"
                    for c in spec.columns
                    if c not in spec.key
                ]
            )
            merger = merger.when_matched_update_all(predicate=changed or None)
        metrics = merger.when_not_matched_insert_all().execute()
        return MergeResult(metrics["num_target_rows_inserted"], metrics["num_target_rows_updated"])


def _any_of(terms: list[str]) -> str:
    """OR of the terms as a balanced tree: a flat chain of 40 ORs exceeds the SQL parser's recursion limit."""
    if len(terms) <= 2:
        return " OR ".join(terms)
    mid = len(terms) // 2
    return f"({_any_of(terms[:mid])}) OR ({_any_of(terms[mid:])})"


def conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """The table with exactly the spec's columns and types (delta-rs hands strings back as string_view)."""
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in spec.schema
    ]
    return pa.Table.from_arrays(columns, schema=spec.schema)


def dedupe_on_key(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Keep the last row of each key: delta-rs would insert both copies of a new duplicated key."""
    if table.num_rows < 2:
        return table
    indexed = table.append_column("_i", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(key), use_threads=False).aggregate([("_i", "max")])
    keep = pc.sort_indices(last.column("_i_max"))
    return table.take(pc.take(last.column("_i_max"), keep))
