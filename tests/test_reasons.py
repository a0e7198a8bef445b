"""The label columns built on whole arrays read like the f-strings people would write, number by number."""

from __future__ import annotations

import numpy as np
import pytest

from reels.config import LabelSettings
from reels.label.reasons import fixed, grouped
from reels.label.scores import items_from_reels
from reels.label.virality import MedianRatioRule
from tests.factories import T, make_reel


@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_fixed_decimals_match_python_formatting(decimals: int) -> None:
    rng = np.random.default_rng(decimals)
    # Exact binary fractions sit on no rounding edge, so Python's and the kernel's rounding must agree.
    x = np.concatenate([rng.integers(-(10**7), 10**7, 2000) / 2**10, [0.0, -0.0, 1.0, 12345.5, 0.125]])
    expected = [f"{v:.{decimals}f}" for v in x]
    # A value that rounds to zero is written without a sign ("0.0", not Python's "-0.0").
    expected = [e[1:] if e.startswith("-") and float(e) == 0 else e for e in expected]
    assert fixed(x, decimals).to_pylist() == expected


def test_grouped_thousands_match_python_formatting() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 10**13, 3000).astype(float), [0, 7, 999, 1000, 1001, 999_999, 10**6]])
    assert grouped(x).to_pylist() == [f"{v:,.0f}" for v in x]
    assert grouped(np.array([np.nan, -1234.0])).to_pylist() == [None, "-1,234"]
    assert fixed(np.array([np.nan, np.inf]), 1).to_pylist() == [None, None]


def test_a_reason_for_some_rows_is_the_reason_of_the_whole_table() -> None:
    reels = [
        make_reel(f"p{i}", username=f"u{i % 3}", views=1000 * (i + 1), posted_at=T, scraped_at=T)
        for i in range(30)
    ]
    rule = MedianRatioRule(LabelSettings())
    items = items_from_reels(reels)
    sc = rule.scores(items)
    every = rule.reasons(items, sc).to_pylist()
    at = np.array([29, 3, 17])
    assert rule.reasons(items, sc, at).to_pylist() == [every[i] for i in at]
    assert all(isinstance(r, str) and r.endswith(".") for r in every)
