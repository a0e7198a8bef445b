"""The settings tree: one frozen dataclass per `reels.toml` section, each checking its own values.

Every key has its default here and its comment in `reels.example.toml`. A value that cannot work raises
`ConfigError` naming the key, so a bad setting stops the run before any work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reels.config.checks import positive
from reels.config.fields import AD_COLUMNS, field_map
from reels.config.gemini import GeminiSettings
from reels.errors import ConfigError


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
        positive(
            "apify",
            results_limit=self.results_limit,
            memory_mbytes=self.memory_mbytes,
            run_timeout_s=self.run_timeout_s,
            timeout_s=self.timeout_s,
        )
        if self.lookback_days < 0 or self.max_retries < 0:
            raise ConfigError("[apify] lookback_days and max_retries must not be negative.")


@dataclass(frozen=True)
class AccountsSettings:
    """Finding and rotating accounts (README "Accounts"); every actor run goes through `[apify]`'s client."""

    profile_actor_id: str = "apify/instagram-profile-scraper"
    hashtag_actor_id: str = "apify/instagram-hashtag-scraper"
    profiles: bool = True  # scrape the tracked accounts' profiles (followers) on every Apify ingest
    profiles_per_run: int = 100  # at most, per run: tracked (least recently seen first), or candidates
    hashtags: tuple[str, ...] = ("catsofinstagram", "catreels", "catvideos", "kittensofinstagram")
    hashtags_per_run: int = 2  # `discover` asks these many hashtags, taking turns through the list weekly
    hashtag_results: int = 30  # reels per hashtag
    trial_candidates: int = 3  # the best this many candidates get a trial scrape of their reels
    trial_reels: int = 12
    explore_slots: int = 5  # accounts scraped on trial beside the core ones
    min_followers: int = 1000
    min_cat_share: float = 0.3  # of recent posts (and the bio) that mention cats
    inactive_days: int = 30  # no post this long: inactive (a candidate excluded, a tracked one retired)
    promote_after_weeks: int = 4  # an explore account is judged after this many weeks of reels
    promote_viral_rate: float = 0.05  # ... and promoted to core when this share of its reels went viral
    bar_ratio: float = 0.5  # below the bar: median views under this × the tracked accounts' median
    retire_after_weeks: int = 4  # an explore account below the bar this long is retired
    every_days: int = 7  # `discover` / `rotate --if-due` (the scheduled job) run again only after this long
    cat_words: tuple[str, ...] = (
        "cat", "cats", "kitten", "kittens", "kitty", "kitties", "meow", "purr", "feline", "catsofinstagram",
        "🐱", "🐈", "😺", "😸", "😹", "😻", "😼", "😽", "🙀", "😿", "😾",
    )  # fmt: skip

    def __post_init__(self) -> None:
        positive(
            "accounts",
            profiles_per_run=self.profiles_per_run,
            hashtag_results=self.hashtag_results,
            trial_reels=self.trial_reels,
            inactive_days=self.inactive_days,
            bar_ratio=self.bar_ratio,
            every_days=self.every_days,
        )
        counts = {
            "hashtags_per_run": self.hashtags_per_run,
            "trial_candidates": self.trial_candidates,
            "explore_slots": self.explore_slots,
            "min_followers": self.min_followers,
            "promote_after_weeks": self.promote_after_weeks,
            "retire_after_weeks": self.retire_after_weeks,
        }
        for key, value in counts.items():
            if value < 0:
                raise ConfigError(f"[accounts] {key} must not be negative, got {value}.")
        for key in ("min_cat_share", "promote_viral_rate"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"[accounts] {key} must be between 0 and 1, got {getattr(self, key)}.")
        for tag in self.hashtags:
            if not re.fullmatch(r"#?\w{1,100}", tag):
                raise ConfigError(f"[accounts] hashtags: {tag!r} is not a hashtag (letters, digits, _).")


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
        positive(
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
        positive(
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
class AnalyzeSettings:
    # "auto": Gemini when GEMINI_API_KEY is set, else the local analyzer.
    analyzer: str = "auto"
    concurrency: int = 2
    # `reels run` analyzes each video as soon as it is stored, while the others download; the queue between
    # the two holds at most this many stored videos (downloads wait when the analysis falls behind).
    overlap: bool = True
    queue_size: int = 64

    def __post_init__(self) -> None:
        if self.analyzer not in ("auto", "gemini", "local"):
            raise ConfigError(f"[analyze] analyzer must be auto, gemini or local; got {self.analyzer!r}.")
        positive("analyze", concurrency=self.concurrency, queue_size=self.queue_size)


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
        positive("insights", min_reels=self.min_reels, bootstrap=self.bootstrap)
        positive("insights", window_days=self.window_days)
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
        positive("storage", target_file_mb=self.target_file_mb)
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
    # `reels.config.fields.REEL_FIELDS` (e.g. views = "videoPlayCount,igPlayCount,videoViewCount").
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            field_map(self.fields)
        except ValueError as exc:
            raise ConfigError(f"[ingest] fields: {exc}.") from exc


@dataclass(frozen=True)
class AdsSettings:
    # Our field → the export's header, for exports whose headers `fields.AD_COLUMNS` does not know.
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(AD_COLUMNS))
        if unknown:
            known = ", ".join(AD_COLUMNS)
            raise ConfigError(f"[ads] columns: unknown field {unknown[0]!r}; fields: {known}.")


@dataclass(frozen=True)
class Settings:
    paths: PathSettings = field(default_factory=PathSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    apify: ApifySettings = field(default_factory=ApifySettings)
    accounts: AccountsSettings = field(default_factory=AccountsSettings)
    label: LabelSettings = field(default_factory=LabelSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    analyze: AnalyzeSettings = field(default_factory=AnalyzeSettings)
    gemini: GeminiSettings = field(default_factory=GeminiSettings)
    insights: InsightsSettings = field(default_factory=InsightsSettings)
    ads: AdsSettings = field(default_factory=AdsSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
