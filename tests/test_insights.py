"""The insights stage's pure parts: features from every analyzer and the reel, within-account effects,
false-discovery control, verdicts and wording. Small data with known answers; no fakes needed."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pytest
from pydantic import create_model

from reels.analysis_schema import VideoAnalysis
from reels.config import InsightsSettings
from reels.insights import feature_table, findings, from_row, input_fingerprint, rank_key
from reels.insights.effects import Support, q_values, within_account_effects
from reels.records import Insight, as_row
from tests.simulate import simulate

T = datetime(2026, 11, 16, 6, tzinfo=UTC)
FAST = InsightsSettings(bootstrap=500)


def effects(y: list[float], accounts: list[int], x: list[float], **kw: Any) -> Any:
    (e,) = within_account_effects(
        np.array(y),
        np.array(accounts),
        np.zeros(len(y), dtype=bool),
        np.array(x, dtype=float)[:, None],
        support=kw.pop("support", Support(1, 2)),
        draws=kw.pop("draws", 999),
        **kw,
    )
    return e


# -- the estimate --------------------------------------------------------------------------------------------


def test_the_effect_is_the_weighted_mean_of_the_accounts_own_contrasts() -> None:
    # Account 0: with (1, 3) vs without (0): d = 2, w = 2·1/3. Account 1: with (0) vs without (1, 1, 1):
    # d = -1, w = 1·3/4. Account 2 has only reels with the feature: it carries no contrast and no weight.
    e = effects([1, 3, 0, 0, 1, 1, 1, 50, 60], [0, 0, 0, 1, 1, 1, 1, 2, 2], [1, 1, 0, 1, 0, 0, 0, 1, 1])
    w0, w1 = 2 / 3, 3 / 4
    assert e.effect == pytest.approx((2 * w0 - 1 * w1) / (w0 + w1))
    assert (e.n_with, e.n_without, e.accounts_with_both, e.accounts_same_sign) == (5, 4, 2, 1)
    assert e.lift_with == pytest.approx(math.exp((1 + 3 + 0 + 50 + 60) / 5))


def test_it_equals_least_squares_with_one_intercept_per_account() -> None:
    rng = np.random.default_rng(3)
    accounts = np.repeat(np.arange(6), 15)
    x = (rng.random(90) < 0.4).astype(float)
    y = rng.normal(0, 1, 90) + 0.7 * x + accounts * 2.0
    design = np.column_stack([x, *(accounts == a for a in range(6))]).astype(float)
    slope = np.linalg.lstsq(design, y, rcond=None)[0][0]
    assert effects(list(y), list(accounts), list(x)).effect == pytest.approx(slope)


def test_a_feature_that_differs_only_between_accounts_has_no_contrast_and_no_test() -> None:
    # The "feature" accounts are far above their baseline: pooled, it would look like a 20× driver.
    y = [3.0] * 10 + [0.0] * 10
    e = effects(y, [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5, [1.0] * 10 + [0.0] * 10)
    assert not e.testable and e.accounts_with_both == 0 and e.p_value is None and e.effect is None


def test_the_permutation_p_value_is_exact_for_a_clean_effect_and_uniform_for_none() -> None:
    accounts = [a for a in range(8) for _ in range(10)]
    x = [float(i % 2) for i in range(80)]
    clean = effects([2.0 * v + 0.01 * i for i, v in enumerate(x)], accounts, x, draws=999)
    assert clean.p_value == pytest.approx(1 / 1000)
    same = effects([float(i % 5) for i in range(80)], accounts, [float(i // 5 % 2) for i in range(80)])
    assert same.p_value is not None and same.p_value > 0.2


def test_the_interval_resamples_accounts_not_reels() -> None:
    # Two accounts, each with many reels and a tight, different contrast (+1 and +3): resampling reels would
    # give a narrow interval around 2; resampling the two accounts spans their two contrasts.
    rng = np.random.default_rng(0)
    accounts = [0] * 200 + [1] * 200
    x = [float(i % 2) for i in range(400)]
    y = [(1.0 if a == 0 else 3.0) * v + rng.normal(0, 0.01) for a, v in zip(accounts, x, strict=True)]
    e = effects(y, accounts, x)
    assert e.effect == pytest.approx(2.0, abs=0.01)
    assert e.ci_low == pytest.approx(1.0, abs=0.05) and e.ci_high == pytest.approx(3.0, abs=0.05)


def test_unknown_values_take_no_part() -> None:
    y, accounts, x = [1, 0, 1, 0, 9, 9], [0, 0, 1, 1, 0, 1], [1, 0, 1, 0, np.nan, np.nan]
    e = effects(y, accounts, x)
    assert (e.n_with, e.n_without) == (2, 2) and e.effect == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ([0.01, 0.02, 0.03, 0.5], [0.04, 0.04, 0.04, 0.5]),
        ([0.04, None, 0.01], [0.04, None, 0.02]),
        ([None], [None]),
    ],
)
def test_q_values_are_benjamini_hochberg_over_the_tests_that_ran(p: list[Any], q: list[Any]) -> None:
    assert q_values(p) == pytest.approx(q)


# -- features --------------------------------------------------------------------------------------------


def reel(pid: str, account: str = "a", ratio: float = 1.0, label: str = "not_viral", **kw: Any) -> dict:
    return dict(post_id=pid, username=account, viral_ratio=ratio, virality_label=label) | kw


def analysis(pid: str, analyzer: str = "gemini", model: str = "m1", **fields: Any) -> dict:
    at = fields.pop("analyzed_at", T)
    status = fields.pop("status", "ok")
    return dict(post_id=pid, analyzer=analyzer, model=model, status=status, analyzed_at=at, **fields)


def by_id(table: Any) -> dict[str, Any]:
    return {c.insight_id: c for c in table.candidates}


def test_fields_merge_across_analyzers_with_provenance() -> None:
    reels = [reel(f"p{i}") for i in range(4)]
    rows = [
        analysis("p0", format="pov", has_audio=True, analyzed_at=datetime(2026, 1, 1, tzinfo=UTC)),
        analysis("p0", model="m2", format="skit"),  # newer answer of the same analyzer wins
        analysis("p0", analyzer="local", model="cv", has_audio=False, cuts_per_s=1.0),
        analysis("p1", format="pov"),
        analysis("p1", analyzer="local", model="cv", has_audio=False, cuts_per_s=0.2),
        analysis("p2", analyzer="local", model="cv", has_audio=True, cuts_per_s=0.1),
        analysis("p3", format="skit", status="failed"),  # a failed row says nothing
    ]
    c = by_id(feature_table(reels, rows, min_reels=1))
    assert list(c["format=skit"].values[:2]) == [1.0, 0.0] and np.isnan(c["format=skit"].values[2:]).all()
    assert math.isnan(c["format=pov"].values[2])  # the local analyzer does not know the format
    assert c["format=pov"].sources == ("gemini/m1", "gemini/m2")
    # has_audio: the model's answer for p0, the local measurements elsewhere
    assert list(c["has_audio"].values[:3]) == [1.0, 0.0, 1.0] and c["has_audio"].sources == (
        "gemini/m1",
        "local/cv",
    )
    assert c["cuts_per_s"].threshold == pytest.approx(0.2) and list(c["cuts_per_s"].values[:3]) == [1, 0, 0]


def test_empty_text_or_list_means_none_only_for_an_analyzer_that_fills_it() -> None:
    reels = [reel(f"p{i}") for i in range(4)]
    rows = [
        analysis("p0", on_screen_text="WAIT FOR IT!", cat_behaviours=["Zooming"]),
        analysis("p1", on_screen_text="wait for it", cat_behaviours=["zooming", "loafing"]),
        analysis("p2", on_screen_text=None, cat_behaviours=[]),
        analysis("p3", analyzer="local", model="cv", cuts_per_s=1.0),  # knows nothing of either
    ]
    c = by_id(feature_table(reels, rows, min_reels=2))
    assert list(c["on_screen_text"].values[:3]) == [1, 1, 0] and math.isnan(c["on_screen_text"].values[3])
    assert list(c["on_screen_text=wait for it"].values[:3]) == [1, 1, 0]  # normalised: one level
    assert list(c["cat_behaviours=zooming"].values[:3]) == [1, 1, 0]
    assert "cat_behaviours=loafing" not in c  # one reel: not frequent enough to test


def test_the_reels_own_metadata_are_features() -> None:
    reels = [
        reel(
            "p0",
            caption="hi",
            hashtags=["Fyp", "cats"],
            music="me - Original audio",
            posted_at=T,
            duration_s=9.0,
        ),
        reel("p1", caption="hello there", hashtags=["fyp"], music="DJ Tabby - Night Zoomies", posted_at=T),
        reel("p2", caption="", hashtags=[], music=None, posted_at=datetime(2026, 11, 20, 20, tzinfo=UTC)),
    ]
    c = by_id(feature_table(reels, [], min_reels=2))
    assert list(c["hashtag=fyp"].values) == [1, 1, 0] and "hashtag=cats" not in c
    assert list(c["original_audio"].values[:2]) == [1, 0] and math.isnan(c["original_audio"].values[2])
    assert list(c["caption_length"].values) == [0, 1, 0] and c["caption_length"].threshold == 2
    assert list(c["posted_weekday=Monday"].values) == [1, 1, 0]  # 2026-11-16 is a Monday
    assert list(c["posted_hour_utc=18:00–23:59"].values) == [0, 0, 1]
    assert c["hashtag_count"].sources == ("reel",)
    assert "duration_s" not in c  # one known value: no contrast


def test_a_field_added_to_the_schema_is_tested_without_touching_the_insights_code() -> None:
    schema = create_model(
        "Wider",
        __base__=VideoAnalysis,
        has_subtitles=(bool | None, None),
        camera=(Literal["phone", "dslr"] | None, None),
    )
    reels = [reel(f"p{i}") for i in range(4)]
    rows = [
        analysis(f"p{i}", has_subtitles=i % 2 == 0, camera="phone" if i < 2 else "dslr") for i in range(4)
    ]
    c = by_id(feature_table(reels, rows, min_reels=1, schema=schema))
    assert list(c["has_subtitles"].values) == [1, 0, 1, 0] and list(c["camera=dslr"].values) == [0, 0, 1, 1]


def test_only_matured_scored_reels_take_part_and_the_model_s_own_verdict_is_not_a_feature() -> None:
    reels = [reel("p0", label="viral", ratio=5.0), reel("p1", ratio=0.0), reel("p2", label="pending")]
    reels.append(reel("p3", label="out_of_window", ratio=None))
    rows = [analysis(p, virality_hypothesis="goes viral" if p == "p0" else "flops") for p in ("p0", "p1")]
    table = feature_table(reels, rows, min_reels=1)
    assert table.post_ids == ("p0", "p1") and list(table.viral) == [True, False]
    assert table.lift[1] == pytest.approx(math.log(0.01))  # zero views: 1% of usual, not log(0)
    assert not any(c.feature == "virality_hypothesis" for c in table.candidates)


# -- findings --------------------------------------------------------------------------------------------


def run(scenario: Any, seed: int = 0, settings: InsightsSettings = FAST, **kw: Any) -> dict[str, Insight]:
    reels, rows = simulate(scenario, seed=seed, **kw)
    table = feature_table(reels, rows, min_reels=settings.min_reels)
    found = findings(table, settings, run_id="r1", now=T, fingerprint=input_fingerprint(table, settings))
    return {i.insight_id: i for i in found}


def test_a_planted_effect_is_supported_with_readable_numbers() -> None:
    found = run("planted", accounts=20, reels=25)
    people = found["people_present"]
    assert people.supported and people.verdict == "supported"
    assert people.q_value is not None and people.q_value <= 0.10
    assert people.lift == pytest.approx(math.exp(people.effect or 0)) and 1.5 < (people.lift or 0) < 2.7
    assert people.ci_low is not None and people.ci_high is not None and 0 < people.ci_low < people.ci_high
    assert people.accounts_same_sign >= 2 and people.accounts_with_both == 20
    assert people.viral_share_with is not None and people.viral_share_without is not None
    assert people.viral_share_with > people.viral_share_without
    assert people.sources == ["gemini/gemini-3.8-flash"] and people.method == "within_account_v2"
    assert 2 <= len(people.example_post_ids) <= 3
    assert people.statement.startswith("Reels with a person in them get ")
    assert "the views of the same accounts' other reels" in people.statement and "q = " in people.statement


def test_a_confounder_between_accounts_is_not_supported() -> None:
    found = run("confounded", accounts=20, reels=25)
    assert not found["emotional_tone=dramatic"].supported


def test_below_the_minimum_support_a_row_says_not_enough_data() -> None:
    found = run("planted", accounts=3, reels=6, settings=InsightsSettings(bootstrap=200, min_reels=5))
    thin = [i for i in found.values() if i.verdict == "not_enough_data"]
    assert thin and all(not i.supported and i.p_value is None and i.q_value is None for i in thin)
    assert all(i.statement.startswith("Not enough data on ") for i in thin)


def test_supported_needs_the_sign_in_enough_accounts() -> None:
    strict = InsightsSettings(bootstrap=500, min_same_sign=25)  # more accounts than there are
    assert not run("planted", accounts=20, reels=25, settings=strict)["people_present"].supported


def test_the_same_inputs_give_the_same_findings_in_any_order() -> None:
    reels, rows = simulate("planted", accounts=8, reels=12, seed=4)
    first = feature_table(reels, rows, min_reels=5)
    again = feature_table(list(reversed(reels)), list(reversed(rows)), min_reels=5)
    fp = input_fingerprint(first, FAST)
    assert fp == input_fingerprint(again, FAST)
    assert findings(first, FAST, run_id="r", now=T, fingerprint=fp) == findings(
        again, FAST, run_id="r", now=T, fingerprint=fp
    )
    changed = [dict(r) for r in reels]
    changed[0]["viral_ratio"] *= 2
    assert input_fingerprint(feature_table(changed, rows, min_reels=5), FAST) != fp
    assert input_fingerprint(first, InsightsSettings(fdr=0.05)) != fp


def test_rows_are_ranked_and_read_back_unchanged() -> None:
    found = list(run("planted", accounts=10, reels=15).values())
    verdicts = [i.verdict for i in sorted(found, key=rank_key)]
    order = {"supported": 0, "not_supported": 1, "not_enough_data": 2}
    assert verdicts == sorted(verdicts, key=order.__getitem__)
    for insight in found:
        assert from_row(as_row(insight)) == insight
        assert rank_key(as_row(insight)) == rank_key(insight)
