"""Profiles (`apify/instagram-profile-scraper`) and posts under hashtags (`apify/instagram-hashtag-scraper`):
their inputs, and their raw items as `AccountSnapshot`s and `HashtagPost`s (the one place that JSON is read).

Every profile asked for ends as exactly one snapshot: `ok`, `private`, `not_found` (the actor's `not_found`
error row: the profile is gone), or `error` (any other error row, e.g. `no_items` during an Instagram block
wave, or a profile missing from the dataset: a later scrape may succeed). An item that cannot be read is
quarantined with the reason. `relatedProfiles` is often empty; nothing depends on it being filled.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reels.accounts.names import normalise_account
from reels.errors import ConfigError
from reels.records import AccountSnapshot, HashtagPost, QuarantineItem
from reels.sources.raw import Getter, Invalid, item_hash, raw_json

# Our name ← the actor's fields, first present wins (as `config.fields.REEL_FIELDS` is for reels).
PROFILE_FIELDS: dict[str, tuple[str, ...]] = {
    "username": ("username",),
    "full_name": ("fullName",),
    "biography": ("biography",),
    "followers": ("followersCount",),
    "follows": ("followsCount",),
    "posts_count": ("postsCount",),
    "verified": ("verified",),
    "private": ("private",),
    "business": ("isBusinessAccount",),
    "category": ("businessCategoryName",),
}
POST_FIELDS: dict[str, tuple[str, ...]] = {
    "post_id": ("shortCode",),
    "owner": ("ownerUsername",),
    "caption": ("caption",),
    "hashtags": ("hashtags",),
    "posted_at": ("timestamp",),
    "views": ("videoPlayCount", "igPlayCount", "videoViewCount"),
    "type": ("type",),
    "product_type": ("productType",),
}
MAX_TEXT = 2200  # characters kept of the bio and of each recent caption (Instagram allows 2,200)


@dataclass
class ProfileBatch:
    snapshots: list[AccountSnapshot] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)


def profile_input(usernames: Sequence[str]) -> dict[str, Any]:
    """The profile scraper's input (the paid "about" add-on stays off). Raises ConfigError for none."""
    if not usernames:
        raise ConfigError("No profiles to scrape.")
    return {"usernames": list(usernames), "includeAboutSection": False}


def hashtag_input(hashtags: Sequence[str], results: int) -> dict[str, Any]:
    """The hashtag scraper's input: the top reels of each hashtag."""
    return {"hashtags": [h.lstrip("#") for h in hashtags], "resultsType": "reels", "resultsLimit": results}


def parse_profiles(
    items: Iterable[Any], *, asked: Sequence[str], source: str, scraped_at: datetime, run_id: str
) -> ProfileBatch:
    """One snapshot per asked username (and per other profile the run returned), or a quarantine row."""
    batch = ProfileBatch()
    seen: set[str] = set()

    def snapshot(username: str, status: str, error: str | None = None, **values: Any) -> None:
        seen.add(username)
        batch.snapshots.append(AccountSnapshot(username, scraped_at, status, error, source, run_id, **values))

    for item in items:
        try:
            username, status, error, values = _profile(item)
        except Invalid as exc:
            batch.quarantine.append(_quarantined(item, str(exc), source, scraped_at, run_id))
            continue
        if username not in seen:
            snapshot(username, status, error, **values)
    for username in asked:
        if username not in seen:
            snapshot(username, "error", "missing from the profile scrape's results")
    return batch


def parse_hashtag_posts(items: Iterable[Any]) -> tuple[list[HashtagPost], int]:
    """(the posts with an owner, how many items were error rows or unreadable)."""
    posts, skipped = [], 0
    for item in items:
        try:
            if not isinstance(item, Mapping) or item.get("error"):
                raise Invalid("an error row")
            get = Getter(item, POST_FIELDS)
            owner = normalise_account(get.required_text("owner"))
            tag = item.get("hashtag") or item.get("inputUrl") or ""
            posts.append(
                HashtagPost(
                    str(tag).rstrip("/").rsplit("/", 1)[-1].lstrip("#")[:100],
                    get.required_text("post_id"),
                    owner,
                    get.first_count("views")[1],
                    get.timestamp("posted_at") if item.get("timestamp") else None,
                )
            )
        except (Invalid, ConfigError):
            skipped += 1
    return posts, skipped


def _profile(item: Any) -> tuple[str, str, str | None, dict[str, Any]]:
    if not isinstance(item, Mapping):
        raise Invalid(f"item is not a JSON object but {type(item).__name__}")
    if item.get("error"):
        named = item.get("username") or item.get("inputUrl") or item.get("url")
        if not isinstance(named, str):
            raise Invalid(f"error row {item.get('error')!r} names no profile")
        username = _username(named)
        status = "not_found" if item["error"] == "not_found" else "error"
        return username, status, f"{item['error']}: {item.get('errorDescription') or ''}".strip(": "), {}
    get = Getter(item, PROFILE_FIELDS)
    username = _username(get.required_text("username"))
    private = get.flag("private")
    posts = item.get("latestPosts") or []
    if not isinstance(posts, list):
        raise Invalid(f"latestPosts must be a list, got {type(posts).__name__}")
    values: dict[str, Any] = dict(
        full_name=get.text("full_name"),
        biography=get.text("biography"),
        followers=get.count("followers"),
        follows=get.count("follows"),
        posts_count=get.count("posts_count"),
        verified=get.flag("verified"),
        private=private,
        business=get.flag("business"),
        category=get.text("category"),
        related=_related(item.get("relatedProfiles")),
        **_recent(posts, get.text("biography")),
    )
    return username, "private" if private else "ok", None, values


def _recent(posts: list[Any], biography: str | None) -> dict[str, Any]:
    """The latestPosts summary: counts, the reels' median views, the newest time, the weekly cadence."""
    times, views, texts, reels = [], [], [biography or ""], 0
    for post in posts:
        if not isinstance(post, Mapping):
            continue
        get = Getter(post, POST_FIELDS)
        try:
            if post.get("timestamp"):
                times.append(get.timestamp("posted_at"))
            texts.append(" ".join([get.text("caption") or "", *("#" + h for h in get.strings("hashtags"))]))
            is_reel = get.text("type") == "Video" or get.text("product_type") == "clips"
            count = get.first_count("views")[1]
        except Invalid:
            continue  # one unreadable post does not spoil the profile
        reels += is_reel
        if is_reel and count is not None:
            views.append(count)
    span_weeks = (max(times) - min(times)).total_seconds() / 604_800 if len(times) > 1 else 0.0
    return dict(
        recent_posts=len(posts),
        recent_reels=reels,
        median_recent_views=float(statistics.median(views)) if views else None,
        last_post_at=max(times) if times else None,
        posts_per_week=(len(times) - 1) / span_weeks if span_weeks > 0 else None,
        recent_texts=[t[:MAX_TEXT] for t in texts],
    )


def _related(value: Any) -> list[str]:
    names = []
    for entry in value if isinstance(value, list) else []:
        name = entry.get("username") if isinstance(entry, Mapping) else None
        if isinstance(name, str):
            try:
                names.append(normalise_account(name))
            except ConfigError:
                continue
    return list(dict.fromkeys(names))


def _username(value: str) -> str:
    try:
        return normalise_account(value)
    except ConfigError as exc:
        raise Invalid(f"not an Instagram username: {value[:60]!r}") from exc


def _quarantined(item: Any, reason: str, source: str, scraped_at: datetime, run_id: str) -> QuarantineItem:
    ref = item.get("username") or item.get("inputUrl") if isinstance(item, Mapping) else None
    return QuarantineItem(
        source, item_hash(item), "invalid", f"profile: {reason}", str(ref)[:200] if ref else None,
        raw_json(item), scraped_at, run_id,
    )  # fmt: skip


__all__ = ["ProfileBatch", "hashtag_input", "parse_hashtag_posts", "parse_profiles", "profile_input"]
