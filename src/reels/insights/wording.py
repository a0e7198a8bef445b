"""How a finding reads: the subject of each indicator ("POV reels", "reels longer than 14 s") and the
statement built around its numbers. Known fields have hand-written subjects; a field added to the schema
later reads through the generic forms, so wording never blocks a new feature."""

from __future__ import annotations

import math
from typing import Protocol

from reels.insights.effects import Effect
from reels.insights.features import Candidate

# {level} is the value, {t} the threshold (numbers: "with" means above it).
SUBJECTS: dict[str, str] = {
    "format": "{level} reels",
    "audio_kind": "reels whose audio is {level}",
    "pacing": "{level}-paced reels",
    "emotional_tone": "reels with a {level} tone",
    "cat_behaviours": "reels where the cats are {level}",
    "hashtag": "reels tagged #{level}",
    "posted_weekday": "reels posted on a {level}",
    "posted_hour_utc": "reels posted {level} UTC",
    "on_screen_text": "reels with text on screen",
    "hook": "reels with a described hook",
    "people_present": "reels with a person in them",
    "has_audio": "reels with sound",
    "cat_visible": "reels where a cat is detected",
    "original_audio": "reels with original audio (not a licensed track)",
    "duration_s": "reels longer than {t} s",
    "caption_length": "captions longer than {t} characters",
    "hashtag_count": "reels with more than {t} hashtags",
    "cat_count": "reels with more than {t} cat(s)",
    "shot_count": "reels with more than {t} shots",
    "cuts_per_s": "reels cutting more than {t} times a second",
    "first_cut_s": "reels whose first cut comes after {t} s",
    # Split at the median: "than the typical reel" says it without a unit a marketer has to look up.
    "loudness_db": "reels louder than the typical reel",
    "motion_level": "reels with more on-screen motion than the typical reel",
    "brightness": "reels brighter than the typical reel",
    "cat_frame_share": "reels showing a cat in more than {t} of their frames",
}
_PERCENT = {"brightness", "cat_frame_share", "motion_level"}  # 0–1 values, shown as percentages


class Described(Protocol):
    feature: str
    level: str | None
    kind: str
    threshold: float | None


def subject(c: Described) -> str:
    """Who a candidate or finding is about, lower case: "pov reels", "reels longer than 14 s"."""
    words = c.feature.replace("_", " ")
    generic = {
        "boolean": f"reels where {words} is true",
        "number": f"reels with {words} above {{t}}",
        "level": f"reels whose {words} is “{{level}}”",
        "item": f"reels with “{{level}}” among their {words}",
        "presence": f"reels with {words}",
    }[c.kind]
    template = SUBJECTS.get(c.feature, generic)
    return template.format(level=c.level or "", t=threshold_text(c))


def threshold_text(c: Described) -> str:
    t = c.threshold
    if t is None:
        return ""
    if c.feature in _PERCENT:
        return f"{t * 100:.0f}%"
    return f"{t:g}" if float(t).is_integer() else f"{t:.2f}".rstrip("0").rstrip(".")


def statement(c: Candidate, e: Effect, verdict: str, q: float | None, confidence: float) -> str:
    """One sentence (two at most) a marketer can read, with the numbers a data scientist checks."""
    who = subject(c)
    if verdict == "not_enough_data" and e.accounts_with_both == 0:
        return (
            f"Not enough data on {who}: no account has reels both with and without it ({e.n_with} with, "
            f"{e.n_without} without), so it cannot be told apart from the accounts themselves."
        )
    if verdict == "not_enough_data":
        return (
            f"Not enough data on {who}: {e.n_with} reels with it and {e.n_without} without, "
            f"{e.accounts_with_both} accounts with both."
        )
    assert e.effect is not None and e.ci_low is not None and e.ci_high is not None
    numbers = (
        f"{confidence * 100:g}% CI {multiple(e.ci_low)}–{multiple(e.ci_high)}, q = {_q(q)}, "
        f"{e.accounts_same_sign} of {e.accounts_with_both} accounts agree"
    )
    within = f"{multiple(e.effect)} the views of the same accounts' other reels"
    if verdict == "supported":
        shares = ""
        if e.viral_share_with is not None and e.viral_share_without is not None:
            went = _pct(e.viral_share_with), _pct(e.viral_share_without)
            shares = f" {went[0]} of them went viral vs {went[1]} of the rest."
        usual = multiple_of(e.lift_with), multiple_of(e.lift_without)
        return (
            f"{who[:1].upper()}{who[1:]} get {usual[0]} their account's usual views, the rest {usual[1]}: "
            f"{within} ({numbers}).{shares}"
        )
    return f"No clear effect of {who}: {within} ({numbers})."


def multiple(log_lift: float) -> str:
    """exp(log-lift) as a multiple: "2.10×"."""
    return multiple_of(math.exp(log_lift))


def multiple_of(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _q(q: float | None) -> str:
    return "—" if q is None else "< 0.001" if q < 0.001 else f"{q:.3f}" if q < 0.1 else f"{q:.2f}"


__all__ = ["SUBJECTS", "multiple", "multiple_of", "statement", "subject", "threshold_text"]
