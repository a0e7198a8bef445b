"""Raw scraper items → typed reels, snapshots and quarantine rows: the one place raw JSON is read.

Which raw field feeds which column is data (`reels.config.fields.REEL_FIELDS`, overridable by `[ingest]
fields`), not code: renaming a field or adding a fallback is an edit to that table. Every input item ends
as exactly one reel or one quarantine row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reels.config.fields import REEL_FIELDS
from reels.records import QuarantineItem, Reel, Snapshot
from reels.sources.raw import Getter, Invalid, is_text, item_hash, raw_json

SHORTCODE = re.compile(r"^[A-Za-z0-9_-]{5,64}$")


@dataclass
class IngestBatch:
    """One scrape's items, parsed: every item is in exactly one of `reels` or `quarantine`."""

    reels: list[Reel] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    errors_by_input: dict[tuple[str, str], int] = field(default_factory=dict)  # (input, error) → rows

    @property
    def items(self) -> int:
        return len(self.reels) + len(self.quarantine)


def parse_items(
    items: Iterable[Any],
    *,
    source: str,
    scraped_at: datetime,
    run_id: str,
    fields: Mapping[str, tuple[str, ...]] = REEL_FIELDS,
) -> IngestBatch:
    """Map one scrape's raw items; invalid ones, actor error rows and in-scrape duplicates are quarantined."""
    batch = IngestBatch()
    seen: set[str] = set()
    for item in items:
        raw = raw_json(item)

        def quarantine(kind: str, reason: str, ref: str | None, item: Any = item, raw: str = raw) -> None:
            batch.quarantine.append(
                QuarantineItem(source, item_hash(item), kind, reason, ref, raw, scraped_at, run_id)
            )

        if isinstance(item, Mapping) and item.get("error"):
            ref = _str_or_none(item.get("inputUrl")) or _str_or_none(item.get("url"))
            description = item.get("errorDescription") or "no description"
            quarantine("error_row", f"{item['error']}: {description}", ref)
            key = (ref or "unknown input", str(item["error"]))
            batch.errors_by_input[key] = batch.errors_by_input.get(key, 0) + 1
            continue
        try:
            reel = parse_reel(item, source=source, scraped_at=scraped_at, fields=fields)
        except Exception as exc:  # whatever one item holds, it ends as a quarantine row, never as a crash
            ref = _str_or_none(item.get("shortCode")) if isinstance(item, Mapping) else None
            reason = str(exc) if isinstance(exc, Invalid) else f"unreadable item ({exc})"
            quarantine("invalid", reason[:1000], ref)
            continue
        if reel.post_id in seen:
            quarantine("duplicate", f"a second copy of a reel in this scrape ({reel.post_id})", reel.post_id)
            continue
        seen.add(reel.post_id)
        batch.reels.append(reel)
        batch.snapshots.append(
            Snapshot(
                reel.post_id,
                scraped_at,
                reel.username,
                reel.views,
                reel.views_field,
                reel.likes,
                reel.comments,
                source,
                run_id,
            )
        )
    return batch


def parse_reel(
    item: Any, *, source: str, scraped_at: datetime, fields: Mapping[str, tuple[str, ...]] = REEL_FIELDS
) -> Reel:
    """One raw item as a Reel. Raises Invalid with the reason when the item cannot be used."""
    if not isinstance(item, Mapping):
        raise Invalid(f"item is not a JSON object but {type(item).__name__}")
    get = Getter(item, fields)
    post_id = get.required_text("post_id")
    if not SHORTCODE.match(post_id):
        raise Invalid(f"shortCode {post_id!r} is not an Instagram shortcode")
    kind = get.text("type")
    if kind is not None and kind != "Video":
        raise Invalid(f"not a reel: type is {kind!r}")
    views_field, views = get.first_count("views")
    likes = get.count("likes", allow_hidden=True)
    media_url = get.text("media_url")
    return Reel(
        post_id=post_id,
        url=get.text("url") or f"https://www.instagram.com/reel/{post_id}/",
        username=get.required_text("username"),
        caption=get.text("caption") or "",
        hashtags=get.strings("hashtags"),
        posted_at=get.timestamp("posted_at"),
        scraped_at=scraped_at,
        views=views,
        views_field=views_field,
        likes=likes,
        comments=get.count("comments"),
        duration_s=get.number("duration_s"),
        media_url=media_url,
        media_url_expires_at=link_expiry(media_url),
        is_pinned=get.flag("is_pinned"),
        music=get.music("music"),
        product_type=get.text("product_type"),
        source=source,
    )


def link_expiry(url: str | None) -> datetime | None:
    """The CDN link's expiry: its `oe` query parameter is the hex Unix time after which it answers 403."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("oe")
    try:
        return datetime.fromtimestamp(int(values[0], 16), UTC) if values else None
    except (ValueError, OverflowError, OSError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value[:1000] if isinstance(value, str) and value and is_text(value) else None


def reason_kind(reason: str) -> str:
    """A quarantine reason without the offending value, to count reasons by kind in the summary."""
    return re.split(r", got |: ['\"{\[\d-]| \(", reason, maxsplit=1)[0][:80]
