"""Everything we know about a reel, as yes/no indicators the effects are estimated on.

Pure: rows in, arrays out. The outcome of a reel is its lift over its own account's baseline,
`log(viral_ratio)`; only reels labelled `viral` or `not_viral` (matured and scored) take part.

Where a feature comes from:

- every field of every analyzer's answer (`VideoAnalysis`, less `NOT_FEATURES`), by its type:
  booleans as they are; numbers split at their median ("longer than 14 s"); enum fields one indicator per
  level; free-text fields one indicator per frequent normalised value, plus "has any" for fields an
  analyzer fills only when there is something (on-screen text); list fields one indicator per frequent item;
- the reel's own metadata: caption length, hashtag count, frequent hashtags, original audio vs a licensed
  track, posting weekday and time of day (UTC), and its length when no analyzer measured it.

Several analyzers may have answered for one reel: each field takes the first value given, models before
the local measurements, newest first, and every indicator keeps the analyzers and models its values came
from (`sources`). A value is unknown (NaN) where no analyzer gave one; a free-text or list field that an
analyzer fills elsewhere but left empty here means "none", not unknown.
"""

from __future__ import annotations

import math
import types
import typing
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

import numpy as np
from pydantic import BaseModel

from reels.analysis_schema import VideoAnalysis

TAKING_PART = ("viral", "not_viral")
# The columns of `reels` the features and the outcome come from: the insights stage reads only these.
REEL_COLUMNS = (
    "post_id", "username", "virality_label", "viral_ratio", "caption", "hashtags", "posted_at",
    "duration_s", "music",
)  # fmt: skip
MIN_RATIO = 0.01  # a reel with (almost) no views counts as 1% of its account's usual views, not log(0)
MAX_LEVEL_CHARS = 40  # longer free text is prose, not a level
METADATA = "reel"  # the `sources` entry of features read from the reel itself
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Kind = Literal["boolean", "number", "level", "item", "presence"]

# Fields the insights stage never tests, with the reason. Every other field is a feature as it stands, so a
# field added to `VideoAnalysis` is tested without touching the insights code.
NOT_FEATURES: dict[str, str] = {
    # The model writes it after reading the reel's virality numbers: testing it would test the label.
    "virality_hypothesis": "explains the label it was shown",
}


@dataclass(frozen=True)
class Candidate:
    """One test: an indicator over the reels (1 with, 0 without, NaN unknown) and what it means."""

    feature: str  # the field: format, has_audio, cat_behaviours, hashtag, ...
    level: str | None  # the value, for level/item indicators
    kind: Kind
    threshold: float | None  # numbers: "with" means above this (the median)
    values: np.ndarray
    sources: tuple[str, ...]  # analyzer/model (or "reel") behind the known values

    @property
    def insight_id(self) -> str:
        return self.feature if self.level is None else f"{self.feature}={self.level}"


@dataclass(frozen=True)
class FeatureTable:
    """The reels taking part, in post_id order, with their outcome and every candidate indicator."""

    post_ids: tuple[str, ...]
    accounts: np.ndarray  # int code per reel
    account_names: tuple[str, ...]
    lift: np.ndarray  # log(viral_ratio)
    viral: np.ndarray  # bool
    candidates: tuple[Candidate, ...]


def feature_table(
    reels: Sequence[Mapping[str, Any]],
    analyses: Sequence[Mapping[str, Any]],
    *,
    min_reels: int,
    schema: type[BaseModel] = VideoAnalysis,
) -> FeatureTable:
    """The reels labelled viral/not_viral with a ratio, and their candidates from every `schema` field (less
    NOT_FEATURES) and the reel's metadata. A free-text value, list item or hashtag becomes a candidate only
    when at least `min_reels` reels have it (rare ones are noise)."""
    taking = sorted(
        (
            r
            for r in reels
            if r.get("virality_label") in TAKING_PART and _number(r.get("viral_ratio")) is not None
        ),
        key=lambda r: str(r["post_id"]),
    )
    names = sorted({str(r["username"]) for r in taking})
    code = {n: i for i, n in enumerate(names)}
    ids = [str(r["post_id"]) for r in taking]
    by_post: dict[str, list[Mapping[str, Any]]] = {}
    for a in sorted(analyses, key=_priority):
        if a.get("status") == "ok":
            by_post.setdefault(str(a["post_id"]), []).append(a)
    fields = _merged_fields(ids, by_post, taking, schema)
    candidates: list[Candidate] = []
    for name, (kind, values, sources, levels) in fields.items():
        candidates += _candidates(name, kind, values, sources, levels, min_reels)
    # The same value for every reel that has one is no contrast at all: nothing to test or to say.
    candidates = [c for c in candidates if np.nanmin(c.values) != np.nanmax(c.values)]
    ratios = np.array([max(float(r["viral_ratio"]), MIN_RATIO) for r in taking])
    return FeatureTable(
        post_ids=tuple(ids),
        accounts=np.array([code[str(r["username"])] for r in taking], dtype=np.int64),
        account_names=tuple(names),
        lift=np.log(ratios),
        viral=np.array([r["virality_label"] == "viral" for r in taking], dtype=bool),
        candidates=tuple(candidates),
    )


# -- one value per reel and field ------------------------------------------------------------------------

_Field = tuple[str, list[Any], list[str | None], tuple[str, ...] | None]  # kind, values, sources, enum levels


def _merged_fields(
    ids: list[str],
    by_post: Mapping[str, list[Mapping[str, Any]]],
    reels: Sequence[Mapping[str, Any]],
    schema: type[BaseModel],
) -> dict[str, _Field]:
    """field → (kind, value per reel, source per reel, enum levels); None values are unknown."""
    out: dict[str, _Field] = {}
    covering = _covering(by_post, tuple(schema.model_fields))
    for name, info in schema.model_fields.items():
        if name in NOT_FEATURES:
            continue
        kind, levels = _kind(info.annotation)
        values: list[Any] = []
        sources: list[str | None] = []
        for pid in ids:
            value, source = None, None
            for a in by_post.get(pid, ()):
                if a.get(name) is not None and not _is_nan(a[name]):
                    value, source = a[name], _producer(a)
                    break
            if value is None and kind in ("text", "item"):
                # Empty where a producer that fills this field answered: "none", not unknown.
                source = next(
                    (_producer(a) for a in by_post.get(pid, ()) if _producer(a) in covering[name]), None
                )
                value = (() if kind == "item" else "") if source else None
            values.append(value)
            sources.append(source)
        out[name] = (kind, values, sources, levels)
    for name, (kind, values) in _metadata(reels).items():
        if name in out:  # the reel's own value fills in where no analyzer measured it
            _, merged, sources, _ = out[name]
            for i, v in enumerate(values):
                if merged[i] is None and v is not None:
                    merged[i], sources[i] = v, METADATA
            continue
        out[name] = (kind, values, [METADATA if v is not None else None for v in values], None)
    return out


def _metadata(reels: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, list[Any]]]:
    caption = [r.get("caption") or "" for r in reels]
    tags = [tuple(sorted({str(t).lower() for t in r.get("hashtags") or ()})) for r in reels]
    posted = [r.get("posted_at") for r in reels]
    return {
        "duration_s": ("number", [_number(r.get("duration_s")) for r in reels]),
        "caption_length": ("number", [len(c) for c in caption]),
        "hashtag_count": ("number", [len(t) for t in tags]),
        "hashtag": ("item", tags),
        "original_audio": ("boolean", [_original_audio(r.get("music")) for r in reels]),
        "posted_weekday": (
            "level",
            [WEEKDAYS[t.weekday()] if isinstance(t, datetime) else None for t in posted],
        ),
        "posted_hour_utc": ("level", [_hours(t) if isinstance(t, datetime) else None for t in posted]),
    }


def _original_audio(music: Any) -> bool | None:
    """`music` is "artist - song"; Instagram names an original sound's song "Original audio" (apify.md)."""
    if not isinstance(music, str) or not music:
        return None
    return music.lower().endswith("original audio")


def _hours(t: datetime) -> str:
    start = t.hour // 6 * 6
    return f"{start:02d}:00–{start + 5:02d}:59"


def _covering(by_post: Mapping[str, list[Mapping[str, Any]]], fields: tuple[str, ...]) -> dict[str, set[str]]:
    """field → the producers that filled it in at least one reel: for them an empty value means none."""
    out: dict[str, set[str]] = {name: set() for name in fields}
    for rows in by_post.values():
        for a in rows:
            for name in out:
                if a.get(name) not in (None, "", [], ()) and not _is_nan(a.get(name)):
                    out[name].add(_producer(a))
    return out


def _priority(a: Mapping[str, Any]) -> tuple[bool, float, str, str]:
    """Models before the local measurements, then the newest answer."""
    at = a.get("analyzed_at")
    stamp = at.timestamp() if isinstance(at, datetime) else 0.0
    return (a.get("analyzer") == "local", -stamp, str(a.get("analyzer")), str(a.get("model")))


def _producer(a: Mapping[str, Any]) -> str:
    return f"{a.get('analyzer')}/{a.get('model')}"


def _kind(annotation: Any) -> tuple[str, tuple[str, ...] | None]:
    """(kind, enum levels) of a `VideoAnalysis` annotation: Optional unwrapped, Literal → level."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _kind(inner)
    if origin is Literal:
        return "level", tuple(str(a) for a in get_args(annotation))
    if origin is list:
        return "item", None
    if annotation is bool:
        return "boolean", None
    if annotation in (int, float):
        return "number", None
    return "text", None


# -- values → candidate indicators -----------------------------------------------------------------------


def _candidates(
    name: str,
    kind: str,
    values: list[Any],
    sources: list[str | None],
    levels: tuple[str, ...] | None,
    min_reels: int,
) -> list[Candidate]:
    known = np.array([v is not None for v in values])
    if not known.any():
        return []

    def made(
        kind: Kind, x: Iterable[float], level: str | None = None, threshold: float | None = None
    ) -> Candidate:
        arr = np.where(known, np.fromiter(x, dtype=float, count=len(values)), np.nan)
        used = sorted({s for s, k in zip(sources, known, strict=True) if k and s})
        return Candidate(name, level, kind, threshold, arr, tuple(used))

    if kind == "boolean":
        return [made("boolean", (1.0 if v else 0.0 for v in values))]
    if kind == "number":
        numbers = np.array([float(v) if v is not None else np.nan for v in values])
        threshold = float(np.nanmedian(numbers))
        return [made("number", np.nan_to_num(numbers, nan=-np.inf) > threshold, threshold=threshold)]
    if kind == "level":
        seen = Counter(str(v) for v in values if v is not None)
        order = [lv for lv in (levels or ()) if lv in seen] + sorted(set(seen) - set(levels or ()))
        return [made("level", (v is not None and str(v) == lv for v in values), lv) for lv in order]
    if kind == "item":
        sets = [frozenset(_norm(i) for i in v) - {""} if v is not None else frozenset() for v in values]
        counts = Counter(i for s in sets for i in s)
        return [made("item", (i in s for s in sets), i) for i in sorted(counts) if counts[i] >= min_reels]
    # free text: frequent values as levels, and "has any" where empty means none
    texts = [_norm(v) if v is not None else None for v in values]
    out = [made("presence", (bool(t) for t in texts))]
    counts = Counter(t for t in texts if t and len(t) <= MAX_LEVEL_CHARS)
    out += [made("level", (t == lv for t in texts), lv) for lv in sorted(counts) if counts[lv] >= min_reels]
    return out


def _norm(text: Any) -> str:
    """Lower case, single spaces, no surrounding punctuation: "Funny!" and "funny" are one level."""
    return " ".join(str(text).lower().split()).strip(" .,;:!?\"'")


def _number(x: Any) -> float | None:
    if x is None or isinstance(x, bool) or _is_nan(x):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


__all__ = ["METADATA", "REEL_COLUMNS", "TAKING_PART", "Candidate", "FeatureTable", "feature_table"]
