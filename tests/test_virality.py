"""The default virality rule on small hand-made accounts: each label, its numbers, and its reason."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reels.config import LabelSettings
from reels.errors import ConfigError
from reels.label.virality import (
    MeanLastNRule,
    MedianRatioRule,
    Post,
    TopPercentRule,
    ViralityLabel,
    latest_metrics,
    rule_for,
)
from reels.records import Label, Reel
from reels.report.render import _parse_method
from reels.storage.tables import REEL_SNAPSHOTS, REELS, to_arrow
from tests.factories import make_reel

T = datetime(2026, 11, 16, tzinfo=UTC)


def reel(post_id: str, views: int | None, user: str = "a", age: float = 10, **kw: object) -> Reel:
    defaults: dict[str, object] = dict(likes=100, comments=10, duration_s=5.0)
    return make_reel(
        post_id,
        url=f"https://www.instagram.com/reel/{post_id}/",
        username=user,
        posted_at=T - timedelta(days=age),
        scraped_at=T,
        views=views,
        **defaults | kw,
    )


def history(user: str = "a", level: int = 10_000, n: int = 10) -> list[Reel]:
    """n matured reels around `level` views (±20 %), one every two days from 8 days old."""
    return [reel(f"{user}{i}", level * (8 + i % 5) // 10, user, age=8 + 2 * i) for i in range(n)]


def by_id(reels: list[Reel], **settings: object) -> dict[str, Label]:
    rule = MedianRatioRule(LabelSettings(**settings))  # type: ignore[arg-type]
    return {lab.post_id: lab for lab in rule.labels(reels)}


def verdict(reels: list[Reel], post_id: str, **settings: object) -> tuple[str, str | None]:
    lab = by_id(reels, **settings)[post_id]
    return lab.virality_label, lab.virality_tier


@pytest.mark.parametrize(
    ("views", "expected"),
    [
        (25_000, ("not_viral", None)),  # 2.5×: under the ratio
        (40_000, ("viral", "outlier")),
        (60_000, ("viral", "strong")),
        (150_000, ("viral", "breakout")),
    ],
)
def test_tiers_by_ratio_to_the_account_median(views: int, expected: tuple[str, str | None]) -> None:
    assert verdict([*history(), reel("hit", views, age=12)], "hit") == expected


def test_a_volatile_account_needs_more_than_three_times() -> None:
    swings = [3_000, 30_000, 5_000, 20_000, 8_000, 40_000, 10_000, 2_000, 15_000, 60_000]
    account = [reel(f"a{i}", v, age=8 + 2 * i) for i, v in enumerate(swings)]
    lab = by_id([*account, reel("hit", 40_000, age=12)])["hit"]
    assert lab.viral_ratio is not None and lab.viral_ratio > 3
    assert lab.robust_z is not None and lab.robust_z < 2
    assert lab.virality_label == "not_viral"


def test_small_numbers_need_the_view_floor() -> None:
    assert verdict([*history(level=100), reel("hit", 900, age=12)], "hit") == ("not_viral", None)


def test_young_reels_are_viral_when_already_clear_else_pending() -> None:
    account = [*history(), reel("fast", 200_000, age=2), reel("slow", 3_000, age=2)]
    got = by_id(account)
    assert (got["fast"].virality_label, got["fast"].virality_tier) == ("viral", "breakout")
    assert got["slow"].virality_label == "pending"
    assert "pending until 7 days old" in got["slow"].virality_reason


def test_a_pending_reel_is_rescored_when_a_later_scrape_sees_it_matured() -> None:
    young = reel("r", 5_000, age=3)
    assert verdict([*history(), young], "r") == ("pending", None)
    later = replace(young, views=45_000, scraped_at=young.scraped_at + timedelta(days=7))
    assert verdict([*history(), later], "r") == ("viral", "outlier")


def test_missing_zero_thin_and_old_reels() -> None:
    got = by_id(
        [
            *history(n=10),
            reel("missing", None),
            reel("zero", 0, age=3),
            reel("old", 50_000, age=60),
            *history("tiny", n=2),
        ],
        min_pooled=50,  # no pool to lean on
    )
    assert got["missing"].virality_label == "insufficient_data"
    assert got["missing"].viral_ratio is None and got["missing"].robust_z is None
    assert got["zero"].virality_label == "insufficient_data" and "0 views" in got["zero"].virality_reason
    assert got["old"].virality_label == "out_of_window" and "35-day" in got["old"].virality_reason
    assert got["tiny0"].virality_label == "insufficient_data"
    assert "Only 1 matured reels of @tiny" in got["tiny0"].virality_reason


def test_zero_views_on_the_first_day_is_a_real_number() -> None:
    assert by_id([*history(), reel("new", 0, age=0.5)])["new"].virality_label == "pending"


def test_the_baseline_never_holds_the_reel_itself() -> None:
    # Ten reels at 10k and one at 100k: the hit's baseline is the ten others, so ratio is exactly 10.
    account = [reel(f"p{i}", 10_000, age=8 + i) for i in range(10)] + [reel("hit", 100_000, age=9.5)]
    lab = by_id(account)["hit"]
    assert lab.baseline_n == 10 and lab.baseline_views == 10_000 and lab.viral_ratio == pytest.approx(10)
    assert by_id(account)["p0"].baseline_n == 10  # ten others: nine at 10k and the hit


def test_only_the_most_recent_matured_reels_form_the_baseline() -> None:
    recent = [reel(f"r{i}", 10_000, age=8 + i) for i in range(4)]
    older = [reel(f"o{i}", 1_000, age=20 + i) for i in range(4)]
    got = by_id([*recent, *older, reel("new", 40_000, age=2)], baseline_reels=4, min_baseline=3)
    assert got["new"].baseline_views == 10_000 and got["new"].baseline_n == 4
    # r0 is in the set: its baseline is the other three recent ones plus the next most recent (1k, 10k).
    assert got["r0"].baseline_n == 4 and got["r0"].baseline_views == 10_000


def test_pinned_and_non_reel_posts_stay_out_of_the_baseline() -> None:
    base = [*history(), reel("hit", 40_000, age=12)]
    extra = [
        reel("pin", 5_000_000, age=9, is_pinned=True),
        reel("feed", 9_000_000, age=9, product_type="igtv"),
    ]
    assert by_id([*base, *extra])["hit"] == by_id(base)["hit"]


def test_view_fields_are_never_mixed() -> None:
    plays = history(level=100_000)
    views = [replace(r, post_id=f"v{r.post_id}", views_field="videoViewCount") for r in history(level=5_000)]
    hit = reel("vhit", 20_000, age=12, views_field="videoViewCount")
    lab = by_id([*plays, *views, hit])["vhit"]
    assert (lab.virality_label, lab.baseline_n) == ("viral", 10)


def test_small_accounts_lean_on_the_pool_as_much_as_accounts_are_alike() -> None:
    # Without followers the pool is raw views, whose levels differ between accounts (5k, 10k, 20k here):
    # the empirical-Bayes weight n / (n + σ²/τ²) then keeps a small account close to its own level.
    others = [r for u, level in zip("bcd", (5_000, 10_000, 20_000), strict=True) for r in history(u, level)]
    small = [reel(f"s{i}", 1_000 * (1 + i % 2), "small", age=8 + i) for i in range(4)]
    got = by_id([*others, *small, reel("shot", 20_000, "small", age=12)])
    assert re.fullmatch(r"shrunk\(n=4,w=0\.9\d,pool=views\)", got["shot"].baseline_source or "")
    assert (got["shot"].virality_label, got["shot"].virality_tier) == ("viral", "breakout")
    # A big newcomer's ordinary reel is not viral just because the niche is smaller.
    big = [reel(f"big{i}", 1_000_000, "big", age=8 + i) for i in range(3)]
    assert by_id([*others, *big])["big0"].virality_label == "not_viral"
    # Alike accounts (τ = 0): lean on the pool entirely.
    alike = [r for u in "bcd" for r in history(u, level=10_000)]
    assert by_id([*alike, *small])["s0"].baseline_source == "shrunk(n=3,w=0.00,pool=views)"
    # No reel of its own: the niche median and the niche's whole spread.
    alone = by_id([reel("only", 20_000, "new", age=12), *others])["only"]
    assert (alone.baseline_source, alone.baseline_n, alone.virality_label) == (
        "pooled(pool=views)",
        0,
        "not_viral",
    )
    assert "all tracked accounts' views median; @new has none yet" in alone.virality_reason


def test_followers_re_centre_the_pool_and_give_views_per_follower() -> None:
    others = [r for u in "bcd" for r in history(u, level=10_000)]
    rule = MedianRatioRule(LabelSettings())
    followers = {"b": 100_000, "c": 100_000, "d": 100_000, "big": 1_000_000}
    labs = {lab.post_id: lab for lab in rule.labels([*others, reel("x", 40_000, "big")], followers)}
    x = labs["x"]
    assert isinstance(x, ViralityLabel)
    assert x.baseline_source == "pooled(pool=followers)"
    assert x.baseline_views == pytest.approx(100_000, rel=0.15)  # 10× the followers, 10× the pool's level
    assert x.views_per_follower == pytest.approx(0.04)
    assert x.virality_label == "not_viral"  # 40k is a lot for the niche, but not for a 1M-follower account


def test_supporting_signals_never_decide() -> None:
    quiet = reel("hit", 40_000, age=12, likes=0, comments=0)
    loud = replace(quiet, likes=20_000, comments=5_000)
    assert verdict([*history(), quiet], "hit") == verdict([*history(), loud], "hit")
    lab = by_id([*history(), loud])["hit"]
    assert lab.engagement_rate == pytest.approx(0.625) and "engagement 62.5% of views" in lab.virality_reason


def test_engagement_rate_is_unknown_when_likes_are_hidden() -> None:
    labs = by_id([reel("h", 1000, likes=None), reel("s", 1000)])
    assert labs["h"].engagement_rate is None
    assert labs["s"].engagement_rate == pytest.approx(0.11)


def test_the_reason_names_views_baseline_and_ratio_in_one_sentence() -> None:
    lab = by_id([*history(), reel("hit", 60_000, age=12)])["hit"]
    assert lab.virality_reason.startswith(
        "60,000 views = 6.0× the median 10,000 of @a's 10 matured reels (own baseline), robust z"
    )
    assert lab.virality_reason.endswith(".") and ". " not in lab.virality_reason


def test_the_method_names_every_parameter_and_the_report_reads_it() -> None:
    method = MedianRatioRule(LabelSettings(ratio_min=4, min_views=5000)).method
    assert method.startswith("median_ratio_v1(") and "z>=2" in method and "age>=7d" in method
    expected = dict(median=True, ratio=4.0, min_views=5000, z=2.0, age=7.0, window=35.0, last=30)
    assert _parse_method(method) == expected


def test_thresholds_are_settings() -> None:
    account = [*history(), reel("hit", 40_000, age=12)]
    assert verdict(account, "hit", ratio_min=5, tier_strong=6) == ("not_viral", None)
    assert verdict(account, "hit", z_min=10) == ("not_viral", None)
    assert verdict(account, "hit", tier_strong=3.5) == ("viral", "strong")
    assert verdict(account, "hit", max_score_age_days=10) == ("out_of_window", None)
    young = verdict(account, "hit", min_age_days=14, min_baseline=5)
    assert young == ("viral", "outlier")  # young but already clear


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(method="magic"), "[label] method must be one of"),
        (dict(tier_strong=2), "tiers must rise"),
        (dict(top_percent=150), "top_percent must be at most 100"),
        (dict(mad_floor=0), "mad_floor must be greater than 0"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        LabelSettings(**settings)  # type: ignore[arg-type]


def test_legacy_rules_stay_selectable() -> None:
    account = [*history(), reel("hit", 40_000, age=12)]
    assert isinstance(rule_for(LabelSettings(method="mean_last_50")), MeanLastNRule)
    mean = {lab.post_id: lab for lab in rule_for(LabelSettings(method="mean_last_50")).labels(account)}
    assert mean["hit"].virality_label == "viral" and mean["hit"].virality_method.startswith("mean_last_n_v0")
    rule = rule_for(LabelSettings(method="top_percent", top_percent=20))
    assert isinstance(rule, TopPercentRule)
    engaged = [replace(r, likes=i * 100) for i, r in enumerate(account)]
    top = [lab for lab in rule.labels(engaged) if lab.virality_label == "viral"]
    assert len(top) == 2 and "ranks #1 of 11" in " ".join(lab.virality_reason for lab in top)


@pytest.mark.parametrize("method", ["median_ratio", "mean_last_50", "top_percent"])
def test_every_rule_labels_generic_posts_like_ads(method: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [
        Post("campaign", f"ad{i}", 10_000 + 100 * i, start + timedelta(days=i), 0.01 * i) for i in range(10)
    ]
    posts += [Post("campaign", "star", 90_000, start, 0.2), Post("campaign", "blank", None, None, None)]
    labels = {
        lab.post_id: lab.virality_label for lab in rule_for(LabelSettings(method=method)).post_labels(posts)
    }
    assert labels["star"] == "viral" and labels["blank"] == "insufficient_data"
    assert labels["ad0"] == "not_viral"


def test_labels_use_each_reels_newest_snapshot() -> None:
    rows = [
        {
            "post_id": "x",
            "username": "a",
            "views": 10,
            "views_field": "videoPlayCount",
            "scraped_at": T,
            "posted_at": T,
        },
        {
            "post_id": "y",
            "username": "a",
            "views": 20,
            "views_field": "videoPlayCount",
            "scraped_at": T,
            "posted_at": T,
        },
    ]
    later = T + timedelta(days=7)
    snaps = [
        {"post_id": "x", "scraped_at": T - timedelta(days=7), "views": 1, "views_field": "videoPlayCount"},
        {"post_id": "x", "scraped_at": later, "views": 99, "views_field": "videoViewCount"},
        {"post_id": "x", "scraped_at": T, "views": 10, "views_field": "videoPlayCount"},
    ]
    merged = latest_metrics(to_arrow(REELS, rows), to_arrow(REEL_SNAPSHOTS, snaps))
    assert merged.schema == REELS.schema
    assert merged.select(["post_id", "views", "views_field", "scraped_at"]).to_pylist() == [
        {"post_id": "x", "views": 99, "views_field": "videoViewCount", "scraped_at": later},
        {"post_id": "y", "views": 20, "views_field": "videoPlayCount", "scraped_at": T},
    ]
    assert latest_metrics(to_arrow(REELS, rows), REEL_SNAPSHOTS.schema.empty_table()).equals(
        to_arrow(REELS, rows)
    )
