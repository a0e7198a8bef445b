"""The `runs` table: one row per command, written when it starts and again when it ends."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reels.records import StageCounts
from reels.storage import Store
from reels.storage.tables import RUNS, to_arrow


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class RunLog:
    run_id: str
    command: str
    source: str | None
    analyzer: str | None
    started_at: datetime
    stages: list[StageCounts] = field(default_factory=list)

    def row(self, status: str, error: str | None, finished_at: datetime | None) -> dict[str, Any]:
        counts = {s.stage: s.counts for s in self.stages}
        cost = sum(s.counts.get("cost_usd_micros", 0) for s in self.stages) / 1e6
        return dict(
            run_id=self.run_id,
            command=self.command,
            source=self.source,
            analyzer=self.analyzer,
            started_at=self.started_at,
            finished_at=finished_at,
            status=status,
            counts_json=json.dumps(counts, sort_keys=True),
            notes_json=json.dumps([n for s in self.stages for n in s.notes]),
            error=error,
            cost_usd=cost,
        )


@contextmanager
def tracked_run(
    store: Store, *, run_id: str, command: str, source: str | None, analyzer: str | None, started_at: datetime
) -> Iterator[RunLog]:
    """Record the run as `running`, then `ok` or `failed` with the error, whatever happens inside."""
    log = RunLog(run_id, command, source, analyzer, started_at)
    store.merge(RUNS, to_arrow(RUNS, [log.row("running", None, None)]))
    try:
        yield log
    except KeyboardInterrupt:
        stopped = log.row("interrupted", "stopped by Ctrl-C or a stop signal", datetime.now(UTC))
        store.merge(RUNS, to_arrow(RUNS, [stopped]))
        raise
    except BaseException as exc:
        store.merge(
            RUNS, to_arrow(RUNS, [log.row("failed", f"{type(exc).__name__}: {exc}", datetime.now(UTC))])
        )
        raise
    store.merge(RUNS, to_arrow(RUNS, [log.row("ok", None, datetime.now(UTC))]))
