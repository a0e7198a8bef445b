"""Every table's name, key and Arrow schema: the single source of truth for all storage backends."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa

from reels.analysis_schema import VideoAnalysis

TS = pa.timestamp("us", tz="UTC")
STR_LIST = pa.list_(pa.string())


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    schema: pa.Schema
    # Rows that record an observation (a snapshot, a quarantined item) are written once and never updated,
    # so a re-run that sees them again keeps their first run_id.
    insert_only: bool = False
    # Columns too wide to scan when only a row's identity or state is wanted (a model's whole answer, a
    # raw scraped item): never read by the stages' hot queries, never compared to detect a change.
    wide: tuple[str, ...] = ()
    # A column rows arrive in the order of (posting, download, analysis time): the tables are appended in
    # that order, so a file holds one stretch of it, and a merge bounded by the matched rows' range of it
    # opens only the files of that stretch.
    cluster: str | None = None

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    @property
    def narrow(self) -> tuple[str, ...]:
        """Every column but the wide ones."""
        return tuple(c for c in self.schema.names if c not in self.wide)


def _spec(
    name: str,
    key: tuple[str, ...],
    *fields: tuple[str, pa.DataType],
    insert_only: bool = False,
    wide: tuple[str, ...] = (),
    cluster: str | None = None,
) -> TableSpec:
    schema = pa.schema([pa.field(n, t, nullable=n not in key) for n, t in fields])
    return TableSpec(name, key, schema, insert_only, wide, cluster)


def _arrow_type(annotation: Any) -> pa.DataType:
    """Arrow type of a VideoAnalysis field annotation (Optional and Literal unwrapped)."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _arrow_type(inner)
    if origin is Literal or annotation is str:
        return pa.string()
    if origin is list:
        return STR_LIST
    return {bool: pa.bool_(), int: pa.int64(), float: pa.float64()}[annotation]


ANALYSIS_FIELDS: tuple[tuple[str, pa.DataType], ...] = tuple(
    (name, _arrow_type(f.annotation)) for name, f in VideoAnalysis.model_fields.items()
)

REEL_SNAPSHOTS = _spec(
    "reel_snapshots",
    ("post_id", "scraped_at"),
    ("post_id", pa.string()),
    ("scraped_at", TS),
    ("username", pa.string()),
    ("views", pa.int64()),
    ("views_field", pa.string()),
    ("likes", pa.int64()),
    ("comments", pa.int64()),
    ("source", pa.string()),
    ("run_id", pa.string()),
    insert_only=True,
)

LABEL_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("virality_label", pa.string()),
    ("virality_tier", pa.string()),
    ("viral_ratio", pa.float64()),
    ("robust_z", pa.float64()),
    ("baseline_views", pa.float64()),
    ("baseline_n", pa.int64()),
    ("baseline_source", pa.string()),
    ("engagement_rate", pa.float64()),
    ("virality_method", pa.string()),
    ("virality_reason", pa.string()),
    # Supporting signals: stored next to the label, never deciding it.
    ("age_days", pa.float64()),
    ("baseline_spread", pa.float64()),
    ("views_per_follower", pa.float64()),
    ("niche_ratio", pa.float64()),
)

REELS = _spec(
    "reels",
    ("post_id",),
    ("post_id", pa.string()),
    ("url", pa.string()),
    ("username", pa.string()),
    ("caption", pa.string()),
    ("hashtags", STR_LIST),
    ("posted_at", TS),
    ("scraped_at", TS),
    ("views", pa.int64()),
    ("views_field", pa.string()),
    ("likes", pa.int64()),
    ("comments", pa.int64()),
    ("duration_s", pa.float64()),
    ("media_url", pa.string()),
    ("media_url_expires_at", TS),
    ("is_pinned", pa.bool_()),
    ("music", pa.string()),
    ("product_type", pa.string()),
    ("source", pa.string()),
    *LABEL_FIELDS,
    cluster="posted_at",
)

MEDIA = _spec(
    "media",
    ("post_id",),
    ("post_id", pa.string()),
    ("status", pa.string()),
    ("media_url", pa.string()),
    ("sha256", pa.string()),
    ("path", pa.string()),
    ("bytes", pa.int64()),
    ("duration_s", pa.float64()),
    ("has_audio", pa.bool_()),
    ("source_used", pa.string()),
    ("error", pa.string()),
    ("attempts", pa.int64()),
    ("downloaded_at", TS),
    ("run_id", pa.string()),
    cluster="downloaded_at",
)

ANALYSES = _spec(
    "analyses",
    ("post_id", "analyzer", "model", "prompt_version"),
    ("post_id", pa.string()),
    ("analyzer", pa.string()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("sha256", pa.string()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("note", pa.string()),
    *ANALYSIS_FIELDS,
    ("raw_json", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("analyzed_at", TS),
    ("run_id", pa.string()),
    ("service_tier", pa.string()),  # standard | flex: the Gemini tier that answered, at whose price
    wide=("raw_json",),
    cluster="analyzed_at",
)

INSIGHTS = _spec(
    "insights",
    ("run_id", "insight_id"),
    ("run_id", pa.string()),
    ("insight_id", pa.string()),
    ("feature", pa.string()),
    ("level", pa.string()),
    ("kind", pa.string()),
    ("threshold", pa.float64()),
    ("verdict", pa.string()),
    ("supported", pa.bool_()),
    ("effect", pa.float64()),
    ("lift", pa.float64()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("p_value", pa.float64()),
    ("q_value", pa.float64()),
    ("n_with", pa.int64()),
    ("n_without", pa.int64()),
    ("accounts_with_both", pa.int64()),
    ("accounts_same_sign", pa.int64()),
    ("viral_share_with", pa.float64()),
    ("viral_share_without", pa.float64()),
    ("lift_with", pa.float64()),
    ("lift_without", pa.float64()),
    ("example_post_ids", STR_LIST),
    ("sources", STR_LIST),
    ("statement", pa.string()),
    ("method", pa.string()),
    ("input_fingerprint", pa.string()),
    ("created_at", TS),
)

PLAYBOOK = _spec(
    "playbook",
    ("run_id", "rank"),
    ("run_id", pa.string()),
    ("rank", pa.int64()),
    ("recommendation", pa.string()),
    ("insight_ids", STR_LIST),
    ("insights_run_id", pa.string()),
    ("writer", pa.string()),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("note", pa.string()),
    ("input_fingerprint", pa.string()),
    ("created_at", TS),
)

SCRAPES = _spec(
    "scrapes",
    ("apify_run_id",),
    ("apify_run_id", pa.string()),
    ("actor_id", pa.string()),
    ("dataset_id", pa.string()),
    ("status", pa.string()),  # RUNNING until it ends unusable (FAILED, ABORTED, ...) or is INGESTED
    ("started_at", TS),
    ("ended_at", TS),
    ("run_id", pa.string()),  # the reels run that started it
    ("purpose", pa.string()),  # reels | profiles | hashtags | trial: what the run was started for
)

RUNS = _spec(
    "runs",
    ("run_id",),
    ("run_id", pa.string()),
    ("command", pa.string()),
    ("source", pa.string()),
    ("analyzer", pa.string()),
    ("started_at", TS),
    ("finished_at", TS),
    ("status", pa.string()),
    ("counts_json", pa.string()),
    ("notes_json", pa.string()),
    ("error", pa.string()),
    ("cost_usd", pa.float64()),
)

QUARANTINE = _spec(
    "quarantine",
    ("source", "item_hash"),
    ("source", pa.string()),
    ("item_hash", pa.string()),
    ("kind", pa.string()),
    ("reason", pa.string()),
    ("input_ref", pa.string()),
    ("raw", pa.string()),
    ("scraped_at", TS),
    ("run_id", pa.string()),
    insert_only=True,
    wide=("raw",),
)

ADS = _spec(
    "ads",
    ("ad_id",),
    ("ad_id", pa.string()),
    ("ad_name", pa.string()),
    ("started_at", TS),
    ("ended_at", TS),
    ("impressions", pa.int64()),
    ("reach", pa.int64()),
    ("plays", pa.int64()),
    ("likes", pa.int64()),
    ("comments", pa.int64()),
    ("shares", pa.int64()),
    ("saves", pa.int64()),
    ("spend", pa.float64()),
    ("engagement_rate", pa.float64()),
    ("virality_label", pa.string()),
    ("virality_method", pa.string()),
)

ACCOUNTS = _spec(
    "accounts",
    ("username",),
    ("username", pa.string()),
    ("status", pa.string()),  # core | explore | candidate | retired | excluded
    ("origin", pa.string()),  # config | file | added | related:<user> | hashtag:#<tag> | mention:<user>
    ("added_at", TS),
    ("reason", pa.string()),
    ("updated_at", TS),
    ("rotated_in_at", TS),
    ("retired_at", TS),
    ("score", pa.float64()),
    ("signals", pa.string()),
    ("followers", pa.int64()),
    ("median_views", pa.float64()),
    ("viral_rate", pa.float64()),
    ("below_bar_since", TS),
)

ACCOUNT_SNAPSHOTS = _spec(
    "account_snapshots",
    ("username", "scraped_at"),
    ("username", pa.string()),
    ("scraped_at", TS),
    ("status", pa.string()),  # ok | private | not_found | error
    ("error", pa.string()),
    ("source", pa.string()),
    ("run_id", pa.string()),
    ("full_name", pa.string()),
    ("biography", pa.string()),
    ("followers", pa.int64()),
    ("follows", pa.int64()),
    ("posts_count", pa.int64()),
    ("verified", pa.bool_()),
    ("private", pa.bool_()),
    ("business", pa.bool_()),
    ("category", pa.string()),
    ("related", STR_LIST),
    ("recent_posts", pa.int64()),
    ("recent_reels", pa.int64()),
    ("median_recent_views", pa.float64()),
    ("last_post_at", TS),
    ("posts_per_week", pa.float64()),
    ("recent_texts", STR_LIST),
    insert_only=True,
    cluster="scraped_at",
)

GEMINI_BATCHES = _spec(
    "gemini_batches",
    ("batch_id",),
    ("batch_id", pa.string()),  # our name for it, given before it is created (its display name)
    ("job_name", pa.string()),  # the API's: batches/...
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    # submitting | pending | running | succeeded | failed | cancelled | expired | unsent (never created)
    ("state", pa.string()),
    ("post_ids", STR_LIST),
    ("files", STR_LIST),  # the uploaded videos it reads, deleted once it is collected
    ("input_file", pa.string()),  # the uploaded JSONL input; null: inline requests
    ("est_tokens", pa.int64()),  # input tokens it holds in the enqueued-token quota
    ("submitted_at", TS),
    ("checked_at", TS),
    ("collected_at", TS),  # null while it is pending: its reels are not asked again meanwhile
    ("run_id", pa.string()),
    ("collected_run_id", pa.string()),
    ("answered", pa.int64()),
    ("failed", pa.int64()),
    ("requeued", pa.int64()),  # reels put back to be asked again (a failed job, or a transient item error)
    ("cost_usd", pa.float64()),
    ("error", pa.string()),
)

ALL: dict[str, TableSpec] = {
    t.name: t
    for t in (
        ACCOUNTS,
        ACCOUNT_SNAPSHOTS,
        REEL_SNAPSHOTS,
        REELS,
        MEDIA,
        ANALYSES,
        INSIGHTS,
        PLAYBOOK,
        SCRAPES,
        RUNS,
        QUARANTINE,
        ADS,
        GEMINI_BATCHES,
    )
}


def to_arrow(spec: TableSpec, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a table of exactly the spec's schema; a missing column is null, an unknown one an error."""
    unknown = {k for r in rows for k in r} - set(spec.columns)
    if unknown:
        raise ValueError(f"{spec.name}: unknown columns {sorted(unknown)}")
    return pa.Table.from_pylist([{c: r.get(c) for c in spec.columns} for r in rows], schema=spec.schema)
