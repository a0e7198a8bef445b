"""The Flex tier and the hook clip, through the real SDK against the local fake Gemini: what is sent, what
answered, what it cost, and the fall back to the standard tier when a flex call is shed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reels import config, pipeline
from reels.errors import ConfigError
from reels.pipeline.status import cost_per_1000
from reels.storage.tables import ANALYSES
from tests.fakes.gemini_server import FakeGemini
from tests.test_gemini import PRIMARY, SAMPLE_MEDIA, VIDEO, context, gemini, job_with_media


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(seed=7, retry_delay_s=0.2) as server:
        yield server


STANDARD = (1200 * 0.75 + 180 * 3.75) / 1e6  # the fake's token counts at the primary model's price


def test_flex_asks_the_flex_tier_and_records_it_at_its_price(fake: FakeGemini) -> None:
    out = gemini(fake, mode="flex").analyze(VIDEO, context(VIDEO))
    (request,) = fake.requests
    assert request["tier"] == "flex"
    assert out.tier == "flex" and out.cost_usd == pytest.approx(STANDARD * 0.5) and out.note is None


def test_a_shed_flex_call_is_answered_at_the_standard_tier_and_says_so(fake: FakeGemini) -> None:
    fake.shed_flex = 1
    analyzer = gemini(fake, mode="flex")
    out = analyzer.analyze(VIDEO, context(VIDEO))
    assert [r["tier"] for r in fake.requests] == ["flex", "standard"]
    assert out.tier == "standard" and out.cost_usd == pytest.approx(STANDARD)
    assert out.note and out.note.startswith("flex was shed") and "standard tier" in out.note
    assert analyzer.current_model == PRIMARY  # a shed call is not the model's outage: no switch


def test_without_the_fall_back_a_shed_flex_call_is_retried_at_flex(fake: FakeGemini) -> None:
    fake.shed_flex = 2
    out = gemini(fake, mode="flex", flex_fallback=False).analyze(VIDEO, context(VIDEO))
    assert [r["tier"] for r in fake.requests] == ["flex", "flex", "flex"]
    assert out.tier == "flex" and out.cost_usd == pytest.approx(STANDARD * 0.5)


def test_standard_is_the_default_tier(fake: FakeGemini) -> None:
    out = gemini(fake).analyze(VIDEO, context(VIDEO))
    assert fake.requests[0]["tier"] == "standard" and out.tier == "standard"


def test_the_hook_clip_sends_only_the_first_seconds_and_reserves_tokens_for_them(fake: FakeGemini) -> None:
    analyzer = gemini(fake, clip_s=3)
    analyzer.analyze(VIDEO, context(VIDEO))
    assert fake.requests[0]["end_offset"] == "3s"
    long_reel = replace(context(VIDEO), duration_s=30.0)
    # 3 s of 30 s: the prompt's 600 tokens plus a tenth of the video's.
    assert (analyzer._estimate(long_reel), gemini(fake)._estimate(long_reel)) == (885, 3450)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mode", "fast", "standard, flex or batch"),
        ("batch_wait_s", "-1", "batch_wait_s"),
        ("batch_max_tokens", "0", "batch_max_tokens"),
        ("clip_s", "-1", "clip_s"),
    ],
)
def test_tier_settings_are_checked(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(environ={f"REELS_GEMINI__{key.upper()}": value})


def test_the_tier_and_its_cost_are_recorded_per_analysis_and_per_run(
    tmp_path: Path, fake: FakeGemini
) -> None:
    videos = SAMPLE_MEDIA[:6]
    job = job_with_media(tmp_path, videos)
    fake.shed_flex = 1  # one of them falls back to the standard tier
    counts = pipeline.analyze(job, gemini(fake, mode="flex", concurrency=1))
    rows = job.store.read(ANALYSES).to_pylist()
    assert sorted(r["service_tier"] for r in rows) == ["flex"] * 5 + ["standard"]
    assert counts.counts["tier_flex"] == 5 and counts.counts["tier_standard"] == 1
    assert counts.counts["cost_usd_micros"] == round((5 * STANDARD * 0.5 + STANDARD) * 1e6)
    costs = cost_per_1000(job.store, job.run_id)
    assert costs == {
        f"gemini ({PRIMARY}, flex)": (5, pytest.approx(STANDARD * 0.5 * 1000)),
        f"gemini ({PRIMARY}, standard)": (1, pytest.approx(STANDARD * 1000)),
    }
