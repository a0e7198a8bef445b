"""Hypotheses on why viral reels win: each analyzed feature compared between viral and other reels.

Pure: no I/O and no clock (`now` and `run_id` are parameters), and seeded, so the same rows always give the
same insights. Only rows labelled `viral` or `not_viral` take part; every other label is ignored.

Per feature (numbers: the mean; booleans: the share of reels where it is True):

- `difference` is viral minus other, in the unit the statement uses (shares and 0–1 scores in percent and
  percentage points, so the stored numbers read like the sentence);
- the interval is a bootstrap percentile interval of that difference (each group resampled on its own), and
  a feature is `supported` when the interval excludes 0;
- `effect_size` is Cohen's d for numbers (pooled standard deviation; None when both groups are constant, as
  the effect is then undefined) and Cohen's h for booleans (2·asin√p₁ − 2·asin√p₂);
- `p_value` is a two-sided permutation test of the difference in means with `bootstrap` shuffles.

About ten features are compared at once: at 95% expect roughly one "supported" by chance alone, so these are
hypotheses to test with new reels, not findings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from reels.analysis.schema import COMPARABLE_FEATURES
from reels.records import Insight

MIN_GROUP = 3
"""Fewest reels, in each of the viral and other groups, with a value for a feature before it is compared.
Below it in either group overall, `feature_insights` returns [] and the caller records why."""

METHOD = "feature_insights_v1"  # part of the fingerprint: a change of method recomputes unchanged inputs
_LABELS = ("viral", "not_viral")
_CHUNK = 1_000_000  # resampled values held in memory at once
_TINY = 1e-9  # relative to the values: smaller differences are rounding, not signal


@dataclass(frozen=True)
class Feature:
    """How a feature reads in a sentence: `claim` takes the formatted viral {v} and other {o} values."""

    name: str
    noun: str
    claim: str
    unit: str = ""
    diff_unit: str | None = None  # unit of differences, when not `unit` (percent → percentage points)
    decimals: int = 1
    scale: float = 1.0  # stored and shown values are the raw mean × scale
    boolean: bool = False

    def show(self, value: float, *, signed: bool = False, diff: bool = False, bare: bool = False) -> str:
        """A stored (already scaled) value in the feature's unit, e.g. "81%", "+38 pts", "-19.6 dB"."""
        unit = "" if bare else self.diff_unit if diff and self.diff_unit is not None else self.unit
        x = round(value, self.decimals) + 0.0  # no "-0"
        return f"{x:{'+' if signed else ''}.{self.decimals}f}{unit}"


def _pct(name: str, noun: str, claim: str, boolean: bool = False) -> Feature:
    """A share (or a True/False feature's share of reels), shown in percent with differences in points."""
    return Feature(name, noun, claim, "%", " pts", decimals=0, scale=100.0, boolean=boolean)


_VS = " vs {o} for other reels"
FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("duration_s", "length", "Viral reels run {v} on average" + _VS, " s"),
        _pct(
            "has_audio", "how often reels have sound", "{v} of viral reels have sound vs {o} of others", True
        ),
        Feature("loudness_db", "loudness", "Viral reels are mixed at {v} average loudness" + _VS, " dB"),
        Feature("shot_count", "number of shots", "Viral reels have {v} shots on average" + _VS),
        Feature(
            "cuts_per_s",
            "editing pace (cuts per second)",
            "Viral reels average {v} cuts per second" + _VS,
            decimals=2,
        ),
        Feature(
            "first_cut_s", "time to the first cut", "Viral reels make their first cut after {v}" + _VS, " s"
        ),
        Feature(
            "motion_level", "on-screen motion (0–100)", "Viral reels score {v} for motion" + _VS, scale=100
        ),
        _pct("brightness", "brightness", "Viral reels have an average brightness of {v}" + _VS),
        _pct(
            "cat_visible",
            "how often a cat is detected",
            "A cat is seen in {v} of viral reels vs {o} of others",
            True,
        ),
        _pct(
            "cat_frame_share",
            "how much of the video shows a cat",
            "Viral reels show a cat in {v} of frames" + _VS,
        ),
    )
}


def feature_insights(
    rows: Sequence[Mapping[str, Any]],
    *,
    run_id: str,
    now: datetime,
    min_group: int = MIN_GROUP,
    bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Insight]:
    """One insight per comparable feature with ≥ `min_group` values in both groups, best supported first.

    Rows are reels with an ok analysis: `post_id`, `username`, `virality_label`, `viral_ratio`, `views` and
    the `COMPARABLE_FEATURES` (None = unknown, skipped). Returns [] when either group has fewer than
    `min_group` reels. `bootstrap` is the number of resamples for the interval, and of shuffles for the
    p-value.
    """
    n_viral, n_other = group_sizes(rows)
    if min(n_viral, n_other) < min_group:
        return []
    ordered = sorted((r for r in rows if r.get("virality_label") in _LABELS), key=lambda r: str(r["post_id"]))
    fingerprint = input_fingerprint(ordered, min_group=min_group, bootstrap=bootstrap, confidence=confidence)
    common = dict(run_id=run_id, created_at=now, input_fingerprint=fingerprint)
    viral_ids = [str(r["post_id"]) for r in ordered if r["virality_label"] == "viral"]
    other_ids = [str(r["post_id"]) for r in ordered if r["virality_label"] == "not_viral"]
    found = []
    for name in COMPARABLE_FEATURES:
        known = {str(r["post_id"]): x for r in ordered if (x := _value(r.get(name))) is not None}
        viral = [(pid, known[pid]) for pid in viral_ids if pid in known]
        other = [known[pid] for pid in other_ids if pid in known]
        if min(len(viral), len(other)) < min_group:
            continue
        feature = FEATURES.get(name) or _fallback(name, [r.get(name) for r in ordered])
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        found.append(_compare(feature, viral, other, rng, bootstrap, confidence, common))
    return sorted(found, key=rank_key)


def group_sizes(rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(viral, not_viral) reel counts among the rows: what `min_group` is checked against."""
    labels = [r.get("virality_label") for r in rows]
    return labels.count("viral"), labels.count("not_viral")


def input_fingerprint(
    rows: Sequence[Mapping[str, Any]],
    *,
    min_group: int = MIN_GROUP,
    bootstrap: int = 2000,
    confidence: float = 0.95,
) -> str:
    """sha256 of what the insights depend on (post_id, label, feature values, and the settings that change
    the numbers), independent of row order."""
    items = sorted(
        json.dumps([str(r["post_id"]), r["virality_label"], [_value(r.get(f)) for f in COMPARABLE_FEATURES]])
        for r in rows
        if r.get("virality_label") in _LABELS
    )
    settings = [min_group, bootstrap, confidence]
    return hashlib.sha256(json.dumps([METHOD, COMPARABLE_FEATURES, settings, items]).encode()).hexdigest()


def rank_key(insight: Insight | Mapping[str, Any]) -> tuple[bool, bool, float, str]:
    """Sort key, for insights or `insights` rows: supported first, then larger |effect size|, then id."""
    get = insight.get if isinstance(insight, Mapping) else lambda k: getattr(insight, k)
    effect = get("effect_size")
    return (not get("supported"), effect is None, -abs(effect or 0.0), str(get("insight_id")))


def from_row(row: Mapping[str, Any]) -> Insight:
    """An `insights` table row back as an `Insight`."""
    fields = {f.name: row.get(f.name) for f in dataclasses.fields(Insight)}
    return Insight(**fields | {"example_post_ids": list(row.get("example_post_ids") or [])})


def _compare(
    feature: Feature,
    viral: list[tuple[str, float]],
    other: list[float],
    rng: np.random.Generator,
    draws: int,
    confidence: float,
    common: dict[str, Any],
) -> Insight:
    v, o = np.array([x for _, x in viral]), np.array(other)
    diff = float(v.mean() - o.mean())
    boot = _resampled_means(rng, v, draws) - _resampled_means(rng, o, draws)
    low, high = (float(q) for q in np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2]))
    tiny = _TINY * max(1.0, float(np.abs(v).max()), float(np.abs(o).max()))  # float noise is not a difference
    diff, low, high = (0.0 if abs(x) <= tiny else x for x in (diff, low, high))
    supported = low > 0 or high < 0
    s = feature.scale
    values = dict(viral_value=float(v.mean()) * s, other_value=float(o.mean()) * s, difference=diff * s)
    values |= dict(ci_low=low * s, ci_high=high * s)
    return Insight(
        insight_id=f"feature:{feature.name}",
        feature=feature.name,
        statement=_statement(feature, supported, confidence, len(v), len(o), values),
        supported=supported,
        **values,
        effect_size=_cohens_h(v.mean(), o.mean()) if feature.boolean else _cohens_d(v, o, diff),
        p_value=_permutation_p(rng, v, o, draws),
        n_viral=len(v),
        n_other=len(o),
        example_post_ids=_examples(viral, up=diff >= 0),
        **common,
    )


def _resampled_means(rng: np.random.Generator, values: np.ndarray, draws: int) -> np.ndarray:
    out = np.empty(draws)
    step = max(1, _CHUNK // len(values))
    for start in range(0, draws, step):
        k = min(step, draws - start)
        out[start : start + k] = values[rng.integers(0, len(values), size=(k, len(values)))].mean(axis=1)
    return out


def _permutation_p(rng: np.random.Generator, v: np.ndarray, o: np.ndarray, draws: int) -> float:
    """Two-sided: the share of label shufflings whose |difference in means| reaches the observed one."""
    pooled, observed = np.concatenate([v, o]), abs(v.mean() - o.mean())
    hits, step = 0, max(1, _CHUNK // len(pooled))
    for start in range(0, draws, step):
        shuffled = rng.permuted(np.tile(pooled, (min(step, draws - start), 1)), axis=1)
        diffs = np.abs(shuffled[:, : len(v)].mean(axis=1) - shuffled[:, len(v) :].mean(axis=1))
        hits += int(np.count_nonzero(diffs >= observed - 1e-12 * max(1.0, observed)))
    return (hits + 1) / (draws + 1)


def _cohens_d(v: np.ndarray, o: np.ndarray, diff: float) -> float | None:
    """Difference in means over the pooled standard deviation; None when undefined (no spread at all)."""
    dof = len(v) + len(o) - 2
    pooled = math.sqrt((len(v) * v.var() + len(o) * o.var()) / dof) if dof > 0 else 0.0
    if pooled <= _TINY * max(1.0, abs(diff)):
        return 0.0 if diff == 0 else None
    return diff / pooled


def _cohens_h(p1: float, p2: float) -> float:
    return float(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))


def _examples(viral: list[tuple[str, float]], *, up: bool, n: int = 3) -> list[str]:
    """The viral reels furthest in the winning direction (highest values when viral is higher), by post_id."""
    return [pid for pid, _ in sorted(viral, key=lambda pv: (-pv[1] if up else pv[1], pv[0]))[:n]]


def _statement(
    feature: Feature, supported: bool, confidence: float, n_v: int, n_o: int, values: dict[str, float]
) -> str:
    v, o = feature.show(values["viral_value"]), feature.show(values["other_value"])
    lo, hi = (feature.show(values[k], signed=True, bare=True) for k in ("ci_low", "ci_high"))
    diff = feature.show(values["difference"], signed=True, diff=True)
    numbers = f"{diff}, {confidence * 100:g}% CI {lo} to {hi}; {n_v} viral vs {n_o} other reels"
    if supported:
        return f"{feature.claim.format(v=v, o=o)} ({numbers})."
    return f"No clear difference in {feature.noun}: {v} for viral reels vs {o} for other reels ({numbers})."


def _value(x: Any) -> float | None:
    """A feature value as a float (True → 1.0); None and NaN are unknown."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(x)


def _fallback(name: str, values: list[Any]) -> Feature:
    """Wording for a feature added to COMPARABLE_FEATURES without an entry in FEATURES."""
    words = name.replace("_", " ")
    if all(isinstance(x, bool) for x in values if x is not None):
        return _pct(name, words, f"{{v}} of viral reels have {words} vs {{o}} of others", True)
    return Feature(name, words, f"Viral reels average {{v}} {words}" + _VS, decimals=2)
