"""Reels scraped by an Apify actor run (`apify/instagram-reel-scraper`), through `sources.actors`.

One run = one scrape: the actor is started with `actor_input(...)`, waited for, and its default dataset read
page by page into one `Scrape`. A run that ends FAILED, ABORTED or TIMED-OUT yields nothing and raises
`SourceError`; error rows inside a SUCCEEDED run (`no_items`, `restricted_page`, ...) are ordinary items that
the ingest stage quarantines. Reading an existing dataset (`dataset_id=...`) starts no run and costs nothing.
Resuming, never paying twice, and translating the client's errors are the runner's (`ApifyActors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from reels.accounts.names import normalise_accounts
from reels.config import ApifySettings
from reels.errors import ConfigError
from reels.sources import Scrape
from reels.sources.actors import PAGE_SIZE, ApifyActors, ApifyRun, ScrapeLedger


def actor_input(
    settings: ApifySettings, accounts: Sequence[str], newer_than: datetime | None, limit: int | None = None
) -> dict[str, Any]:
    """The reel scraper's input for `accounts` (normalised, deduplicated, in order).

    `onlyPostsNewerThan` is the UTC date (`YYYY-MM-DD`) of `newer_than`, left out when it is None; a naive
    `newer_than` is taken as UTC. `limit` overrides `resultsLimit` (a candidate's trial scrape). Raises
    ConfigError when there is no account to scrape.
    """
    usernames = normalise_accounts(accounts)
    if not usernames:
        raise ConfigError(
            "No Instagram accounts to scrape; list them in [apify] accounts or in the [apify] accounts_file."
        )
    payload: dict[str, Any] = {
        "username": usernames,
        "resultsLimit": limit or settings.results_limit,
        "skipPinnedPosts": settings.skip_pinned_posts,
    }
    if newer_than is not None:
        payload["onlyPostsNewerThan"] = _utc_date(newer_than).isoformat()
    return payload


class ApifySource:
    """A `ReelSource`: one actor run (or one existing dataset) as one `Scrape`.

    `token` is the Apify API token (APIFY_TOKEN); `accounts` the usernames or profile URLs to scrape;
    `newer_than` the cut-off for `onlyPostsNewerThan`; `dataset_id` reads that dataset instead of running
    the actor. `page_size` is the number of dataset items fetched per request.
    """

    name = "apify"

    def __init__(
        self,
        settings: ApifySettings,
        token: str,
        accounts: Sequence[str],
        newer_than: datetime | None = None,
        dataset_id: str | None = None,
        *,
        page_size: int = PAGE_SIZE,
        ledger: ScrapeLedger | None = None,
        notify: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.actors = ApifyActors(settings, token, page_size=page_size, ledger=ledger, notify=notify)
        self.settings = settings
        self.accounts = tuple(accounts)
        self.newer_than = newer_than
        self.dataset_id = dataset_id

    def __repr__(self) -> str:
        return f"ApifySource(api_url={self.settings.api_url!r}, actor_id={self.settings.actor_id!r})"

    @property
    def run(self) -> ApifyRun | None:
        """The finished actor run behind the last scrape, whatever its status (None: no run finished)."""
        return self.actors.runs[-1] if self.actors.runs else None

    def scrapes(self) -> Iterator[Scrape]:
        """One Scrape: the new run's dataset, or the given dataset's. Raises SourceError or ConfigError."""
        if self.dataset_id is not None:
            yield self.actors.dataset(self.dataset_id)
            return
        run_input = actor_input(self.settings, self.accounts, self.newer_than)
        yield self.actors.run(
            self.settings.actor_id,
            run_input,
            resume_hint=", or `reels ingest --dataset-id {dataset_id}` once it has finished",
        )

    def ingested(self, scrape: Scrape) -> None:
        """The scrape's items are in the tables: its run is no longer one to resume."""
        self.actors.ingested(scrape)


def _utc_date(moment: datetime) -> date:
    """The UTC date of `moment`; a naive `moment` is taken as UTC."""
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).date()


__all__ = ["ApifySource", "actor_input"]
