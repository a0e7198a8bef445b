"""Stage 6, insights: what makes cat reels go viral: findings from everything we know about a reel,
estimated within accounts, with false discoveries controlled; and the playbook written from them.

In: the labelled reels of the window and their analyses (rows). Out: `Insight`s and `Recommendation`s.
Tables: none here; `reels.pipeline.findings` reads `reels` and `analyses` and writes `insights` and
`playbook`.

    table = feature_table(reels, analyses, min_reels=5)   # features.py: reels × indicators
    found = findings(table, settings, run_id=..., now=..., fingerprint=input_fingerprint(table, settings))

Each finding is one row of the `insights` table (`records.Insight`):

- `effect` is the within-account log-lift of reels with the feature over the same accounts' reels without
  it (effects.py), `lift` its multiple, `ci_low`/`ci_high` its cluster-bootstrap interval (log scale);
- `q_value` is Benjamini–Hochberg over every test of the run;
- `supported` only when q ≤ `fdr`, the interval excludes 0, and at least `min_same_sign` accounts show the
  effect's sign on their own; below the minimum support the verdict is `not_enough_data`.

Pure and seeded: the same inputs and settings give the same findings, in the same order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from reels.config import InsightsSettings
from reels.insights.effects import Effect, Support, q_values, within_account_effects
from reels.insights.features import REEL_COLUMNS, TAKING_PART, Candidate, FeatureTable, feature_table
from reels.insights.wording import statement, subject
from reels.records import Insight

METHOD = "within_account_v2"  # part of the fingerprint: a change of method recomputes unchanged inputs
EXAMPLES = 3


def findings(
    table: FeatureTable, settings: InsightsSettings, *, run_id: str, now: datetime, fingerprint: str
) -> list[Insight]:
    """One Insight per candidate of `table`, supported first (then by q, then by |effect|)."""
    if not table.candidates:
        return []
    indicators = np.column_stack([c.values for c in table.candidates])
    effects = within_account_effects(
        table.lift,
        table.accounts,
        table.viral,
        indicators,
        support=Support(settings.min_reels, settings.min_accounts),
        draws=settings.bootstrap,
        confidence=settings.confidence,
        fdr=settings.fdr,
        seed=settings.seed,
    )
    qs = q_values([e.p_value for e in effects])
    out = []
    for c, e, q in zip(table.candidates, effects, qs, strict=True):
        verdict = _verdict(e, q, settings)
        out.append(
            Insight(
                run_id=run_id,
                insight_id=c.insight_id,
                feature=c.feature,
                level=c.level,
                kind=c.kind,
                threshold=c.threshold,
                verdict=verdict,
                supported=verdict == "supported",
                effect=e.effect,  # None when it was not testable
                lift=None if e.effect is None else float(np.exp(e.effect)),
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                p_value=e.p_value,
                q_value=q,
                n_with=e.n_with,
                n_without=e.n_without,
                accounts_with_both=e.accounts_with_both,
                accounts_same_sign=e.accounts_same_sign,
                viral_share_with=e.viral_share_with,
                viral_share_without=e.viral_share_without,
                lift_with=e.lift_with,
                lift_without=e.lift_without,
                example_post_ids=_examples(table, c, e),
                sources=list(c.sources),
                statement=statement(c, e, verdict, q, settings.confidence),
                method=METHOD,
                input_fingerprint=fingerprint,
                created_at=now,
            )
        )
    return sorted(out, key=rank_key)


def input_fingerprint(table: FeatureTable, settings: InsightsSettings) -> str:
    """sha256 of everything the findings depend on: the reels taking part, their outcome, every indicator,
    the settings that change the numbers, and the method. Independent of the order rows were read in."""
    h = hashlib.sha256()
    numbers = [settings.fdr, settings.min_reels, settings.min_accounts, settings.min_same_sign]
    numbers += [settings.bootstrap, settings.confidence, settings.seed]
    h.update(json.dumps([METHOD, numbers, table.post_ids, table.account_names]).encode())
    for array in (table.accounts, np.round(table.lift, 9), table.viral):
        h.update(np.ascontiguousarray(array).tobytes())
    for c in table.candidates:
        h.update(json.dumps([c.insight_id, c.kind, c.threshold, c.sources]).encode())
        h.update(np.nan_to_num(c.values, nan=-1.0).tobytes())
    return h.hexdigest()


def rank_key(insight: Insight | Mapping[str, Any]) -> tuple[int, float, float, str]:
    """Sort key, for insights or `insights` rows: supported, then not supported, then not enough data;
    within each, smaller q, then larger |effect|, then id."""
    get = insight.get if isinstance(insight, Mapping) else lambda k: getattr(insight, k)
    verdict = get("verdict")
    order = {"supported": 0, "not_supported": 1}.get(verdict, 2)
    q, effect = get("q_value"), get("effect")
    return (order, 1.0 if q is None else q, -abs(effect or 0.0), str(get("insight_id")))


def from_row(row: Mapping[str, Any]) -> Insight:
    """An `insights` table row back as an `Insight`."""
    fields = {f.name: row.get(f.name) for f in dataclasses.fields(Insight)}
    lists = {k: list(row.get(k) or []) for k in ("example_post_ids", "sources")}
    return Insight(**fields | lists)


def _verdict(e: Effect, q: float | None, s: InsightsSettings) -> str:
    if not e.testable or e.effect is None or q is None or e.ci_low is None or e.ci_high is None:
        return "not_enough_data"
    excludes_zero = e.ci_low > 0 if e.effect > 0 else e.ci_high < 0
    if q <= s.fdr and excludes_zero and e.accounts_same_sign >= s.min_same_sign:
        return "supported"
    return "not_supported"


def _examples(table: FeatureTable, c: Candidate, e: Effect) -> list[str]:
    """Up to three viral reels on the winning side (with the feature, or without it when it hurts), the
    highest lifts first, one per account before a second from the same account."""
    side = 1.0 if (e.effect or 0.0) >= 0 else 0.0
    picks = sorted(
        np.flatnonzero(table.viral & (c.values == side)), key=lambda i: (-table.lift[i], table.post_ids[i])
    )
    first, later, seen = [], [], set()
    for i in picks:
        (later if table.accounts[i] in seen else first).append(i)
        seen.add(table.accounts[i])
    return [table.post_ids[i] for i in (first + later)[:EXAMPLES]]


__all__ = [
    "METHOD",
    "REEL_COLUMNS",
    "TAKING_PART",
    "Candidate",
    "FeatureTable",
    "feature_table",
    "findings",
    "from_row",
    "input_fingerprint",
    "rank_key",
    "subject",
]
