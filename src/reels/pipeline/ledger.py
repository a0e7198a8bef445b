"""The `scrapes` table: every paid Apify run, written down the moment it exists.

A run is recorded as RUNNING right after its start is confirmed, before it is waited for; it becomes
INGESTED once its items are in the tables, or keeps the status it ended with when it yields nothing to
ingest. A reels run that died in between (a crash, a kill, a lost connection) leaves a RUNNING row behind,
and the next scrape resumes that Apify run and reads its dataset instead of paying for a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reels.storage import Cond, Store
from reels.storage.tables import SCRAPES, to_arrow


class StoreLedger:
    """A `ScrapeLedger` on the `scrapes` table of `store`; `run_id` is the reels run writing to it."""

    def __init__(self, store: Store, run_id: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store, self.run_id, self.clock = store, run_id, clock

    def pending(self, actor_id: str, purpose: str = "reels") -> tuple[str, str] | None:
        running = self._rows(Cond("actor_id", "=", actor_id), Cond("status", "=", "RUNNING"))
        # Rows written before runs had a purpose were all reel scrapes.
        waiting = [r for r in running if (r.get("purpose") or "reels") == purpose]
        if not waiting:
            return None
        newest = max(waiting, key=lambda r: r["started_at"])
        return newest["apify_run_id"], newest["dataset_id"]

    def started(self, run_id: str, actor_id: str, dataset_id: str, purpose: str = "reels") -> None:
        row = dict(
            apify_run_id=run_id, actor_id=actor_id, dataset_id=dataset_id, status="RUNNING", purpose=purpose
        )
        self._write(row | dict(started_at=self.clock(), ended_at=None, run_id=self.run_id))

    def ended(self, run_id: str, status: str) -> None:
        self._update(run_id, status=status, ended_at=self.clock())

    def ingested(self, run_id: str) -> None:
        self._update(run_id, status="INGESTED", ended_at=self.clock())

    def _rows(self, *where: Cond) -> list[dict[str, Any]]:
        return self.store.read(SCRAPES, where=where).to_pylist()

    def _update(self, run_id: str, **changes: Any) -> None:
        for row in self._rows(Cond("apify_run_id", "=", run_id)):
            self._write(row | changes)

    def _write(self, row: dict[str, Any]) -> None:
        self.store.merge(SCRAPES, to_arrow(SCRAPES, [row]))


__all__ = ["StoreLedger"]
