"""What changed over time, from the reels' posting dates and the analyses of the viral ones: the week in
numbers, viral reels per posting week, and what is rising among viral reels (formats, hashtags, audio, cat
behaviours) in the last weeks against the weeks before. Pure functions over rows."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RECENT_WEEKS = 4  # "lately", for what is rising
SHOWN_WEEKS = 12
MIN_RISING = 2  # viral reels lately that a rising item needs
MIN_BEFORE = 3  # viral reels before that a comparison needs; with fewer, the most frequent items are shown

# What is counted among viral reels, and how it reads: (source, field, label); `reel` fields come from the
# reels table, the others from the reel's analysis (a model's answer, or the local measurements).
RISING_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("analysis", "format", "format"),
    ("analysis", "cat_behaviours", "cats"),
    ("analysis", "audio_kind", "audio"),
    ("analysis", "emotional_tone", "tone"),
    ("analysis", "pacing", "pacing"),
    ("reel", "hashtags", "hashtag"),
    ("reel", "music", "sound"),
)


@dataclass(frozen=True, slots=True)
class Week:
    start: datetime  # Monday 00:00 UTC
    reels: int
    viral: int
    # Reels judged or still being judged: viral, not viral, or pending (young reels below the bar so far);
    # not those with too few baseline reels or out of the scoring window.
    scored: int

    @property
    def share(self) -> float | None:
        return self.viral / self.scored if self.scored else None


@dataclass(frozen=True, slots=True)
class Rise:
    kind: str  # format, cats, audio, hashtag, sound, ...
    value: str
    recent: int  # viral reels with it in the last RECENT_WEEKS weeks
    recent_of: int
    before: int
    before_of: int

    @property
    def compared(self) -> bool:
        return self.before_of >= MIN_BEFORE

    @property
    def recent_share(self) -> float:
        return self.recent / self.recent_of if self.recent_of else 0.0

    @property
    def before_share(self) -> float:
        return self.before / self.before_of if self.before_of else 0.0


@dataclass(frozen=True, slots=True)
class WeekSummary:
    end: datetime  # the newest posting time in the lake: the week is the 7 days to it
    reels: int
    accounts: int
    viral: int
    share: float | None  # of the week's scored reels
    share_before: float | None  # over the RECENT_WEEKS weeks before it
    best: Mapping[str, Any] | None  # the week's most viral reel


def utc(t: datetime) -> datetime:
    """A time as UTC; a naive one is taken to be UTC already (as every table stores them)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def monday(t: datetime) -> datetime:
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly(posts: Sequence[Mapping[str, Any]], weeks: int = SHOWN_WEEKS) -> list[Week]:
    """Reels and viral reels per posting week, the last `weeks` weeks with posts (oldest first)."""
    dated = [p for p in posts if p.get("posted_at")]
    if not dated:
        return []
    last = monday(max(p["posted_at"] for p in dated))
    starts = [last - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    reels, viral, scored = Counter[datetime](), Counter[datetime](), Counter[datetime]()
    for p in dated:
        week = monday(p["posted_at"])
        reels[week] += 1
        label = p.get("virality_label")
        viral[week] += label == "viral"
        scored[week] += label in _JUDGED
    first = next((s for s in starts if reels[s]), last)
    return [Week(s, reels[s], viral[s], scored[s]) for s in starts if s >= first]


def week_summary(posts: Sequence[Mapping[str, Any]]) -> WeekSummary | None:
    """The last 7 days of posts against the RECENT_WEEKS weeks before them."""
    dated = [p for p in posts if p.get("posted_at")]
    if not dated:
        return None
    end = max(p["posted_at"] for p in dated)
    start, before = end - timedelta(days=7), end - timedelta(days=7 * (RECENT_WEEKS + 1))
    week = [p for p in dated if p["posted_at"] > start]
    earlier = [p for p in dated if before < p["posted_at"] <= start]
    viral = [p for p in week if p.get("virality_label") == "viral"]
    best = max(viral, key=lambda p: p.get("viral_ratio") or 0, default=None)
    return WeekSummary(
        end=end,
        reels=len(week),
        accounts=len({p.get("username") for p in week}),
        viral=len(viral),
        share=_share(week),
        share_before=_share(earlier),
        best=best,
    )


def rising(
    viral: Sequence[Mapping[str, Any]],
    features: Mapping[str, Mapping[str, Any]],
    *,
    top: int = 8,
) -> list[Rise]:
    """What viral reels show more often lately (the last RECENT_WEEKS weeks of posts) than before, the
    biggest gains in share first; only items seen in at least MIN_RISING recent viral reels. With fewer
    than MIN_BEFORE viral reels before, the items the recent ones show most (`compared` is False).
    `features`: post_id → the RISING_FIELDS of a viral reel (its analysis's and its own)."""
    dated = [p for p in viral if p.get("posted_at")]
    if not dated:
        return []
    cut = monday(max(p["posted_at"] for p in dated)) - timedelta(weeks=RECENT_WEEKS - 1)
    recent = [p for p in dated if p["posted_at"] >= cut]
    before = [p for p in dated if p["posted_at"] < cut]
    counts = {"recent": Counter[tuple[str, str]](), "before": Counter[tuple[str, str]]()}
    for group, rows in (("recent", recent), ("before", before)):
        for p in rows:
            for item in _items(features.get(p["post_id"], {})):
                counts[group][item] += 1
    rises = [
        Rise(kind, value, n, len(recent), counts["before"][(kind, value)], len(before))
        for (kind, value), n in counts["recent"].items()
        if n >= MIN_RISING
    ]
    if len(before) >= MIN_BEFORE:
        rises = [r for r in rises if r.recent_share > r.before_share]
        rises.sort(key=lambda r: (-(r.recent_share - r.before_share), -r.recent, r.kind, r.value))
    else:  # nothing to compare with: what the recent viral reels show most
        rises.sort(key=lambda r: (-r.recent, r.kind, r.value))
    return rises[:top]


def median_views(posts: Iterable[Mapping[str, Any]]) -> float | None:
    views = [p["views"] for p in posts if p.get("views") is not None]
    return statistics.median(views) if views else None


def _items(fields: Mapping[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for _, name, kind in RISING_FIELDS:
        value = fields.get(name)
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v is None or v == "" or isinstance(v, bool):
                continue
            text = str(v)
            if name == "music" and text.endswith("Original audio"):
                text = "original audio"  # one account's own sound each: together they are one kind
            out.add((kind, f"#{text}" if name == "hashtags" else text))
    return out


# A reel under the minimum age is labelled viral as soon as it clears the bar but stays pending until then:
# the share counts the pending ones too, so a young week is not read as all viral ("so far").
_JUDGED = ("viral", "not_viral", "pending")


def _share(posts: Sequence[Mapping[str, Any]]) -> float | None:
    scored = [p for p in posts if p.get("virality_label") in _JUDGED]
    return sum(p.get("virality_label") == "viral" for p in scored) / len(scored) if scored else None


__all__ = [
    "RISING_FIELDS",
    "Rise",
    "Week",
    "WeekSummary",
    "median_views",
    "monday",
    "rising",
    "utc",
    "week_summary",
    "weekly",
]
