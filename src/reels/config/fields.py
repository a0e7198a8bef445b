"""Which raw field feeds which column: data, not code, and overridable by users.

`REEL_FIELDS` maps each reel column to the scraper item fields that feed it (`[ingest] fields` overrides
it), `AD_COLUMNS` each ad field to the export headers that may hold it (`[ads] columns` adds to it). They
live with the settings, which check the overrides when they load; the parsers of `reels.sources` read them.
"""

from __future__ import annotations

from collections.abc import Mapping

# Column ← raw fields, first present wins. For views the order encodes apify.md §1.3: Instagram's displayed
# "views" is videoPlayCount; videoViewCount is an older, smaller metric used only when nothing else exists.
REEL_FIELDS: dict[str, tuple[str, ...]] = {
    "post_id": ("shortCode",),
    "url": ("url",),
    "username": ("ownerUsername",),
    "caption": ("caption",),
    "hashtags": ("hashtags",),
    "posted_at": ("timestamp",),
    "views": ("videoPlayCount", "igPlayCount", "videoViewCount"),
    "likes": ("likesCount",),
    "comments": ("commentsCount",),
    "duration_s": ("videoDuration",),
    "media_url": ("videoUrl",),
    "is_pinned": ("isPinned",),
    "music": ("musicInfo",),
    "product_type": ("productType",),
    "type": ("type",),
}

AD_COLUMNS: dict[str, tuple[str, ...]] = {
    "ad_id": ("ad_id", "Ad ID", "Ad id"),
    "ad_name": ("ad_name", "Ad name", "Ad Name"),
    "started_at": ("started_at", "Reporting starts", "Start date", "Starts"),
    "ended_at": ("ended_at", "Reporting ends", "End date", "Ends"),
    "impressions": ("impressions", "Impressions"),
    "reach": ("reach", "Reach"),
    "plays": ("plays", "Video plays", "Plays", "3-second video plays"),
    "likes": ("likes", "Post reactions", "Likes", "Reactions"),
    "comments": ("comments", "Post comments", "Comments"),
    "shares": ("shares", "Post shares", "Shares"),
    "saves": ("saves", "Post saves", "Saves"),
    "spend": ("spend", "Amount spent (USD)", "Amount spent", "Spend"),
}


def field_map(overrides: Mapping[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """REEL_FIELDS with the `[ingest] fields` overrides: column → comma-separated raw fields, first wins.

    Raises ValueError naming an unknown column.
    """
    fields = dict(REEL_FIELDS)
    for column, names in (overrides or {}).items():
        if column not in fields:
            raise ValueError(f"unknown column {column!r}; columns: {', '.join(REEL_FIELDS)}")
        fields[column] = tuple(n.strip() for n in names.split(",") if n.strip())
        if not fields[column]:
            raise ValueError(f"{column} must list at least one raw field")
    return fields


__all__ = ["AD_COLUMNS", "REEL_FIELDS", "field_map"]
