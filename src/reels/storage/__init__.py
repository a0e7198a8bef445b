"""Where the tables live: the `Store` protocol and its backends (one module each)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import pyarrow as pa

from reels.storage.tables import TableSpec


class MergeResult(NamedTuple):
    inserted: int
    updated: int


class Store(Protocol):
    """A lakehouse of keyed tables. Writes are merges on the table's key, so they are idempotent."""

    location: str

    def read(self, spec: TableSpec) -> pa.Table:
        """The whole table with the spec's schema; empty when the table does not exist yet."""
        ...

    def merge(self, spec: TableSpec, rows: pa.Table) -> MergeResult:
        """Upsert rows on the spec's key; rows equal to what is stored change nothing."""
        ...

    def exists(self, spec: TableSpec) -> bool: ...
