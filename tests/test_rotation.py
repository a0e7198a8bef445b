"""The accounts policy as pure logic: cat signals, scores and exclusions, and the weekly rotation plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reels.accounts import candidates, scoring
from reels.accounts.rotation import Performance, plan
from reels.config import AccountsSettings
from reels.records import Account, AccountSnapshot, HashtagPost
from reels.sources.profiles import parse_profiles

NOW = datetime(2026, 12, 7, 6, tzinfo=UTC)
S = AccountsSettings(explore_slots=2)


def snap(name: str = "a", **kw: object) -> AccountSnapshot:
    values: dict[str, object] = dict(
        followers=20_000, recent_posts=12, recent_reels=9, median_recent_views=8_000.0,
        last_post_at=NOW - timedelta(days=2), posts_per_week=3.0,
        recent_texts=["cats of the house 🐱", "Zoomies #catreels", "Loaf", "#kittensofinstagram nap"],
    )  # fmt: skip
    return AccountSnapshot(name, NOW, str(kw.pop("status", "ok")), None, "apify:R1", "r", **(values | kw))  # type: ignore[arg-type]


def account(name: str, status: str, **kw: object) -> Account:
    return Account(name, status, "file", NOW - timedelta(weeks=20), "listed", NOW - timedelta(weeks=1), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "cat"),
    [
        ("Zoomies #catreels", True),
        ("#kittensofinstagram nap", True),
        ("a cat, again", True),
        ("Sunbeam 😺", True),
        ("concatenate the educated category", False),
        ("#dogsofinstagram", False),
    ],
)
def test_cat_words_are_words_hashtag_starts_or_emoji(text: str, cat: bool) -> None:
    assert scoring.signals(snap(recent_texts=[text]), S, NOW).cat_share == (1.0 if cat else 0.0)


def test_the_score_weighs_cat_share_by_size_reach_cadence_and_reels() -> None:
    found = scoring.signals(snap(), S, NOW)
    assert found.cat_share == 0.75 and found.reels_share == 0.75
    size = 0.3 * (4.30103 / 6)  # log10(20,000) / 6
    assert scoring.score(found) == pytest.approx(0.75 * (size + 0.3 * 0.4 + 0.2 * 1.0 + 0.2 * 0.75), abs=1e-4)
    tried = scoring.with_trial(found, [30_000, 10_000, 50_000])
    assert (
        tried.median_views == 30_000
        and tried.trial_reels == 3
        and scoring.score(tried) > scoring.score(found)
    )


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"status": "not_found"}, "not_found"),
        ({"status": "private", "private": True}, "private account"),
        ({"last_post_at": NOW - timedelta(days=45)}, "inactive: last post 45 days ago (> 30)"),
        ({"last_post_at": None}, "inactive: no posts"),
        ({"followers": 999}, "too small: 999 followers (< 1,000)"),
        ({"recent_texts": ["dogs", "more dogs", "a park"]}, "not a cat account: 0 of 3"),
        ({"status": "error"}, None),  # a failed scrape excludes nothing
        ({}, None),
    ],
)
def test_exclusions_say_why(kw: dict[str, object], reason: str | None) -> None:
    s = snap(**kw)
    got = scoring.exclusion(s, scoring.signals(s, S, NOW), S)
    assert (got is None) if reason is None else (got is not None and got.startswith(reason))


def test_candidates_keep_their_origin_and_known_accounts_are_not_new() -> None:
    related = candidates.related([snap("loafmode", related=["purrfect", "loafmode2"])])
    mentions = [("loafmode", "with @Purrfect and @tabby.town."), ("tabby.town", "@tabby.town")]
    posts = [HashtagPost("catreels", "p1", "kit", 10, None), HashtagPost("catvideos", "p2", "kit", 900, None)]
    # As discover merges them: related profiles first, then mentions, then hashtags.
    found = candidates.hashtag_owners(posts) | candidates.mentioned(mentions) | related
    assert found == {
        "purrfect": "related:loafmode",
        "loafmode2": "related:loafmode",
        "tabby.town": "mention:loafmode",
        "kit": "hashtag:#catvideos",  # its most viewed post's tag
    }
    new = candidates.new_candidates(found, {"loafmode2"}, NOW)
    assert [a.username for a in new] == ["kit", "purrfect", "tabby.town"]
    assert {a.status for a in new} == {"candidate"}


def perf(reels: int = 20, viral: int = 0, median: float = 10_000.0, days_ago: float = 1.0) -> Performance:
    return Performance(reels, viral, median, NOW - timedelta(days=days_ago))


def test_rotation_fills_free_slots_with_the_best_candidates() -> None:
    rows = [
        account("core1", "core"),
        account("x1", "explore", rotated_in_at=NOW - timedelta(weeks=1)),
        account("c1", "candidate", score=0.4),
        account("c2", "candidate", score=0.7),
        account("c3", "candidate", score=None),  # not scored yet: not eligible
    ]
    changes, updated = plan(rows, {}, {"core1": perf(), "x1": perf()}, S, NOW)
    assert [c.line() for c in changes] == ["c2: candidate → explore: rotated in: score 0.70, found as file"]
    assert {a.username: a.status for a in updated} == {"c2": "explore", "core1": "core", "x1": "explore"}
    assert {a.username: a.median_views for a in updated if a.username != "c2"} == {
        "core1": 10_000,
        "x1": 10_000,
    }


def test_rotation_retires_gone_private_and_silent_accounts_core_included() -> None:
    rows = [
        account("gone", "core"),
        account("shy", "core"),
        account("quiet", "explore"),
        account("fine", "core"),
    ]
    snaps = {"gone": snap("gone", status="not_found"), "shy": snap("shy", status="private", private=True)}
    performance = {"quiet": perf(days_ago=40), "fine": perf(), "gone": perf(), "shy": perf()}
    changes, _ = plan(rows, snaps, performance, replace(S, explore_slots=0), NOW)
    reasons = {c.username: (c.new, c.reason.split(":")[0]) for c in changes}
    assert reasons == {
        "gone": ("retired", "not_found"),
        "shy": ("retired", "went private"),
        "quiet": ("retired", "stopped posting"),
    }


def test_an_explore_account_below_the_bar_long_enough_is_retired_a_core_one_kept() -> None:
    since = NOW - timedelta(weeks=5)
    rows = [
        account("low", "explore", rotated_in_at=NOW - timedelta(weeks=6), below_bar_since=since),
        account("lowcore", "core", below_bar_since=since),
        account("new_low", "explore", rotated_in_at=NOW - timedelta(weeks=1)),
        account("ok", "core"),
    ]
    performance = {"low": perf(median=1_000), "lowcore": perf(median=1_000), "new_low": perf(median=1_000)}
    performance |= {name: perf(median=20_000) for name in ("ok", "ok2", "ok3", "ok4")}  # niche: 20,000
    changes, updated = plan(rows, {}, performance, replace(S, explore_slots=0), NOW)
    assert [(c.username, c.new) for c in changes] == [("low", "retired")]
    assert changes[0].reason.startswith("below the bar for 5 weeks: median views 1,000")
    by_name = {a.username: a for a in updated}
    assert by_name["new_low"].below_bar_since == NOW  # the clock starts now: retired only after 4 weeks
    assert "lowcore" not in by_name or by_name["lowcore"].status == "core"


def test_an_explore_account_whose_reels_perform_is_promoted_after_its_weeks() -> None:
    rows = [
        account("star", "explore", rotated_in_at=NOW - timedelta(weeks=5)),
        account("early", "explore", rotated_in_at=NOW - timedelta(weeks=2)),
    ]
    performance = {"star": perf(reels=20, viral=3), "early": perf(reels=20, viral=5)}
    changes, _ = plan(rows, {}, performance, replace(S, explore_slots=0), NOW)
    assert [c.line() for c in changes] == [
        "star: explore → core: promoted: 3 of its 20 scored reels went viral (15% ≥ 5%) in 5 weeks"
    ]


def test_a_second_plan_in_the_same_week_changes_nothing() -> None:
    rows = [account("core1", "core"), account("c1", "candidate", score=0.5)]
    _, updated = plan(rows, {}, {"core1": perf()}, S, NOW)
    after = {a.username: a for a in rows} | {a.username: a for a in updated}
    changes, again = plan(list(after.values()), {}, {"core1": perf()}, S, NOW)
    assert changes == [] and again == []


PROFILE_KEYS = [
    "username", "fullName", "biography", "followersCount", "followsCount", "postsCount", "verified",
    "private", "isBusinessAccount", "businessCategoryName", "relatedProfiles", "latestPosts", "error",
    "errorDescription", "inputUrl",
]  # fmt: skip
POST_KEYS = ["shortCode", "ownerUsername", "caption", "hashtags", "timestamp", "videoViewCount", "type"]
ODD = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "\ud800",
            "not_found",
            "no_items",
            "2026-11-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "loafmode",
            "../x",
        ]
    )
)
POSTS = st.lists(st.dictionaries(st.sampled_from(POST_KEYS), ODD, max_size=7) | ODD, max_size=4)
PROFILE_ITEMS = st.lists(
    st.fixed_dictionaries(
        {}, optional={k: POSTS if k in ("latestPosts", "relatedProfiles") else ODD for k in PROFILE_KEYS}
    )
    | ODD,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(items=PROFILE_ITEMS)
def test_every_asked_profile_ends_as_one_snapshot_and_no_item_breaks_the_batch(items: list[object]) -> None:
    asked = ["loafmode", "purrfect"]
    batch = parse_profiles(items, asked=asked, source="apify:R1", scraped_at=NOW, run_id="r")
    names = [s.username for s in batch.snapshots]
    assert len(names) == len(set(names)) and set(asked) <= set(names)
    assert {s.status for s in batch.snapshots} <= {"ok", "private", "not_found", "error"}
    assert len(batch.snapshots) + len(batch.quarantine) >= len(asked)
    for snap in batch.snapshots:
        found = scoring.signals(snap, S, NOW)  # whatever was read, the signals and score are computable
        assert 0 <= scoring.score(found) <= 1
        scoring.exclusion(snap, found, S)
