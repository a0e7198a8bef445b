"""Where the tables live: the `Store` protocol and its backends (one module each).

A stage asks a store for the columns and rows it needs (`read` with a projection, conditions and keys;
`missing` for "rows of A with no row in B"); the backend pushes them into its engine (DataFusion over the
Delta files, or Spark), so Python only ever holds the rows a stage works on. Every read is tallied in
`Store.reads` (rows handed back per table), which is what the tests assert on.

In: Arrow tables of rows to merge on their table's key (`merge`), reads by projection, conditions, keys.
Out: Arrow tables; `MergeResult`s (rows inserted, updated); `Maintenance` (files compacted, vacuumed).
Tables: every one, declared once in `tables` (`reels`, `media`, `analyses`, ...) for both backends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Protocol

import pyarrow as pa

from reels.storage.tables import TableSpec

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null"]
OPS: frozenset[str] = frozenset(Op.__args__)  # type: ignore[attr-defined]


class Cond(NamedTuple):
    """`column op value`: `value` is a scalar (str, int, float, bool, datetime), a sequence for `in`, unused
    for the null tests. A null column never satisfies a comparison (SQL semantics)."""

    column: str
    op: Op
    value: Any = None


class MergeResult(NamedTuple):
    inserted: int
    updated: int


class Maintenance(NamedTuple):
    """What a table's upkeep did: small files compacted into fewer, old unreferenced files deleted."""

    table: str
    files_compacted: int
    files_written: int
    files_vacuumed: int
    note: str | None = None  # why something was skipped (e.g. an engine without VACUUM)


class Store(Protocol):
    """A lakehouse of keyed tables. Writes are merges on the table's key, so they are idempotent."""

    location: str
    reads: Counter[str]  # rows handed back per table, since the store was opened

    def read(
        self,
        spec: TableSpec,
        columns: Sequence[str] | None = None,
        where: Sequence[Cond] = (),
        keys: pa.Table | None = None,
    ) -> pa.Table:
        """The rows matching every condition (and, with `keys`, whose key columns equal a row of `keys`),
        with the spec's types for `columns` (all by default); empty when the table does not exist yet."""
        ...

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
        """Rows of `spec` matching `where` with no row of `other` that has the same `on` columns and
        matches `other_where` (an anti-join, run by the engine)."""
        ...

    def count(self, spec: TableSpec, where: Sequence[Cond] = ()) -> int | None:
        """Rows in the table (matching `where`): from the metadata when there is no condition, else counted
        by the engine; None when the table does not exist."""
        ...

    def tally(
        self, spec: TableSpec, columns: Sequence[str], where: Sequence[Cond] = ()
    ) -> dict[tuple[Any, ...], int]:
        """Rows per combination of values of `columns` (matching `where`), grouped by the engine."""
        ...

    def merge(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        """Upsert rows on the spec's key; rows equal to what is stored change nothing."""
        ...

    def maintain(
        self, spec: TableSpec, *, min_files: int, target_mb: int, retain_hours: float
    ) -> Maintenance:
        """Compact the table once it holds `min_files` files under the target size; delete files no version
        newer than `retain_hours` needs."""
        ...

    def exists(self, spec: TableSpec) -> bool: ...


def check(spec: TableSpec, columns: Sequence[str] = (), conds: Sequence[Cond] = ()) -> None:
    """Columns and conditions name columns of the table, with known operators (a programming error
    otherwise: they never come from input)."""
    unknown = [c for c in [*columns, *(c.column for c in conds)] if c not in spec.columns]
    unknown += [c.op for c in conds if c.op not in OPS]
    if unknown:
        raise ValueError(f"{spec.name}: unknown columns or operators {unknown}")
