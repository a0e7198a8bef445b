"""Raw scraper items → typed reels, snapshots and quarantine rows: the one place raw JSON is read.

Which raw field feeds which column is data (`reels.config.fields.REEL_FIELDS`, overridable by `[ingest]
fields`), not code: renaming a field or adding a fallback is an edit to that table. Every input item ends
as exactly one reel or one quarantine row.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reels.config.fields import REEL_FIELDS
from reels.records import QuarantineItem, Reel, Snapshot

SHORTCODE = re.compile(r"^[A-Za-z0-9_-]{5,64}$")
MAX_COUNT = 2**63 - 1  # what an int64 column holds
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)  # no Instagram post is older
HIDDEN = -1  # the actor's placeholder for hidden likes


class Invalid(ValueError):
    """An item failed validation; the message is the quarantine reason."""


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


def item_hash(item: Any) -> str:
    return hashlib.sha256(raw_json(item, ascii_only=True).encode()).hexdigest()


def raw_json(item: Any, *, ascii_only: bool = False) -> str:
    """The item as JSON text, whatever it holds: keys sorted (any key types), values JSON cannot hold as
    their text, and characters that are not text (lone surrogates) escaped so the tables can store it."""
    try:
        text = json.dumps(item, sort_keys=True, ensure_ascii=ascii_only, default=str)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(item)[:100_000])
    if not ascii_only and not is_text(text):
        return raw_json(item, ascii_only=True)
    return text


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
    get = _Getter(item, fields)
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


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "another kind of value"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


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


def is_text(value: str) -> bool:
    """Whether the string is storable text (no lone surrogates, which JSON escapes can carry)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def reason_kind(reason: str) -> str:
    """A quarantine reason without the offending value, to count reasons by kind in the summary."""
    return re.split(r", got |: ['\"{\[\d-]| \(", reason, maxsplit=1)[0][:80]


class _Getter:
    """Typed access to a raw item through the field map; every type error names the raw field."""

    def __init__(self, item: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]]) -> None:
        self.item, self.fields = item, fields

    def raw(self, column: str) -> tuple[str | None, Any]:
        for name in self.fields[column]:
            if self.item.get(name) is not None:
                return name, self.item[name]
        return None, None

    def text(self, column: str) -> str | None:
        name, value = self.raw(column)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise Invalid(f"{name} must be a string, got {_kind(value)}")
        if not is_text(value):
            raise Invalid(f"{name} holds characters that are not text")
        return value

    def required_text(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            raise Invalid(f"missing {self.fields[column][0]}")
        return value

    def count(self, column: str, allow_hidden: bool = False) -> int | None:
        return self._count(*self.raw(column), allow_hidden=allow_hidden)

    def first_count(self, column: str) -> tuple[str | None, int | None]:
        name, value = self.raw(column)
        return name, self._count(name, value)

    @staticmethod
    def _count(name: str | None, value: Any, allow_hidden: bool = False) -> int | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
        ):
            raise Invalid(f"{name} must be a whole number, got {_short(value)}")
        if abs(value) > MAX_COUNT:
            raise Invalid(f"{name} is out of range, got {_short(value)}")
        if allow_hidden and value == HIDDEN:
            return None  # hidden by the owner: unknown, not zero
        if value < 0:
            raise Invalid(f"{name} must not be negative, got {value!r}")
        return int(value)

    def number(self, column: str) -> float | None:
        name, value = self.raw(column)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_COUNT:
            raise Invalid(f"{name} must be a non-negative number, got {_short(value)}")
        return float(value)

    def flag(self, column: str) -> bool:
        name, value = self.raw(column)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false, got {value!r}")
        return value

    def strings(self, column: str) -> list[str]:
        name, value = self.raw(column)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and is_text(v) for v in value):
            raise Invalid(f"{name} must be a list of strings, got {_short(value)}")
        return list(value)

    def timestamp(self, column: str) -> datetime:
        name, value = self.raw(column)
        if not isinstance(value, str):
            raise Invalid(f"missing or non-text {self.fields[column][0]}: {value!r}")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{name} is not an ISO-8601 timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            raise Invalid(f"{name} has no time zone: {value!r}")
        try:
            at = parsed.astimezone(UTC)
        except OverflowError:
            raise Invalid(f"{name} is out of range: {value!r}") from None
        if not at >= EARLIEST:
            raise Invalid(f"{name} is out of range (before Instagram): {value!r}")
        return at

    def music(self, column: str) -> str | None:
        name, value = self.raw(column)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise Invalid(f"{name} must be an object, got {type(value).__name__}")
        artist, song = value.get("artist_name"), value.get("song_name")
        music = " - ".join(str(p) for p in (artist, song) if p)[:1000]
        if not is_text(music):
            raise Invalid(f"{name} holds characters that are not text")
        return music or None
