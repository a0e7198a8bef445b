"""Where reel items come from: the `ReelSource` protocol and one module per source."""

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
