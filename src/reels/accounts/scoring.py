"""How promising a candidate account is, from cheap signals first, and why one is excluded.

The signals come from one profile snapshot (bio, followers, the 12 latest posts): the share of posts (and
the bio) that mention cats, followers, posting cadence, the median views of its recent reels per follower,
and the share of reels among its posts. A trial scrape of its reels, for the best few, replaces the
profile's view counts (an older, smaller counter) with the reels' plays. The score is in 0..1:

    score = cat_share × (0.3 followers + 0.3 reach + 0.2 cadence + 0.2 reels_share)

with followers = log10(followers) / 6 (1M → 1), reach = median views / followers (capped at 1), cadence =
posts per week / 3 (capped at 1). Pure: the clock is passed in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from reels.config import AccountsSettings
from reels.records import AccountSnapshot

WEIGHTS = {"followers": 0.3, "reach": 0.3, "cadence": 0.2, "reels_share": 0.2}


@dataclass(frozen=True)
class Signals:
    cat_share: float  # of the bio and recent posts, the share that mention cats
    cat_texts: int
    texts: int
    followers: int | None
    posts_per_week: float | None
    median_views: float | None  # of its recent reels: the profile's counters, or the trial's plays
    reels_share: float | None
    days_since_post: float | None
    trial_reels: int | None = None  # reels the trial scrape returned, when there was one

    def json(self) -> str:
        return json.dumps({k: _rounded(v) for k, v in asdict(self).items()}, sort_keys=True)


def signals(snapshot: AccountSnapshot, settings: AccountsSettings, now: datetime) -> Signals:
    """The cheap signals of one profile snapshot."""
    words = _cat_words(settings.cat_words)
    texts = [t for t in snapshot.recent_texts if t.strip()]
    cat = sum(1 for t in texts if words.search(t))
    posts = snapshot.recent_posts or 0
    return Signals(
        cat_share=cat / len(texts) if texts else 0.0,
        cat_texts=cat,
        texts=len(texts),
        followers=snapshot.followers,
        posts_per_week=snapshot.posts_per_week,
        median_views=snapshot.median_recent_views,
        reels_share=(snapshot.recent_reels or 0) / posts if posts else None,
        days_since_post=(now - snapshot.last_post_at).total_seconds() / 86_400
        if snapshot.last_post_at
        else None,
    )


def with_trial(found: Signals, plays: Sequence[int]) -> Signals:
    """The signals once a trial scrape returned these reels' plays (views)."""
    median = float(sorted(plays)[len(plays) // 2]) if plays else None
    return replace(
        found, median_views=median if median is not None else found.median_views, trial_reels=len(plays)
    )


def score(found: Signals) -> float:
    """The candidate's score, 0..1 (the module docstring's formula); a missing signal counts 0."""
    followers = found.followers or 0
    parts = {
        "followers": min(1.0, math.log10(followers) / 6) if followers >= 1 else 0.0,
        "reach": min(1.0, (found.median_views or 0.0) / followers) if followers else 0.0,
        "cadence": min(1.0, (found.posts_per_week or 0.0) / 3),
        "reels_share": found.reels_share or 0.0,
    }
    return round(found.cat_share * sum(WEIGHTS[k] * v for k, v in parts.items()), 4)


def exclusion(snapshot: AccountSnapshot, found: Signals, settings: AccountsSettings) -> str | None:
    """Why this account is not to be tracked, in one sentence; None when it may be."""
    if snapshot.status == "not_found":
        return f"not_found: the profile does not exist ({snapshot.error or 'no profile'})"
    if snapshot.status == "private" or snapshot.private:
        return "private account: its reels cannot be scraped"
    if snapshot.status != "ok":
        return None  # the scrape failed for now: try again on a later run, exclude nothing
    if found.days_since_post is None:
        return "inactive: no posts"
    if found.days_since_post > settings.inactive_days:
        return f"inactive: last post {found.days_since_post:.0f} days ago (> {settings.inactive_days})"
    if (found.followers or 0) < settings.min_followers:
        return f"too small: {found.followers or 0:,} followers (< {settings.min_followers:,})"
    if found.cat_share < settings.min_cat_share:
        return (
            f"not a cat account: {found.cat_texts} of {found.texts} recent posts and bio mention cats "
            f"({found.cat_share:.0%} < {settings.min_cat_share:.0%})"
        )
    return None


def _cat_words(words: Sequence[str]) -> re.Pattern[str]:
    plain = [re.escape(w) for w in words if w.isascii()]
    other = [re.escape(w) for w in words if not w.isascii()]  # emoji: no word boundary around them
    # A word on its own, or the start of a hashtag: #catreels, #kittensofinstagram.
    joined = "|".join(plain)
    parts = [rf"(?<![a-z0-9])(?:{joined})(?![a-z0-9])", rf"#(?:{joined})"] if plain else []
    return re.compile("|".join(parts + other) or r"(?!)", re.IGNORECASE)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86_400


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


__all__ = ["Signals", "exclusion", "score", "signals", "with_trial"]
