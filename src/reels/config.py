"""Settings: defaults → TOML file → `REELS_<SECTION>__<KEY>` environment → flags, into one frozen object.

This is the only module that reads the config file or the environment. Secrets are kept apart in `Secrets`,
read only from the environment (and a `.env` file), and never printed.
"""

from __future__ import annotations

import dataclasses
import os
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
    method: str = "median_ratio"
    ratio_min: float = 3.0
    min_views: int = 1000
    min_baseline: int = 3
    mad_floor: float = 0.25

    def __post_init__(self) -> None:
        if self.method not in ("median_ratio",):
            raise ConfigError(f"[label] method must be one of: median_ratio; got {self.method!r}.")
        _positive("label", ratio_min=self.ratio_min, min_baseline=self.min_baseline, mad_floor=self.mad_floor)


@dataclass(frozen=True)
class DownloadSettings:
    allowed_hosts: tuple[str, ...] = ("cdninstagram.com", "fbcdn.net")
    allow_http: bool = False
    concurrency: int = 8
    max_bytes: int = 200_000_000
    timeout_s: float = 30.0
    retries: int = 3

    def __post_init__(self) -> None:
        _positive(
            "download", concurrency=self.concurrency, max_bytes=self.max_bytes, timeout_s=self.timeout_s
        )
        if not self.allowed_hosts:
            raise ConfigError("[download] allowed_hosts must list at least one host suffix.")


@dataclass(frozen=True)
class GeminiSettings:
    base_url: str | None = None
    model: str = "gemini-3-flash"
    concurrency: int = 4

    def __post_init__(self) -> None:
        _positive("gemini", concurrency=self.concurrency)


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
    min_group: int = 3
    bootstrap: int = 2000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _positive("insights", min_group=self.min_group, bootstrap=self.bootstrap)
        if not 0 < self.confidence < 1:
            raise ConfigError(f"[insights] confidence must be between 0 and 1, got {self.confidence}.")


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
    if get_origin(hint) is tuple:
        return "a list of strings (comma-separated in the environment)"
    return {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}.get(
        hint, "a string"
    )
