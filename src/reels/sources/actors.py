"""Apify actor runs through the official `apify-client`: the one runner of every actor reels uses (the reel
scraper, and the profile and hashtag scrapers of account discovery), so all share its client settings,
retries, resume and cost accounting.

A paid run is never paid twice. Its start is sent without the client's retries: when the answer is lost,
the actor's runs are looked up for the one this start created (new, with this input) before anything is
sent again. With a `ScrapeLedger` (the `scrapes` table), the run is written down as soon as it exists and
marked ingested once its items are stored; a run for the same purpose that finds one started and not
ingested resumes it (waits for it, reads its dataset) instead of starting another. Every finished run is
kept in `runs`, with what it cost.

The client's and its transport's (impit) exceptions are translated here, at the boundary: a rejected token,
an unknown actor or dataset, or an input the API refuses are `ConfigError`; everything else is `SourceError`.
The token never appears in a message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import impit
import pydantic
from apify_client import ApifyClient
from apify_client.errors import (
    ApifyApiError,
    ApifyClientError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)

from reels.config import ApifySettings
from reels.errors import ConfigError, ReelsError, SourceError
from reels.retry import RetryPolicy
from reels.sources import Scrape

PAGE_SIZE = 1000  # dataset items per request (the client's own default chunk)
LONG_POLL = timedelta(seconds=60)  # the API holds a `waitForFinish` request at most this long
WAIT_MARGIN = timedelta(minutes=5)  # beyond the run's own timeout: queueing and start-up
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"})
RECENT_RUNS = 20  # runs listed to find the one a lost start answer created
TOKEN_HELP = "set APIFY_TOKEN to an API token from https://console.apify.com/settings/integrations"


class ScrapeLedger(Protocol):
    """Where started Apify runs are written down the moment they exist, so a crash never pays twice."""

    def pending(self, actor_id: str, purpose: str) -> tuple[str, str] | None:
        """(run id, dataset id) of a run of `actor_id` for `purpose` started and not ingested, if any."""
        ...

    def started(self, run_id: str, actor_id: str, dataset_id: str, purpose: str) -> None: ...

    def ended(self, run_id: str, status: str) -> None:
        """The run ended without items to ingest (FAILED, ABORTED, ...): not one to resume."""
        ...

    def ingested(self, run_id: str) -> None: ...


@dataclass(frozen=True)
class ApifyRun:
    """The finished actor run behind the last scrape: for the `runs` table (cost) and for re-reading it."""

    run_id: str
    dataset_id: str
    status: str
    finished_at: datetime | None
    cost_usd: float | None


class _Unstarted(SourceError):
    """A start got no answer and created no run: it may be sent again."""


class ApifyActors:
    """Runs actors and reads datasets with one token and one `[apify]` client configuration.

    `page_size` is the number of dataset items fetched per request; `ledger` writes runs down as they
    start; `notify` gets one line per started or resumed run.
    """

    def __init__(
        self,
        settings: ApifySettings,
        token: str,
        *,
        page_size: int = PAGE_SIZE,
        ledger: ScrapeLedger | None = None,
        notify: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise ConfigError(f"APIFY_TOKEN is not set; {TOKEN_HELP}.")
        self.settings, self.page_size = settings, page_size
        self.ledger, self.notify = ledger, notify
        self.runs: list[ApifyRun] = []  # every run that finished, whatever its status
        self._sleep = sleep
        self._token = token

    def __repr__(self) -> str:
        return f"ApifyActors(api_url={self.settings.api_url!r})"

    def ingested(self, scrape: Scrape) -> None:
        """The scrape's items are stored: its run is no longer one to resume."""
        run_id = scrape.source.removeprefix("apify:")
        if (
            self.ledger is not None
            and scrape.source.startswith("apify:")
            and not run_id.startswith("dataset:")
        ):
            self.ledger.ingested(run_id)

    def _client(self, *, retries: bool = True) -> ApifyClient:
        s = self.settings
        per_request = timedelta(seconds=s.timeout_s)
        return ApifyClient(
            self._token,
            api_url=s.api_url,
            max_retries=s.max_retries if retries else 0,
            min_delay_between_retries=timedelta(milliseconds=s.min_delay_between_retries_ms),
            timeout_short=per_request,
            timeout_medium=per_request,
            timeout_long=per_request,
            # A retried request doubles its timeout up to this cap, which must leave room for a long poll.
            timeout_max=per_request + LONG_POLL,
            user_agent_suffix="reels-etl",
        )

    def run(
        self,
        actor_id: str,
        run_input: dict[str, Any],
        *,
        purpose: str = "reels",
        setting: str = "[apify] actor_id",
        resume_hint: str = "",
    ) -> Scrape:
        """Run `actor_id` with `run_input` (or resume its pending run for `purpose`) and read its dataset.

        Raises SourceError when the run ends other than SUCCEEDED or cannot be read, ConfigError for a
        rejected token, actor (named by `setting`) or input."""
        s = self.settings
        client = self._client()
        run_timeout = timedelta(seconds=s.run_timeout_s)
        pending = self.ledger.pending(actor_id, purpose) if self.ledger is not None else None
        if pending is not None:
            run_id, dataset_id = pending
            self.notify(
                f"Resuming Apify run {run_id} (dataset {dataset_id}): an earlier run started it and did not "
                "ingest it, so no new run is started."
            )
        else:
            run_id, dataset_id = self._start(client, actor_id, run_input, run_timeout, setting)
            if self.ledger is not None:
                self.ledger.started(run_id, actor_id, dataset_id, purpose)
            self.notify(
                f"Apify run {run_id} started (dataset {dataset_id}); if this stops, run the same command "
                f"again to resume it{resume_hint.format(dataset_id=dataset_id)}."
            )
        waited = run_timeout + WAIT_MARGIN
        with self._translated(f"wait for Apify run {run_id}"):
            run = client.run(run_id).wait_for_finish(
                wait_duration=waited,
                timeout=timedelta(seconds=s.timeout_s) + LONG_POLL,
            )
        if run is None:
            if self.ledger is not None:
                self.ledger.ended(run_id, "GONE")
            raise SourceError(f"Apify run {run_id} disappeared while waiting for it; run the scrape again.")
        finished = ApifyRun(
            run.id,
            run.default_dataset_id,
            str(run.status),
            run.finished_at.astimezone(UTC) if run.finished_at else None,
            run.usage_total_usd,
        )
        self.runs.append(finished)
        if run.status not in TERMINAL:
            raise SourceError(
                f"Apify run {run.id} is still {run.status} after {int(waited.total_seconds()) // 60} min of "
                f"waiting; ingest its dataset later with --dataset-id {run.default_dataset_id}."
            )
        if run.status != "SUCCEEDED":
            if self.ledger is not None:
                self.ledger.ended(run.id, str(run.status))
            detail = f" ({run.status_message})" if run.status_message else ""
            raise SourceError(
                f"Apify run {run.id} of {actor_id} ended {run.status}{detail}, so nothing was ingested; "
                "see the run in the Apify console and run the scrape again."
            )
        try:
            items = self._items(client, run.default_dataset_id)
        except SourceError:
            if pending is not None and self.ledger is not None:
                self.ledger.ended(run.id, "UNREADABLE")  # resumed and still unreadable: do not loop on it
            raise
        # Both are timezone-aware: the client's Run model rejects naive times.
        scraped_at = (run.finished_at or run.started_at).astimezone(UTC)
        return Scrape(f"apify:{run.id}", scraped_at, items, run.usage_total_usd)

    def _start(
        self,
        client: ApifyClient,
        actor_id: str,
        run_input: dict[str, Any],
        run_timeout: timedelta,
        setting: str,
    ) -> tuple[str, str]:
        """Start one actor run: (run id, dataset id). The start is never retried blindly: when its answer is
        lost (a timeout, a dropped connection, a 5xx), the actor's runs are looked up for one that did not
        exist before and carries this input; only when there is none is the start sent again."""
        s = self.settings
        actor = client.actor(actor_id)
        with self._translated(f"list the runs of {actor_id}", start=actor_id, setting=setting):
            before = {r.id for r in actor.runs().list(desc=True, limit=RECENT_RUNS).items}
        once = self._client(retries=False).actor(actor_id)

        def attempt() -> tuple[str, str]:
            try:
                with self._translated(f"start the actor {actor_id}", start=actor_id, setting=setting):
                    # start() + wait_for_finish() is what call(logger=None) does, but lets each long poll
                    # time out; logger=None matters with call(): its default one streams the run's log.
                    started = once.start(
                        run_input=run_input,
                        memory_mbytes=s.memory_mbytes,
                        run_timeout=run_timeout,
                        timeout=timedelta(seconds=s.timeout_s),
                    )
                return started.id, started.default_dataset_id
            except SourceError as lost:
                found = self._runs_started_with(client, actor_id, run_input, before)
                if len(found) > 1:
                    raise SourceError(
                        f"Starting {actor_id} got no answer, and {len(found)} new runs have this input "
                        f"({', '.join(r for r, _ in found)}); ingest the right one with --dataset-id."
                    ) from lost
                if found:
                    return found[0]
                raise _Unstarted(str(lost)) from lost  # no run exists: sending the start again is safe

        # The one retry mechanism, for a start whose answer was lost and created no run.
        policy = RetryPolicy(
            attempts=s.max_retries + 1,
            initial_delay_s=s.min_delay_between_retries_ms / 1000,
            max_delay_s=max(1.0, s.min_delay_between_retries_ms / 1000),
        )
        return policy.call(attempt, retry_if=lambda e: isinstance(e, _Unstarted), sleep=self._sleep)

    def _runs_started_with(
        self, client: ApifyClient, actor_id: str, run_input: dict[str, Any], before: set[str]
    ) -> list[tuple[str, str]]:
        """(run id, dataset id) of the actor's runs that are new since `before` and carry `run_input`."""
        with self._translated(f"look up the runs of {actor_id}"):
            recent = client.actor(actor_id).runs().list(desc=True, limit=RECENT_RUNS).items
            found = []
            for r in recent:
                if r.id in before:
                    continue
                record = client.key_value_store(r.default_key_value_store_id).get_record("INPUT")
                if record is not None and record.get("value") == run_input:
                    found.append((r.id, r.default_dataset_id))
        return found

    def dataset(self, dataset_id: str) -> Scrape:
        """The items of an existing dataset: no run is started, nothing is paid."""
        client = self._client()
        with self._translated(f"read Apify dataset {dataset_id}"):
            dataset = client.dataset(dataset_id).get()
        if dataset is None:
            raise ConfigError(
                f"Apify has no dataset {dataset_id!r} for this token; pass an existing --dataset-id."
            )
        items = self._items(client, dataset_id)
        scraped_at = dataset.modified_at.astimezone(UTC)  # required and timezone-aware in the client's model
        return Scrape(f"apify:dataset:{dataset_id}", scraped_at, items)

    def _items(self, client: ApifyClient, dataset_id: str) -> list[Any]:
        with self._translated(f"read the items of Apify dataset {dataset_id}"):
            return list(client.dataset(dataset_id).iterate_items(chunk_size=self.page_size))

    @contextmanager
    def _translated(self, doing: str, *, start: str = "", setting: str = "") -> Iterator[None]:
        """The client's and impit's exceptions as ours; `start` names the actor a start request is for."""
        s = self.settings
        try:
            yield
        except ReelsError:
            raise
        except UnauthorizedError as exc:
            raise ConfigError(f"Apify rejected the token in APIFY_TOKEN ({exc.type}); {TOKEN_HELP}.") from exc
        except ForbiddenError as exc:
            raise ConfigError(
                f"Apify refused to {doing} ({exc.type}: {exc.message}); check that the account of "
                "APIFY_TOKEN may do this (plan, permissions, rented actor)."
            ) from exc
        except NotFoundError as exc:
            if start:
                raise ConfigError(
                    f"Apify has no actor {start!r}; set {setting} to an existing actor, "
                    "e.g. apify/instagram-reel-scraper."
                ) from exc
            raise SourceError(f"Apify answered 404 ({exc.message}) trying to {doing}; run it again.") from exc
        except InvalidRequestError as exc:
            if start:
                raise ConfigError(
                    f"Apify rejected the input of {start} ({exc.type}: {exc.message}); fix the accounts "
                    "and settings."
                ) from exc
            raise SourceError(f"Apify rejected the request to {doing}: {exc.message}.") from exc
        except ApifyApiError as exc:
            raise SourceError(
                f"The Apify API failed to {doing}: HTTP {exc.status_code} {exc.type} ({exc.message}) after "
                f"{exc.attempt} attempt(s); try again later."
            ) from exc
        except impit.TimeoutException as exc:
            raise SourceError(
                f"The Apify API at {s.api_url} ([apify] api_url) did not answer in time trying to {doing}; "
                "try again later, or raise [apify] timeout_s."
            ) from exc
        except impit.HTTPError as exc:
            raise SourceError(
                f"Cannot reach the Apify API at {s.api_url} ([apify] api_url) to {doing} "
                f"({_transport_reason(exc)}); check the URL and the network."
            ) from exc
        except impit.InvalidURL as exc:
            raise ConfigError(
                f"[apify] api_url {s.api_url!r} is not a valid URL; set it to e.g. https://api.apify.com."
            ) from exc
        except (ApifyClientError, pydantic.ValidationError, KeyError, ValueError) as exc:
            raise SourceError(
                f"The Apify API at {s.api_url} ([apify] api_url) sent an unexpected response trying to "
                f"{doing} ({type(exc).__name__}); check that the URL points at the Apify API."
            ) from exc


def _transport_reason(exc: Exception) -> str:
    """impit's message, minus the Rust debug dump that follows its first line."""
    text = str(exc).strip()
    first = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
    kind = re.search(r"kind: (\w+)", text)
    return f"{first}: {kind.group(1)}" if kind else first


__all__ = ["PAGE_SIZE", "ApifyActors", "ApifyRun", "ScrapeLedger"]
