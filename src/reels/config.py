"""Settings: defaults → TOML file → `REELS_<SECTION>__<KEY>` environment → flags, into one frozen object.

This is the only module that reads the config file or the environment. Secrets are kept apart in `Secrets`,
read only from the environment (and a `.env` file), and never printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

from dotenv import dotenv_values

from reels.errors import ConfigError

DEFAULT_CONFIG = Path("reels.toml")


def _positive(section: str, **values: float) -> None:
    for key, value in values.items():
        if value <= 0:
            raise ConfigError(f"[{section}] {key} must be greater than 0, got {value}.")


@dataclass(frozen=True)
class PathSettings:
    lake: Path = Path("lakehouse")
    media: Path = Path("media")
    report: Path = Path("reels_report.html")

    def __post_init__(self) -> None:
        for name, flag in (("lake", "--lake"), ("media", "[paths] media")):
            if getattr(self, name).is_file():
                raise ConfigError(
                    f"{flag} {getattr(self, name)} is a file; name a folder (it is created if missing)."
                )
        if self.report.is_dir():
            raise ConfigError(
                f"--report {self.report} is a folder; name the file to write, "
                f"e.g. {self.report / 'reels_report.html'}."
            )


@dataclass(frozen=True)
class SourceSettings:
    # "auto": Apify when APIFY_TOKEN is set, else the bundled sample; or "sample", "apify", or a file path.
    source: str = "auto"
    # A file source carries no scrape time; None means the file's modification time.
    scraped_at: str | None = None


@dataclass(frozen=True)
class ApifySettings:
    api_url: str = "https://api.apify.com"
    actor_id: str = "apify/instagram-reel-scraper"
    # The tracked accounts: listed here, and/or in a JSON file (an actor input file with "username", or a
    # plain list), relative to the working directory. `reels accounts` edits the file.
    accounts: tuple[str, ...] = ()
    accounts_file: Path = Path("accounts.json")
    results_limit: int = 30
    skip_pinned_posts: bool = False
    lookback_days: int = 14  # re-scrape reels this recent to refresh their metrics
    memory_mbytes: int = 1024
    run_timeout_s: int = 1800
    max_retries: int = 4
    min_delay_between_retries_ms: int = 500
    timeout_s: float = 60.0  # per API request

    def __post_init__(self) -> None:
        _positive(
            "apify",
            results_limit=self.results_limit,
            memory_mbytes=self.memory_mbytes,
            run_timeout_s=self.run_timeout_s,
            timeout_s=self.timeout_s,
        )
        if self.lookback_days < 0 or self.max_retries < 0:
            raise ConfigError("[apify] lookback_days and max_retries must not be negative.")


@dataclass(frozen=True)
class LabelSettings:
    """Virality rule and its thresholds (virality.md §3); `reels.example.toml` says what each one does."""

    method: str = "median_ratio"  # or the legacy rules, to compare with: mean_last_50 | top_percent
    ratio_min: float = 3.0
    z_min: float = 2.0
    min_views: int = 1000
    min_age_days: float = 7.0
    baseline_reels: int = 30
    lookback_days: float = 180.0
    min_baseline: int = 8
    mad_floor: float = 0.25
    shrink_k: float = 5.0
    min_pooled: int = 5
    max_score_age_days: float = 35.0
    tier_strong: float = 5.0
    tier_breakout: float = 10.0
    legacy_last_n: int = 50
    top_percent: float = 20.0

    def __post_init__(self) -> None:
        methods = ("median_ratio", "mean_last_50", "top_percent")
        if self.method not in methods:
            raise ConfigError(f"[label] method must be one of: {', '.join(methods)}; got {self.method!r}.")
        _positive(
            "label",
            ratio_min=self.ratio_min,
            baseline_reels=self.baseline_reels,
            lookback_days=self.lookback_days,
            min_baseline=self.min_baseline,
            mad_floor=self.mad_floor,
            shrink_k=self.shrink_k,
            min_pooled=self.min_pooled,
            max_score_age_days=self.max_score_age_days,
            legacy_last_n=self.legacy_last_n,
            top_percent=self.top_percent,
        )
        if self.min_views < 0 or self.min_age_days < 0 or self.z_min < 0:
            raise ConfigError("[label] min_views, min_age_days and z_min must not be negative.")
        if not self.ratio_min <= self.tier_strong <= self.tier_breakout:
            raise ConfigError("[label] tiers must rise: ratio_min ≤ tier_strong ≤ tier_breakout.")
        if self.top_percent > 100:
            raise ConfigError(f"[label] top_percent must be at most 100, got {self.top_percent}.")


@dataclass(frozen=True)
class DownloadSettings:
    allowed_hosts: tuple[str, ...] = ("cdninstagram.com", "fbcdn.net")
    allow_http: bool = False
    concurrency: int = 8
    max_bytes: int = 200_000_000
    timeout_s: float = 30.0  # connect, and between two reads
    deadline_s: float = 600.0  # one attempt at one video, start to end (a trickling body is cut off)
    retries: int = 3
    backoff_s: float = 0.5  # first retry delay; doubles per attempt, with jitter
    max_backoff_s: float = 8.0  # no retry waits longer, even when the server's Retry-After asks for more
    # Fallback downloaders, tried in this order when the CDN link is expired or gone; each is used only
    # when its credential is set (INSTAGRAM_SESSION_FILE, INSTAGRAM_COOKIES_FILE). () turns them off.
    fallbacks: tuple[str, ...] = ("instaloader", "yt-dlp")

    def __post_init__(self) -> None:
        _positive(
            "download",
            concurrency=self.concurrency,
            max_bytes=self.max_bytes,
            timeout_s=self.timeout_s,
            deadline_s=self.deadline_s,
        )
        if not self.allowed_hosts:
            raise ConfigError("[download] allowed_hosts must list at least one host suffix.")
        if self.retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ConfigError("[download] retries, backoff_s and max_backoff_s must not be negative.")
        unknown = [f for f in self.fallbacks if f not in ("instaloader", "yt-dlp")]
        if unknown or len(set(self.fallbacks)) != len(self.fallbacks):
            raise ConfigError(
                "[download] fallbacks must list instaloader and/or yt-dlp, each at most once; "
                f"got {list(self.fallbacks)}."
            )


@dataclass(frozen=True)
class GeminiSettings:
    base_url: str | None = None  # None: the SDK's own endpoint
    api_version: str = "v1beta"  # google-genai 3.x defaults to v1; v1beta has every feature
    model: str = "gemini-3.8-flash"
    fallback_models: tuple[str, ...] = ("gemini-3.5-flash-lite",)  # tried in order after repeated 503s
    concurrency: int = 8  # calls in flight
    requests_per_minute: int = 300  # client-side limits (0: none); set them to the project's quota
    tokens_per_minute: int = 1_000_000
    timeout_s: float = 120.0  # every HTTP call
    inline_max_bytes: int = 20_000_000  # larger videos go through the Files API
    upload_timeout_s: float = 300.0  # an upload must be ACTIVE within this
    poll_interval_s: float = 2.0
    media_resolution: str = "low"  # low | medium | high
    fps: float = 1.0
    thinking_level: str = "low"  # minimal | low | medium | high
    max_output_tokens: int = 4096
    max_retries: int = 4  # extra attempts on 429/5xx/timeouts
    retry_initial_s: float = 2.0
    retry_max_s: float = 60.0
    model_switch_after: int = 3  # consecutive 503s/timeouts on a model before the next fallback model
    model_cooldown_s: float = 120.0  # after a switch, the primary model is tried again this much later
    breaker_threshold: int = 5  # consecutive failed reels before the local analyzer takes over
    breaker_cooldown_s: float = 300.0  # then Gemini is tried again (one reel) this much later
    # USD per 1M tokens: "model=input/output". A model without a price records no cost.
    prices: tuple[str, ...] = ("gemini-3.8-flash=0.75/3.75", "gemini-3.5-flash-lite=0.30/2.50")

    def __post_init__(self) -> None:
        _positive(
            "gemini",
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            inline_max_bytes=self.inline_max_bytes,
            upload_timeout_s=self.upload_timeout_s,
            poll_interval_s=self.poll_interval_s,
            fps=self.fps,
            max_output_tokens=self.max_output_tokens,
            model_switch_after=self.model_switch_after,
            model_cooldown_s=self.model_cooldown_s,
            breaker_threshold=self.breaker_threshold,
            breaker_cooldown_s=self.breaker_cooldown_s,
        )
        negative = [
            k
            for k in (
                "requests_per_minute",
                "tokens_per_minute",
                "max_retries",
                "retry_initial_s",
                "retry_max_s",
            )
            if getattr(self, k) < 0
        ]
        if negative:
            raise ConfigError(f"[gemini] {negative[0]} must not be negative.")
        if self.fps > 24:
            raise ConfigError(f"[gemini] fps must be at most 24, got {self.fps}.")
        if self.media_resolution not in ("low", "medium", "high"):
            raise ConfigError(
                f"[gemini] media_resolution must be low, medium or high; got {self.media_resolution!r}."
            )
        if self.thinking_level not in ("minimal", "low", "medium", "high"):
            raise ConfigError(
                f"[gemini] thinking_level must be minimal, low, medium or high; got {self.thinking_level!r}."
            )
        if not self.model:
            raise ConfigError("[gemini] model must name a Gemini model, e.g. gemini-3.8-flash.")
        self.price_table()  # validates the prices now, not at the first call

    def price_table(self) -> dict[str, tuple[float, float]]:
        """{model: (input, output) USD per 1M tokens}, parsed from `prices`."""
        table = {}
        for entry in self.prices:
            model, _, pair = entry.partition("=")
            inp, _, out = pair.partition("/")
            try:
                table[model.strip()] = (float(inp), float(out))
            except ValueError:
                raise ConfigError(
                    f'[gemini] prices entry {entry!r} must look like "gemini-3.8-flash=0.75/3.75" '
                    "(USD per 1M input/output tokens)."
                ) from None
        return table


@dataclass(frozen=True)
class AnalyzeSettings:
    # "auto": Gemini when GEMINI_API_KEY is set, else the local analyzer.
    analyzer: str = "auto"
    concurrency: int = 2

    def __post_init__(self) -> None:
        if self.analyzer not in ("auto", "gemini", "local"):
            raise ConfigError(f"[analyze] analyzer must be auto, gemini or local; got {self.analyzer!r}.")
        _positive("analyze", concurrency=self.concurrency)


@dataclass(frozen=True)
class InsightsSettings:
    """What makes a finding (insights.md §3): within-account effects, Benjamini–Hochberg at `fdr`."""

    fdr: float = 0.10  # false discovery rate: supported only with q ≤ this
    min_reels: int = 5  # reels with, and reels without, a feature before it is tested
    min_accounts: int = 3  # accounts with reels both with and without it (at least 2)
    min_same_sign: int = 2  # accounts whose own contrast has the effect's sign, for "supported"
    bootstrap: int = 2000  # account resamples per interval; within-account permutations: at least this many
    confidence: float = 0.95  # level of the intervals
    seed: int = 0  # the same inputs always give the same numbers
    playbook: str = "auto"  # auto (Gemini when GEMINI_API_KEY is set) | gemini | template
    playbook_size: int = 7  # recommendations at most (the playbook asks for 3 to this many)
    window_days: float = 365.0  # findings are estimated over the labelled reels posted this recently
    # A run re-estimates the findings only when the latest are this old (0: every run); `reels insights`
    # always does. A day's reels barely move a year's estimates, which cost what the window holds.
    refresh_days: float = 0.0

    def __post_init__(self) -> None:
        _positive("insights", min_reels=self.min_reels, bootstrap=self.bootstrap)
        _positive("insights", window_days=self.window_days)
        if self.refresh_days < 0:
            raise ConfigError(f"[insights] refresh_days must be 0 or more, got {self.refresh_days}.")
        if not 0 < self.fdr < 1:
            raise ConfigError(f"[insights] fdr must be between 0 and 1, got {self.fdr}.")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"[insights] confidence must be between 0 and 1, got {self.confidence}.")
        if self.min_accounts < 2 or self.min_same_sign < 1:
            raise ConfigError("[insights] min_accounts must be at least 2 and min_same_sign at least 1.")
        if self.playbook not in ("auto", "gemini", "template"):
            raise ConfigError(f"[insights] playbook must be auto, gemini or template; got {self.playbook!r}.")
        if not 1 <= self.playbook_size <= 20:
            raise ConfigError(f"[insights] playbook_size must be from 1 to 20, got {self.playbook_size}.")


@dataclass(frozen=True)
class StorageSettings:
    # "delta": Delta tables under [paths] lake (deltalake, no server). "spark": <catalog>.<schema>.<table>
    # through Spark: Databricks' own session, or a Spark Connect server at spark_remote.
    kind: str = "delta"
    catalog: str = "workspace"
    schema: str = "test"
    spark_remote: str | None = None  # sc://host:port; None: the active session (Databricks)
    schema_evolution: bool = True  # MERGE WITH SCHEMA EVOLUTION (Databricks Runtime 15.2+)
    secret_scope: str | None = None  # Databricks secret scope holding APIFY_TOKEN, GEMINI_API_KEY, ...
    # Upkeep at the end of every `reels run` (and `reels maintain`): once a table holds this many files
    # under a quarter of the target size (0: never), they are packed together, and once it holds four
    # times as many under the target, all of those are packed to it; then the files no version of the
    # last `vacuum_retention_hours` needs are deleted (time travel reaches that far back).
    compact_min_files: int = 8
    target_file_mb: int = 16
    vacuum_retention_hours: float = 168.0

    def __post_init__(self) -> None:
        _positive("storage", target_file_mb=self.target_file_mb)
        if self.compact_min_files < 0 or self.vacuum_retention_hours < 0:
            raise ConfigError("[storage] compact_min_files and vacuum_retention_hours must be 0 or more.")
        if self.kind not in ("delta", "spark"):
            raise ConfigError(f"[storage] kind must be delta or spark; got {self.kind!r}.")
        for name in ("catalog", "schema"):
            if not re.fullmatch(r"[A-Za-z0-9_-]+", getattr(self, name)):
                raise ConfigError(
                    f"[storage] {name} must be a plain identifier, got {getattr(self, name)!r}."
                )


@dataclass(frozen=True)
class IngestSettings:
    # Our column → the raw item fields that feed it, comma-separated, first present wins; overrides
    # `reels.ingest.REEL_FIELDS` (e.g. views = "videoPlayCount,igPlayCount,videoViewCount").
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from reels.ingest import field_map  # the column names live beside the parser

        try:
            field_map(self.fields)
        except ValueError as exc:
            raise ConfigError(f"[ingest] fields: {exc}.") from exc


@dataclass(frozen=True)
class AdsSettings:
    # Our field → the export's header, for exports whose headers `reels.ads.AD_COLUMNS` does not know.
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from reels.ads import AD_COLUMNS  # the field names live beside the parser

        unknown = sorted(set(self.columns) - set(AD_COLUMNS))
        if unknown:
            known = ", ".join(AD_COLUMNS)
            raise ConfigError(f"[ads] columns: unknown field {unknown[0]!r}; fields: {known}.")


@dataclass(frozen=True)
class Settings:
    paths: PathSettings = field(default_factory=PathSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    apify: ApifySettings = field(default_factory=ApifySettings)
    label: LabelSettings = field(default_factory=LabelSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    analyze: AnalyzeSettings = field(default_factory=AnalyzeSettings)
    gemini: GeminiSettings = field(default_factory=GeminiSettings)
    insights: InsightsSettings = field(default_factory=InsightsSettings)
    ads: AdsSettings = field(default_factory=AdsSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)


@dataclass(frozen=True)
class Secrets:
    """Credentials, from the environment only. repr=False keeps them out of logs and tracebacks."""

    apify_token: str | None = field(default=None, repr=False)
    gemini_api_key: str | None = field(default=None, repr=False)
    instagram_session_file: str | None = field(default=None, repr=False)
    instagram_cookies_file: str | None = field(default=None, repr=False)


def load(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Settings from defaults, then the TOML file, then REELS_* variables, then `overrides` (the flags).

    `path` None means ./reels.toml when present. Raises ConfigError naming the key that is wrong.
    """
    environ = os.environ if environ is None else environ
    layers: dict[str, dict[str, Any]] = {}
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    if path is not None:
        _layer(layers, _read_toml(path), where=str(path))
    _layer(layers, _from_environ(environ), where="environment")
    _layer(layers, overrides or {}, where="flags")
    sections = {}
    for f in dataclasses.fields(Settings):
        section_cls = _section_type(f.name)
        given = layers.pop(f.name, {})
        sections[f.name] = _build(section_cls, f.name, given)
    if layers:
        raise ConfigError(
            f"Unknown config section [{sorted(layers)[0]}]; see reels.example.toml for the sections."
        )
    return Settings(**sections)


def load_secrets(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Secrets:
    """Secrets from the environment; a `.env` file fills in what the environment does not set."""
    environ = os.environ if environ is None else environ
    file_values = {k: v for k, v in dotenv_values(dotenv).items() if v} if dotenv and dotenv.is_file() else {}
    merged = {**file_values, **{k: v for k, v in environ.items() if v}}
    return Secrets(**{f.name: merged.get(f.name.upper()) for f in dataclasses.fields(Secrets)})


def _section_type(name: str) -> type:
    return typing.get_type_hints(Settings)[name]  # type: ignore[no-any-return]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist; pass an existing --config file.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if name.startswith("REELS_") and "__" in name:
            section, key = name[len("REELS_") :].lower().split("__", 1)
            out.setdefault(section, {})[key] = value
    return out


def _layer(into: dict[str, dict[str, Any]], layer: Mapping[str, Any], where: str) -> None:
    for section, values in layer.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"In {where}, [{section}] must be a table of keys, got {values!r}.")
        into.setdefault(section, {}).update({k: (v, where) for k, v in values.items() if v is not None})


def _build(cls: type, section: str, given: dict[str, tuple[Any, str]]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, (value, where) in given.items():
        if key not in names:
            raise ConfigError(
                f"Unknown key [{section}] {key} (from {where}); valid keys: {', '.join(sorted(names))}."
            )
        kwargs[key] = _coerce(value, hints[key], f"[{section}] {key}", where)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, name: str, where: str) -> Any:
    """The value as the field's type; strings (from the environment) are parsed. ConfigError if impossible."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [a for a in get_args(hint) if a is not type(None)]
        origin = get_origin(hint)
    bad = ConfigError(f"{name} (from {where}) must be {_describe(hint)}, got {value!r}.")
    if origin is dict:
        if isinstance(value, str):  # from the environment: a JSON object
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise bad from None
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise bad
        return dict(value)
    if origin is tuple:
        items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise bad
        return tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad
    if hint in (int, float):
        if isinstance(value, bool):
            raise bad
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise bad from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise bad
        return number
    if hint is Path:
        if not isinstance(value, str | Path):
            raise bad
        return Path(value)
    if not isinstance(value, str):
        raise bad
    return value


def _describe(hint: Any) -> str:
    if get_origin(hint) is dict:
        return "a table of strings (a JSON object in the environment)"
    if get_origin(hint) is tuple:
        return "a list of strings (comma-separated in the environment)"
    return {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}.get(
        hint, "a string"
    )
