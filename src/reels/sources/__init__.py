"""Stage 2, sources: where reel items come from, and the one place raw JSON becomes typed records.

In: an Apify run of `apify/instagram-reel-scraper` (`apify`), a JSON/JSONL/CSV export (`file`), or the
bundled sample (`sample`); an ad export (`ads`); the tracked accounts (`accounts`).
Out: `Scrape`s of raw items; `ingest.parse_items` turns them into `Reel`s, `Snapshot`s and
`QuarantineItem`s (every item ends as exactly one of them); `ads.parse_ads` into ad rows.
Tables: none here; `reels.pipeline.intake` writes `reels`, `reel_snapshots`, `quarantine` and `ads`, and
`reels.pipeline.ledger` keeps the paid Apify runs in `scrapes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Scrape:
    """One scrape's raw items exactly as the scraper emitted them, with when they were seen."""

    source: str
    scraped_at: datetime
    items: list[Any]
    cost_usd: float | None = None  # what the scrape cost, when the source knows (an Apify run's usage)


class ReelSource(Protocol):
    name: str

    def scrapes(self) -> Iterator[Scrape]:
        """The scrapes this source holds, oldest first. Raises SourceError when it cannot be read."""
        ...

    def ingested(self, scrape: Scrape) -> None:
        """Called once the scrape's items are stored (a paid scrape need not be resumed any more)."""
        ...
