"""The composition root: the only module that knows every concrete source, analyzer and store."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from reels import config
from reels.accounts.names import normalise_accounts, read_accounts
from reels.analysis import Analyzer
from reels.analysis.local import LocalAnalyzer
from reels.config import Secrets, Settings
from reels.config.secrets import secrets_environ
from reels.errors import ConfigError
from reels.insights.playbook import PlaybookWriter, TemplateWriter
from reels.media.fallbacks import Fallback
from reels.media.fallbacks import build_fallbacks as make_fallbacks
from reels.media.transport import download_client
from reels.pipeline import accounts
from reels.pipeline.job import Job
from reels.pipeline.ledger import StoreLedger
from reels.sources import ReelSource
from reels.sources.file import FileSource
from reels.sources.sample import SAMPLE_HOST, SampleMediaTransport, SampleSource
from reels.storage import Cond, Store
from reels.storage.delta import DeltaStore
from reels.storage.tables import REELS

if TYPE_CHECKING:
    from reels.analysis.gemini_batch import GeminiBatches
    from reels.sources.actors import ApifyActors


def source_choice(
    settings: Settings, secrets: Secrets, dataset_id: str | None = None
) -> tuple[str, str | None]:
    """(the source to use, a one-line note on why when it was chosen for the user)."""
    choice = settings.source.source
    if dataset_id is not None:
        if choice not in ("auto", "apify"):
            raise ConfigError(f"--dataset-id reads an Apify dataset; drop --source {choice} or --dataset-id.")
        if not secrets.apify_token:
            raise ConfigError(
                "--dataset-id reads an Apify dataset: set APIFY_TOKEN in the environment or .env."
            )
        return "apify", None
    if choice != "auto":
        return choice, None
    if secrets.apify_token:
        return "apify", None
    return (
        "sample",
        "No APIFY_TOKEN set: using the bundled sample dataset (recorded scrapes of 9 cat accounts).",
    )


def build_source(
    choice: str,
    settings: Settings,
    secrets: Secrets,
    *,
    job: Job,
    dataset_id: str | None = None,
    notify: Callable[[str], None] = lambda line: None,
) -> ReelSource:
    if choice == "sample":
        return SampleSource()
    if choice == "apify":
        if not secrets.apify_token:
            raise ConfigError(
                "--source apify needs APIFY_TOKEN in the environment or .env; set it or use sample."
            )
        store = job.store
        accounts = tracked_accounts(job)
        if not accounts and dataset_id is None:
            raise ConfigError(
                f"No accounts to scrape: add some with `reels accounts add NAME`, in [apify] accounts, "
                f"or in {settings.apify.accounts_file}."
            )
        from reels.sources.apify import ApifySource  # imported when used: the client is slow to import

        newer_than = (
            None  # reading a finished dataset asks the actor nothing
            if dataset_id
            else scrape_cutoff(
                store.read(REELS, ("username", "posted_at", "source"), [Cond("username", "in", accounts)]),
                accounts,
                settings.apify.lookback_days,
            )
        )
        ledger = StoreLedger(store, job.run_id)
        return ApifySource(
            settings.apify,
            secrets.apify_token,
            accounts,
            newer_than,
            dataset_id,
            ledger=ledger,
            notify=notify,
        )
    if not Path(choice).is_file():
        raise ConfigError(f"--source {choice}: no such file; use sample, apify or a JSON/JSONL/CSV file.")
    scraped_at = None
    if settings.source.scraped_at:
        try:
            scraped_at = datetime.fromisoformat(settings.source.scraped_at.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(
                f"[source] scraped_at must be an ISO-8601 time, got {settings.source.scraped_at!r}."
            ) from exc
    return FileSource(Path(choice), scraped_at)


def account_seeds(settings: Settings) -> list[tuple[str, str]]:
    """(username, origin) of the accounts in [apify] accounts ("config"), then the accounts file ("file")."""
    listed = [(n, "config") for n in normalise_accounts(settings.apify.accounts)]
    return listed + [(n, "file") for n in read_accounts(settings.apify.accounts_file)]


def tracked_accounts(job: Job) -> list[str]:
    """The accounts scraped for reels: the `accounts` table's core and explore ones, after seeding it
    with the accounts the settings list (config, then file) that it does not hold yet."""
    accounts.seed(job, account_seeds(job.settings))
    return accounts.tracked(job)


def apify_actors(
    job: Job, secrets: Secrets, notify: Callable[[str], None] = lambda line: None
) -> ApifyActors:
    """The one Apify runner for discovery and profiles, writing its runs into `scrapes`."""
    if not secrets.apify_token:
        raise ConfigError(
            "Finding and profiling accounts runs Apify actors: set APIFY_TOKEN in the environment or .env."
        )
    from reels.sources.actors import ApifyActors  # imported when used: the client is slow to import

    return ApifyActors(
        job.settings.apify, secrets.apify_token, ledger=StoreLedger(job.store, job.run_id), notify=notify
    )


def scrape_cutoff(reels: pa.Table, accounts: list[str], lookback_days: int) -> datetime | None:
    """Ask the actor only for reels newer than this: the least recent of the accounts' newest stored reels,
    minus the look-back that refreshes recent reels' metrics. None (everything) while an account is new.
    `reels`: the username, posted_at and source columns of the accounts' reels."""
    apify = reels.filter(pc.fill_null(pc.starts_with(reels["source"], "apify"), False))
    grouped = apify.group_by("username", use_threads=False).aggregate([("posted_at", "max")])
    newest = {
        u: t
        for u, t in zip(grouped["username"].to_pylist(), grouped["posted_at_max"].to_pylist(), strict=True)
        if t is not None
    }
    if not accounts or any(a not in newest for a in accounts):
        return None
    return min(newest[a] for a in accounts) - timedelta(days=lookback_days)


def analyzer_choice(settings: Settings, secrets: Secrets) -> tuple[str, str | None]:
    choice = settings.analyze.analyzer
    if choice != "auto":
        return choice, None
    if secrets.gemini_api_key:
        return "gemini", None
    return "local", "No GEMINI_API_KEY set: analyzing videos with the local analyzer (OpenCV + ffmpeg)."


def build_analyzer(choice: str, settings: Settings, secrets: Secrets) -> Analyzer:
    """The local analyzer, or Gemini with the local analyzer as its circuit-broken backup."""
    if choice == "local":
        return LocalAnalyzer()
    if not secrets.gemini_api_key:
        raise ConfigError(
            "--analyzer gemini needs GEMINI_API_KEY in the environment or .env; set it or use local."
        )
    # Imported when used: the SDK takes a fifth of a second to import, which every other command would pay.
    from reels.analysis.fallback import FallbackAnalyzer
    from reels.analysis.gemini import GeminiAnalyzer

    gemini = GeminiAnalyzer.from_settings(settings.gemini, secrets.gemini_api_key)
    return FallbackAnalyzer(
        gemini,
        LocalAnalyzer(),
        threshold=settings.gemini.breaker_threshold,
        cooldown_s=settings.gemini.breaker_cooldown_s,
    )


def build_batcher(choice: str, settings: Settings, secrets: Secrets) -> GeminiBatches | None:
    """Gemini's Batch API when Gemini analyzes and `[gemini] mode = "batch"`, else None (direct calls)."""
    if choice != "gemini" or settings.gemini.mode != "batch":
        return None
    return batcher(settings, secrets)


def batcher(settings: Settings, secrets: Secrets) -> GeminiBatches:
    """Gemini's Batch API (`reels batches` uses it whatever the mode: to collect what an earlier run left)."""
    if not secrets.gemini_api_key:
        raise ConfigError("Gemini batches need GEMINI_API_KEY in the environment or .env.")
    from reels.analysis.gemini_batch import GeminiBatches  # the SDK only when used

    return GeminiBatches.from_settings(settings.gemini, secrets.gemini_api_key)


def build_measurer(choice: str) -> Analyzer | None:
    """The local measurements taken beside a model's analysis (they are free): None when the local analyzer
    is the analyzer already."""
    return None if choice == "local" else LocalAnalyzer()


def build_playbook_writer(settings: Settings, secrets: Secrets) -> PlaybookWriter:
    """Gemini when `[insights] playbook` asks for it (auto: when GEMINI_API_KEY is set), else the template."""
    choice = settings.insights.playbook
    if choice == "template" or (choice == "auto" and not secrets.gemini_api_key):
        return TemplateWriter()
    if not secrets.gemini_api_key:
        raise ConfigError(
            '[insights] playbook = "gemini" needs GEMINI_API_KEY in the environment or .env; set it or use '
            '"template".'
        )
    from reels.insights.gemini_writer import GeminiPlaybookWriter  # the SDK only when used

    return GeminiPlaybookWriter.from_settings(settings.gemini, secrets.gemini_api_key)


def build_store(settings: Settings) -> Store:
    """The embedded Delta store, or the Spark store (Databricks, or a Spark Connect server)."""
    s = settings.storage
    if s.kind == "spark":
        from reels.storage.spark import open_spark_store  # pyspark only when asked for

        return open_spark_store(
            s.spark_remote, catalog=s.catalog, schema=s.schema, schema_evolution=s.schema_evolution
        )
    return DeltaStore(settings.paths.lake, target_file_mb=s.target_file_mb)


def load_secrets(settings: Settings) -> Secrets:
    """Secrets from the environment and .env; on Databricks, from [storage] secret_scope first."""
    environ = dict(os.environ)
    if settings.storage.secret_scope:
        environ |= secrets_environ(settings.storage.secret_scope)
    return config.load_secrets(environ=environ)


def http_client(settings: Settings) -> httpx.Client:
    """One shared download client: every connection to a checked address; the sample's fictional CDN host
    is served from the package."""
    return download_client(settings.download, mounts={f"https://{SAMPLE_HOST}": SampleMediaTransport()})


def build_fallbacks(settings: Settings, secrets: Secrets) -> list[Fallback]:
    """The fallback downloaders whose credentials are set; built once per run (they remember rate limits)."""
    return make_fallbacks(settings.download, secrets.instagram_session_file, secrets.instagram_cookies_file)
