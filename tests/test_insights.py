import random
from datetime import UTC, datetime
from typing import Any

import pytest

from reels.analysis.schema import COMPARABLE_FEATURES
from reels.insights import MIN_GROUP, feature_insights, from_row, input_fingerprint, rank_key
from reels.records import Insight, as_row

T = datetime(2026, 11, 16, 6, tzinfo=UTC)


def row(post_id: str, label: str, **features: Any) -> dict[str, Any]:
    base = dict.fromkeys(COMPARABLE_FEATURES) | dict(post_id=post_id, username="whiskerdiaries", views=10_000)
    return base | dict(virality_label=label, viral_ratio=None) | features


def planted(n_viral: int = 9, n_other: int = 40, seed: int = 7) -> list[dict[str, Any]]:
    """Viral reels cut twice as often and show more cats; brightness is drawn the same for both groups."""
    rnd = random.Random(seed)
    viral = [
        row(
            f"v{i:02}",
            "viral",
            cuts_per_s=1.0 + rnd.random() * 0.4,
            brightness=rnd.random(),
            cat_visible=i % 9 != 0,
            cat_frame_share=0.7 + rnd.random() * 0.2,
        )
        for i in range(n_viral)
    ]
    other = [
        row(
            f"o{i:02}",
            "not_viral",
            cuts_per_s=0.3 + rnd.random() * 0.4,
            brightness=rnd.random(),
            cat_visible=i % 2 == 0,
            cat_frame_share=0.3 + rnd.random() * 0.3,
        )
        for i in range(n_other)
    ]
    return viral + other


def run(rows: list[dict[str, Any]], **kw: Any) -> dict[str, Insight]:
    return {i.feature: i for i in feature_insights(rows, run_id="r1", now=T, **kw)}


def test_a_planted_difference_is_supported_with_its_numbers() -> None:
    cuts = run(planted())["cuts_per_s"]
    assert cuts.supported and cuts.difference is not None and cuts.difference > 0.5
    assert (
        cuts.ci_low is not None
        and cuts.ci_high is not None
        and 0 < cuts.ci_low < cuts.difference < cuts.ci_high
    )
    assert cuts.effect_size is not None and cuts.effect_size > 2
    assert cuts.p_value is not None and cuts.p_value < 0.01
    assert (cuts.n_viral, cuts.n_other) == (9, 40)
    assert cuts.insight_id == "feature:cuts_per_s" and cuts.run_id == "r1" and cuts.created_at == T
    assert cuts.statement.startswith("Viral reels average 1.")
    assert "cuts per second" in cuts.statement and "9 viral vs 40 other reels" in cuts.statement
    assert len(cuts.example_post_ids) == 3 and all(p.startswith("v") for p in cuts.example_post_ids)


@pytest.mark.parametrize(
    ("feature", "values"),
    [("shot_count", [3, 5, 7, 9]), ("cat_frame_share", [0.8]), ("first_cut_s", [0.1, 0.7, 0.7])],
)
def test_the_same_distribution_is_not_supported_and_says_so(feature: str, values: list[float]) -> None:
    rows = [row(f"v{i}", "viral", **{feature: x}) for i, x in enumerate(values * 3)]
    rows += [row(f"o{i}", "not_viral", **{feature: x}) for i, x in enumerate(values * 7)]
    same = run(rows)[feature]
    assert not same.supported and same.difference == 0 and same.effect_size == 0
    assert same.ci_low is not None and same.ci_high is not None and same.ci_low <= 0 <= same.ci_high
    assert same.statement.startswith("No clear difference in ")


def test_booleans_and_shares_read_as_percentages() -> None:
    found = run(planted())
    cat = found["cat_visible"]
    assert cat.viral_value == pytest.approx(100 * 8 / 9) and cat.other_value == pytest.approx(50)
    assert cat.difference == pytest.approx(100 * 8 / 9 - 50)
    assert cat.statement.startswith("A cat is seen in 89% of viral reels vs 50% of others (+39 pts, 95% CI +")
    share = found["cat_frame_share"]
    assert share.viral_value is not None and 70 <= share.viral_value <= 90
    assert "% of frames" in share.statement and "pts" in share.statement


def test_supported_come_first_then_the_larger_effects() -> None:
    found = feature_insights(planted(), run_id="r1", now=T)
    assert [i.supported for i in found] == sorted((i.supported for i in found), reverse=True)
    assert found == sorted(found, key=rank_key)
    supported = [abs(i.effect_size or 0) for i in found if i.supported]
    assert len(supported) >= 2 and supported == sorted(supported, reverse=True)


def test_same_input_same_output_whatever_the_order() -> None:
    rows = planted()
    first = feature_insights(rows, run_id="r1", now=T)
    again = feature_insights(list(reversed(rows)), run_id="r1", now=T)
    assert first == again
    assert input_fingerprint(rows) == input_fingerprint(list(reversed(rows))) == first[0].input_fingerprint


@pytest.mark.parametrize(
    ("index", "change", "same"),
    [
        (0, {"views": 99, "viral_ratio": 7.0}, True),  # not inputs of the comparison
        (-1, {"cuts_per_s": 3.0}, True),  # the last row is pending: ignored
        (0, {"cuts_per_s": 9.0}, False),
        (0, {"cat_visible": None}, False),
        (-1, {"virality_label": "viral"}, False),
    ],
)
def test_the_fingerprint_moves_only_with_the_inputs(index: int, change: dict[str, Any], same: bool) -> None:
    rows = [*planted(), row("p1", "pending", cuts_per_s=2.0)]
    changed = list(rows)
    changed[index] = changed[index] | change
    assert (input_fingerprint(changed) == input_fingerprint(rows)) is same


@pytest.mark.parametrize(("n_viral", "n_other"), [(MIN_GROUP - 1, 40), (9, MIN_GROUP - 1), (0, 0)])
def test_too_few_reels_in_a_group_give_nothing(n_viral: int, n_other: int) -> None:
    assert feature_insights(planted(n_viral, n_other), run_id="r1", now=T) == []


def test_unknown_values_are_skipped_per_feature() -> None:
    rows = planted()
    rows[0] = rows[0] | {"cuts_per_s": None}
    rows[-1] = rows[-1] | {"cuts_per_s": float("nan")}
    found = run(rows)
    assert (found["cuts_per_s"].n_viral, found["cuts_per_s"].n_other) == (8, 39)
    assert "v00" not in found["cuts_per_s"].example_post_ids
    assert "duration_s" not in found  # never measured: no comparison


def test_a_feature_below_min_group_is_left_out() -> None:
    rows = planted()
    rows = [
        r | {"loudness_db": -20.0} if r["post_id"] in {"v00", "v01", "o00", "o01", "o02"} else r for r in rows
    ]
    assert "loudness_db" not in run(rows)
    assert "loudness_db" in run(rows, min_group=2)


def test_other_labels_are_ignored() -> None:
    rows = planted()
    extra = [row(f"x{i}", label, cuts_per_s=50.0) for i, label in enumerate(["pending", "insufficient_data"])]
    assert run(rows) == run(rows + extra)


def test_a_stored_row_reads_back_as_the_same_insight() -> None:
    for insight in feature_insights(planted(), run_id="r1", now=T):
        assert from_row(as_row(insight)) == insight
        assert rank_key(as_row(insight)) == rank_key(insight)
