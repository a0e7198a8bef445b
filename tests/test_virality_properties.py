"""Properties of the default rule, on random accounts (hypothesis), and agreement with a plain reading.

`oracle` is virality.md §3 written out reel by reel with `statistics.median`, no arrays: the vectorised
rule must give the same labels and numbers on every generated history.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reels.config import LabelSettings
from reels.label.virality import rule_for
from reels.records import Label, Reel

T = datetime(2026, 11, 16, tzinfo=UTC)
DAY = timedelta(days=1)
# Small numbers so that short histories reach every branch: the 31st-reel rule, shrinkage, the pool.
SMALL = LabelSettings(baseline_reels=5, min_baseline=4, min_pooled=3, lookback_days=40, shrink_k=2)
RULES = ("median_ratio", "mean_last_50", "top_percent")
FIELDS = ("videoPlayCount", "videoPlayCount", "videoPlayCount", "videoViewCount")


@st.composite
def reel_list(draw: st.DrawFn, users: str = "abc", min_views: int = 1, pinned: bool = True) -> list[Reel]:
    """Histories of up to three accounts: ages 0–50 days, some missing/zero views, pinned, other formats."""
    reels = []
    for user in users[: draw(st.integers(1, len(users)))]:
        for i in range(draw(st.integers(0, 16))):
            views = draw(
                st.one_of(
                    st.integers(1, 40).map(lambda k: max(k * 1000, min_views)),  # exact 3× ratios happen
                    st.integers(min_views, 10**7),
                    st.sampled_from([None, 0, min_views]),
                )
            )
            scraped = T - DAY * draw(st.sampled_from([0, 0, 0, 7]))
            reels.append(
                Reel(
                    f"{user}{i}",
                    "",
                    user,
                    "",
                    [],
                    scraped - DAY * draw(st.integers(0, 50)),
                    scraped,
                    views,
                    draw(st.sampled_from(FIELDS)),
                    draw(st.none() | st.integers(0, 10**5)),
                    7,
                    None,
                    None,
                    None,
                    pinned and draw(st.integers(0, 9)) == 0,
                    None,
                    draw(st.sampled_from(["clips", "clips", "clips", None, "igtv"])),
                    "test",
                )
            )
    return reels


@st.composite
def niche(draw: st.DrawFn) -> list[Reel]:
    """A few settled accounts at different levels and a small one: the shapes that reach the pool."""
    reels = []
    for user, size in (("a", (4, 9)), ("b", (4, 9)), ("c", (0, 9)), ("d", (0, 3))):
        level = draw(st.sampled_from([1_000, 10_000, 100_000]))
        for i in range(draw(st.integers(*size))):
            views = level * draw(st.integers(1, 40)) // 10
            posted = T - DAY * draw(st.integers(0, 40))
            reels.append(
                Reel(
                    f"{user}{i}",
                    "",
                    user,
                    "",
                    [],
                    posted,
                    T,
                    views,
                    "videoPlayCount",
                    1,
                    1,
                    None,
                    None,
                    None,
                    False,
                    None,
                    "clips",
                    "t",
                )
            )
    return reels


def oracle(reels: list[Reel], s: LabelSettings, followers: dict[str, int]) -> dict[str, tuple[Any, ...]]:
    """The default rule as virality.md §3 states it, one reel at a time."""
    age = {r.post_id: (r.scraped_at - r.posted_at) / DAY for r in reels}

    def usable(r: Reel) -> bool:
        return r.views is not None and not (r.views <= 0 and age[r.post_id] >= 1)

    def matured_reel(r: Reel) -> bool:
        is_reel = r.product_type in (None, "clips")
        return usable(r) and not r.is_pinned and is_reel and age[r.post_id] >= s.min_age_days

    groups: dict[tuple[str, str | None], list[Reel]] = defaultdict(list)
    for r in reels:
        if matured_reel(r):
            groups[(r.username, r.views_field)].append(r)
    ranked = {}
    for key, group in groups.items():
        newest = max(r.scraped_at for r in group)
        recent = [r for r in group if r.posted_at >= newest - s.lookback_days * DAY]
        ranked[key] = sorted(recent, key=lambda r: r.posted_at, reverse=True)  # stable: ties in input order
    members = [r for group in ranked.values() for r in group[: s.baseline_reels]]
    settled = [g[: s.baseline_reels] for g in ranked.values() if len(g[: s.baseline_reels]) >= s.min_baseline]

    def mad(values: list[float]) -> float:
        m = statistics.median(values)
        return 1.4826 * statistics.median(abs(x - m) for x in values)

    def pool(field: str | None, by_followers: bool) -> tuple[float, float, float, float] | None:
        """(centre, pseudo-count, spread with 1–2 own reels, spread with none), or None."""
        values = [
            math.log(r.views) - (math.log(followers[r.username]) if by_followers else 0)  # type: ignore[arg-type]
            for r in members
            if r.views_field == field and (not by_followers or r.username in followers)
        ]
        if len(values) < s.min_pooled:
            return None
        m, spread = statistics.median(values), max(mad(values), s.mad_floor)
        if by_followers:
            return m, s.shrink_k, spread, spread
        accounts = [[math.log(r.views) for r in g] for g in settled if g[0].views_field == field]  # type: ignore[arg-type]
        if len(accounts) < 2:
            return None
        tau = mad([statistics.median(logs) for logs in accounts])
        sigma = max(statistics.median(mad(logs) for logs in accounts), s.mad_floor)
        return m, (sigma / tau) ** 2 if tau else math.inf, sigma, spread

    out = {}
    for p in reels:
        a, views = age[p.post_id], p.views
        if views is None or not usable(p):
            out[p.post_id] = ("insufficient_data", None, None, None, None, None)
            continue
        if a > s.max_score_age_days:
            out[p.post_id] = ("out_of_window", None, None, None, None, None)
            continue
        base = [b for b in ranked.get((p.username, p.views_field), []) if b is not p][: s.baseline_reels]
        n, logs = len(base), [math.log(b.views) for b in base]  # type: ignore[arg-type]
        m = statistics.median(logs) if n else 0.0
        own_s = 1.4826 * statistics.median(abs(x - m) for x in logs) if n else math.nan
        fpool = pool(p.views_field, True) if p.username in followers else None
        vpool = pool(p.views_field, False)
        if n >= s.min_baseline:
            centre, spread, median = m, max(own_s, s.mad_floor), statistics.median(b.views for b in base)  # type: ignore[type-var]
            source = "account"
        elif fpool or vpool:
            pc, k, few, none = fpool or vpool  # type: ignore[misc]
            if fpool:
                pc += math.log(followers[p.username])
            w = n / (n + k)
            centre = w * m + (1 - w) * pc
            spread = max(own_s if n >= 3 else few if n else none, s.mad_floor)
            median = math.exp(centre)
            kind = "followers" if fpool else "views"
            source = f"shrunk(n={n},w={w:.2f},pool={kind})" if n else f"pooled(pool={kind})"
        else:
            out[p.post_id] = ("insufficient_data", None, None, None, None, n)
            continue
        ratio, z = views / max(median, 1.0), (math.log(max(views, 1)) - centre) / spread
        viral = ratio >= s.ratio_min * (1 - 1e-9) and z >= s.z_min - 1e-9 and views >= s.min_views
        label = "viral" if viral else "pending" if a < s.min_age_days else "not_viral"
        tier = None
        if viral:
            tier = (
                "breakout" if ratio >= s.tier_breakout else "strong" if ratio >= s.tier_strong else "outlier"
            )
        out[p.post_id] = (label, tier, ratio, z, source, n)
    return out


def labels(reels: list[Reel], s: LabelSettings = SMALL, **kw: Any) -> dict[str, Label]:
    return {lab.post_id: lab for lab in rule_for(s).labels(reels, **kw)}


def decision(lab: Label) -> tuple[Any, ...]:
    """What a label decides and shows, minus the supporting signals (which may look at other accounts)."""
    numbers = (lab.viral_ratio, lab.robust_z, lab.baseline_views)
    rounded = tuple(None if x is None else round(x, 9) for x in numbers)
    return (lab.virality_label, lab.virality_tier, lab.baseline_n, lab.baseline_source, *rounded)


def pooled(lab: Label) -> bool:
    return (lab.baseline_source or "").startswith(("shrunk", "pooled"))


quick = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(
    reel_list() | niche(),
    st.sampled_from([SMALL, LabelSettings()]),
    st.dictionaries(st.sampled_from("abc"), st.integers(1, 10**6), max_size=3),
)
def test_the_vectorised_rule_agrees_with_a_plain_reading(
    reels: list[Reel], s: LabelSettings, followers: dict[str, int]
) -> None:
    expected = oracle(reels, s, followers)
    for post_id, lab in labels(reels, s, followers=followers).items():
        want = expected[post_id]
        assert (lab.virality_label, lab.virality_tier) == want[:2], (post_id, lab.virality_reason)
        if want[2] is not None:
            assert math.isclose(lab.viral_ratio or 0, want[2], rel_tol=1e-9)
            assert math.isclose(lab.robust_z or 0, want[3], rel_tol=1e-9, abs_tol=1e-9)
            assert (lab.baseline_source, lab.baseline_n) == want[4:]


@quick
@given(reel_list(min_views=1000), st.integers(2, 1000))
def test_scaling_an_account_never_changes_its_labels(reels: list[Reel], factor: int) -> None:
    def scaled(rs: list[Reel], who: str) -> list[Reel]:
        return [replace(r, views=r.views * factor) if r.username in who and r.views else r for r in rs]

    before = labels(reels)
    one = labels(scaled(reels, "a"))
    for r in reels:
        if r.username == "a" and not pooled(before[r.post_id]):
            assert decision(one[r.post_id])[:4] == decision(before[r.post_id])[:4]
    # Scaling every account moves the pooled baseline with it, so then no label at all changes.
    everyone = labels(scaled(reels, "abc"))
    assert {k: decision(v)[:4] for k, v in everyone.items()} == {
        k: decision(v)[:4] for k, v in before.items()
    }


@quick
@given(reel_list(), st.sampled_from("abz"), st.integers(0, 60), st.booleans(), st.sampled_from(FIELDS))
def test_a_pinned_or_young_reel_never_moves_other_baselines(
    reels: list[Reel], user: str, age: int, pin: bool, field: str
) -> None:
    # A pinned reel of any age, or an unpinned one younger than the maturity gate.
    age = age if pin else age % 7
    extra = Reel(
        "new", "", user, "", [], T - age * DAY, T, 10**6, field, 1, 1, None, None, None, pin, None, None, "t"
    )
    before, after = labels(reels), labels([*reels, extra])
    assert {k: v for k, v in after.items() if k != "new"} == before


@quick
@given(reel_list(users="a"), reel_list(users="bc"))
def test_a_label_depends_on_other_accounts_only_through_the_pool(
    mine: list[Reel], others: list[Reel]
) -> None:
    alone = labels(mine)
    together = labels([*mine, *[replace(r, post_id="x" + r.post_id) for r in others]])
    for r in mine:
        if not pooled(together[r.post_id]):
            assert decision(together[r.post_id]) == decision(alone[r.post_id])


@quick
@given(reel_list(), st.sampled_from(RULES))
def test_no_label_without_views(reels: list[Reel], method: str) -> None:
    for r, lab in zip(reels, rule_for(replace(SMALL, method=method)).labels(reels), strict=True):
        if r.views is None:
            assert lab.virality_label == "insufficient_data" and lab.virality_tier is None
            assert lab.viral_ratio is None and lab.robust_z is None
