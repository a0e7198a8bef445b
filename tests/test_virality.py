from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reels.config import LabelSettings
from reels.records import Reel
from reels.virality import MedianRatioRule

T = datetime(2026, 11, 16, tzinfo=UTC)


def reel(post_id: str, views: int | None, user: str = "a", **kw: object) -> Reel:
    base = Reel(
        post_id,
        f"https://www.instagram.com/reel/{post_id}/",
        user,
        "",
        [],
        T - timedelta(days=10),
        T,
        views,
        "videoPlayCount" if views is not None else None,
        100,
        10,
        5.0,
        None,
        None,
        False,
        None,
        "clips",
        "test",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def labels(reels: list[Reel], **settings: object) -> dict[str, tuple[str, str | None]]:
    rule = MedianRatioRule(LabelSettings(**settings))  # type: ignore[arg-type]
    return {lab.post_id: (lab.virality_label, lab.virality_tier) for lab in rule.labels(reels)}


def test_views_against_the_median_of_the_other_reels() -> None:
    account = [reel(f"p{i}", 10_000) for i in range(5)] + [reel("hit", 40_000), reel("big", 120_000)]
    got = labels(account)
    assert got["hit"] == ("viral", "outlier")
    assert got["big"] == ("viral", "breakout")
    assert got["p0"] == ("not_viral", None)


def test_small_numbers_need_the_view_floor() -> None:
    account = [reel(f"p{i}", 100) for i in range(5)] + [reel("hit", 900)]
    assert labels(account)["hit"] == ("not_viral", None)


def test_missing_views_and_thin_history_are_insufficient() -> None:
    got = labels([reel("a1", None), reel("a2", 1000), reel("a3", 5000)])
    assert got == {k: ("insufficient_data", None) for k in ("a1", "a2", "a3")}


def test_pinned_reels_stay_out_of_the_baseline_and_accounts_do_not_mix() -> None:
    account = [reel(f"p{i}", 10_000) for i in range(5)] + [reel("hit", 40_000)]
    pinned = reel("pin", 5_000_000, is_pinned=True)
    other = [reel(f"o{i}", 1_000_000, user="b") for i in range(5)]
    assert labels([*account, pinned, *other])["hit"] == labels(account)["hit"] == ("viral", "outlier")


def test_view_fields_are_never_mixed() -> None:
    plays = [reel(f"p{i}", 100_000) for i in range(5)]
    views = [reel(f"v{i}", 5_000, views_field="videoViewCount") for i in range(3)] + [
        reel("vhit", 20_000, views_field="videoViewCount")
    ]
    assert labels(plays + views)["vhit"] == ("viral", "outlier")


@pytest.mark.parametrize("factor", [1, 7, 1000])
def test_scaling_an_account_keeps_its_labels(factor: int) -> None:
    account = [reel(f"p{i}", v * 10) for i, v in enumerate([120, 90, 300, 110, 2000, 95, 130])]
    scaled = [replace(r, views=r.views * factor) for r in account]  # type: ignore[operator]
    assert labels(scaled) == labels(account)


def test_engagement_rate_is_unknown_when_likes_are_hidden() -> None:
    rule = MedianRatioRule(LabelSettings())
    hidden, shown = rule.labels([reel("h", 1000, likes=None), reel("s", 1000)])
    assert hidden.engagement_rate is None
    assert shown.engagement_rate == pytest.approx(0.11)
