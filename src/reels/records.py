"""Typed records the stages pass to each other; each maps one-to-one onto a row of its table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Reel:
    """A reel as one scrape saw it. Virality fields are filled by the label stage."""

    post_id: str
    url: str
    username: str
    caption: str
    hashtags: list[str]
    posted_at: datetime
    scraped_at: datetime
    views: int | None
    views_field: str | None
    likes: int | None
    comments: int | None
    duration_s: float | None
    media_url: str | None
    media_url_expires_at: datetime | None
    is_pinned: bool
    music: str | None
    product_type: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A reel's metrics as seen at one scrape: the history virality over time is computed from."""

    post_id: str
    scraped_at: datetime
    username: str
    views: int | None
    views_field: str | None
    likes: int | None
    comments: int | None
    source: str
    run_id: str


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """An input item that could not become a reel, kept whole with the reason."""

    source: str
    item_hash: str
    kind: str  # "error_row" (the actor reported a failure) or "invalid" (failed validation)
    reason: str
    input_ref: str | None  # the account or URL the item was about, when known
    raw: str  # the item as JSON, exactly as received
    scraped_at: datetime
    run_id: str


@dataclass(frozen=True, slots=True)
class Label:
    """A reel's virality verdict and the numbers behind it."""

    post_id: str
    virality_label: str  # viral | not_viral | pending | insufficient_data | out_of_window
    virality_tier: str | None
    viral_ratio: float | None
    robust_z: float | None
    baseline_views: float | None
    baseline_n: int
    baseline_source: str | None
    engagement_rate: float | None
    virality_method: str
    virality_reason: str


@dataclass(frozen=True, slots=True)
class MediaFile:
    """The outcome of downloading one reel's video."""

    post_id: str
    status: str  # ok | failed | expired | refused | invalid
    media_url: str | None
    sha256: str | None = None
    path: str | None = None
    bytes: int | None = None
    duration_s: float | None = None
    has_audio: bool | None = None
    source_used: str | None = None
    error: str | None = None
    attempts: int = 0
    downloaded_at: datetime | None = None
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class AnalysisRow:
    """One analyzer's verdict on one reel's video: the structured fields plus provenance and cost."""

    post_id: str
    analyzer: str
    model: str
    prompt_version: str
    sha256: str
    status: str  # ok | failed
    error: str | None
    note: str | None  # why a fallback analyzer or model answered instead of the one asked
    fields: dict[str, Any]  # the VideoAnalysis fields; empty when failed
    raw_json: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    analyzed_at: datetime
    run_id: str
    service_tier: str | None = None  # the Gemini tier that answered (standard, flex), at whose price


@dataclass(frozen=True, slots=True)
class Insight:
    """A finding of one run: a feature's within-account effect on lift, with its uncertainty.

    `effect`, `ci_low` and `ci_high` are on the log scale of `viral_ratio` (log-lift); `lift` = exp(effect) is
    the multiple of the same accounts' other reels' views. `verdict` is supported | not_supported |
    not_enough_data; `supported` is verdict == "supported".
    """

    run_id: str
    insight_id: str  # feature, or feature=level
    feature: str
    level: str | None  # the value, for a categorical or list feature
    kind: str  # boolean | number | level | item | presence
    threshold: float | None  # numbers: "with" means above this (the median)
    verdict: str
    supported: bool
    effect: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    q_value: float | None
    n_with: int
    n_without: int
    accounts_with_both: int
    accounts_same_sign: int
    viral_share_with: float | None
    viral_share_without: float | None
    lift_with: float | None  # geometric mean of viral_ratio over reels with the feature
    lift_without: float | None
    example_post_ids: list[str]
    sources: list[str]  # analyzer/model (or "reel") the values came from
    statement: str
    method: str
    input_fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One line of the playbook for the content team, grounded in supported insights of one run."""

    run_id: str
    rank: int
    recommendation: str
    insight_ids: list[str]
    insights_run_id: str  # the run whose insights it rests on
    writer: str  # gemini | template
    model: str | None
    prompt_version: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    note: str | None  # why the template wrote it when a model was asked
    input_fingerprint: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One account's profile as one profile scrape saw it (`apify/instagram-profile-scraper`).

    The recent-post figures summarise the profile's `latestPosts` (up to 12): how many there were, how
    many were reels, their median views, the newest post's time and the posting cadence; `recent_texts`
    holds the biography, then each recent post's caption and hashtags, for the cat signals.
    """

    username: str
    scraped_at: datetime
    status: str  # ok | private | not_found | error
    error: str | None
    source: str  # apify:<run id>
    run_id: str
    full_name: str | None = None
    biography: str | None = None
    followers: int | None = None
    follows: int | None = None
    posts_count: int | None = None
    verified: bool | None = None
    private: bool | None = None
    business: bool | None = None
    category: str | None = None
    related: list[str] = field(default_factory=list)  # relatedProfiles' usernames; often empty
    recent_posts: int | None = None
    recent_reels: int | None = None
    median_recent_views: float | None = None
    last_post_at: datetime | None = None
    posts_per_week: float | None = None
    recent_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HashtagPost:
    """A post found under a hashtag (`apify/instagram-hashtag-scraper`): who posted it and how it did."""

    hashtag: str
    post_id: str
    owner: str
    views: int | None
    posted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Account:
    """A tracked or candidate account: where it came from, its status and why, and its latest scores.

    Statuses: `core` (always scraped), `explore` (scraped on trial in one of the explore slots),
    `candidate` (found, not scraped), `retired` (no longer scraped), `excluded` (never to be scraped).
    """

    username: str
    status: str
    origin: str  # config | file | added | related:<user> | hashtag:#<tag> | mention:<user>
    added_at: datetime
    reason: str  # why it has its status, in one sentence
    updated_at: datetime
    rotated_in_at: datetime | None = None
    retired_at: datetime | None = None
    score: float | None = None  # discovery score, 0..1: cheap signals, then the trial scrape
    signals: str | None = None  # the signals behind the score (JSON)
    followers: int | None = None
    median_views: float | None = None
    viral_rate: float | None = None
    below_bar_since: datetime | None = None  # since when its reels stay under the bar


@dataclass(slots=True)
class StageCounts:
    """What one stage did in one run: the summary line and the `runs` row are built from it."""

    stage: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def as_row(record: Any) -> dict[str, Any]:
    """A record as a flat dict for its table (AnalysisRow's fields are spread into columns)."""
    row = asdict(record)
    fields = row.pop("fields", None)
    if fields:
        row.update(fields)
    return row
