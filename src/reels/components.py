"""The composition root: the only module that knows every concrete source, analyzer and store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx

from reels.analysis import Analyzer
from reels.analysis.local import LocalAnalyzer
from reels.config import Secrets, Settings
from reels.errors import ConfigError
from reels.sources import ReelSource
from reels.sources.file import FileSource
from reels.sources.sample import SAMPLE_HOST, SampleMediaTransport, SampleSource
from reels.storage import Store
from reels.storage.delta import DeltaStore


def source_choice(settings: Settings, secrets: Secrets) -> tuple[str, str | None]:
    """(the source to use, a one-line note on why when it was chosen for the user)."""
    choice = settings.source.source
    if choice != "auto":
        return choice, None
    if secrets.apify_token:
        return "apify", None
    return (
        "sample",
        "No APIFY_TOKEN set: using the bundled sample dataset (recorded scrapes of 9 cat accounts).",
    )


def build_source(choice: str, settings: Settings, secrets: Secrets) -> ReelSource:
    if choice == "sample":
        return SampleSource()
    if choice == "apify":
        if not secrets.apify_token:
            raise ConfigError(
                "--source apify needs APIFY_TOKEN in the environment or .env; set it or use sample."
            )
        raise ConfigError(
            "The Apify source is not available in this version yet; use --source sample or a file."
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


def analyzer_choice(settings: Settings, secrets: Secrets) -> tuple[str, str | None]:
    choice = settings.analyze.analyzer
    if choice != "auto":
        return choice, None
    if secrets.gemini_api_key:
        return "gemini", None
    return "local", "No GEMINI_API_KEY set: analyzing videos with the local analyzer (OpenCV + ffmpeg)."


def build_analyzer(choice: str, settings: Settings, secrets: Secrets) -> Analyzer:
    if choice == "local":
        return LocalAnalyzer()
    if not secrets.gemini_api_key:
        raise ConfigError(
            "--analyzer gemini needs GEMINI_API_KEY in the environment or .env; set it or use local."
        )
    raise ConfigError("The Gemini analyzer is not available in this version yet; use --analyzer local.")


def build_store(settings: Settings) -> Store:
    return DeltaStore(settings.paths.lake)


def http_client(settings: Settings) -> httpx.Client:
    """One shared client for all downloads. The sample's fictional CDN host is served from the package."""
    d = settings.download
    return httpx.Client(
        timeout=httpx.Timeout(d.timeout_s),
        limits=httpx.Limits(max_connections=d.concurrency, max_keepalive_connections=d.concurrency),
        follow_redirects=False,  # redirects are followed by hand, re-checking each hop against the policy
        mounts={f"https://{SAMPLE_HOST}": SampleMediaTransport()},
        headers={"user-agent": "reels-etl/0.1"},
    )
