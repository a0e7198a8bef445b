"""The job: what every stage needs (settings, the tables, the media store, this run's id and clock)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reels.config import Settings
from reels.media.store import MediaStore
from reels.records import Reel
from reels.storage import Cond, Store
from reels.storage.tables import (
    LABEL_FIELDS,
    TableSpec,
    to_arrow,
)

# A stage reports progress through this: progress(label, total) gives a context whose value is advance(n).
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
REEL_COLUMNS = tuple(f.name for f in dataclasses.fields(Reel))
LABEL_COLUMNS = tuple(name for name, _ in LABEL_FIELDS)


def no_progress(label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


@dataclass(frozen=True)
class Job:
    """What every stage needs: settings, where the tables and videos live, this run's id and clock."""

    settings: Settings
    store: Store
    media: MediaStore
    run_id: str
    now: datetime
    progress: Progress = no_progress

    def rows(
        self,
        spec: TableSpec,
        columns: Sequence[str] | None = None,
        where: Sequence[Cond] = (),
        keys: pa.Table | None = None,
    ) -> list[dict[str, Any]]:
        return self.store.read(spec, columns, where, keys).to_pylist()

    def merge(self, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        result = self.store.merge(spec, to_arrow(spec, list(rows)))
        return result.inserted, result.updated

    def latest(self, spec: TableSpec, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The rows (of `insights` or `playbook`) of the most recent run that wrote any: found from two narrow
        columns, then read by run id."""
        runs = self.store.read(spec, ("run_id", "created_at"))
        if runs.num_rows == 0:
            return []
        last = runs.take([pc.index(runs["created_at"], pc.max(runs["created_at"])).as_py()])["run_id"][0]
        return self.rows(spec, columns, [Cond("run_id", "=", last.as_py())])


def post_keys(post_ids: Iterable[str]) -> pa.Table:
    """Post ids as the `keys` of a read."""
    return pa.table({"post_id": pa.array(list(post_ids), pa.string())})


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """`items` in slices of `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
