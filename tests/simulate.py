"""Simulated lakes for the insights stage: `reels` and `analyses` rows as the pipeline stores them, with
effects planted where the caller says. Shared by the tests and `benchmarks/bench_insights.py`.

Per account: a baseline, its own spread of log views (0.35–1.0: some accounts are far more hit-and-miss
than others), and a few breakout reels (lift × 4–20) unrelated to any feature. Each reel carries a Gemini
answer (format, people, on-screen text, audio kind, pacing, tone, cat behaviours, cat count), local
measurements (duration, sound, cuts, loudness, brightness, cat share) and metadata (caption, hashtags,
music, posting time): about 50 tests a run, like a real one. A reel is viral at 3× its account's median.

Scenarios:
- `null`: no feature moves views;
- `planted`: `people_present` (in `prevalence` of reels, independently) multiplies views by `lift`;
- `confounded`: half the accounts are growing (their recent reels sit 2× above a lagging baseline) and
  hit-and-miss (spread 1.2), and 90% of their reels have a "dramatic" tone against 10% elsewhere; the tone
  itself does nothing within any account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np

Scenario = Literal["null", "planted", "confounded"]
T0 = datetime(2026, 9, 1, tzinfo=UTC)
FORMATS = ("skit", "pov", "compilation", "tutorial", "single_shot", "reaction")
TONES = ("funny", "cute", "cozy", "dramatic")
BEHAVIOURS = ("zooming", "loafing", "kneading", "hunting", "sleeping", "begging")
TAGS = ("catsofinstagram", "catlife", "fyp", "caturday", "meow", "kitten")
GEMINI, LOCAL = ("gemini", "gemini-3.8-flash", "v1-gemini.1"), ("local", "opencv-haar-v1", "v1")


def simulate(
    scenario: Scenario = "null",
    *,
    accounts: int = 30,
    reels: int = 30,
    lift: float = 2.0,
    prevalence: float = 0.4,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(reels rows, analyses rows) of one simulated lake."""
    rng = np.random.default_rng(seed)
    reel_rows: list[dict[str, Any]] = []
    analysis_rows: list[dict[str, Any]] = []
    for a in range(accounts):
        confounded = scenario == "confounded" and a % 2 == 0
        spread = 1.2 if confounded else rng.uniform(0.35, 1.0)
        growth = np.log(2.0) if confounded else 0.0
        tone_p = (0.9 if confounded else 0.1) if scenario == "confounded" else None
        fmt_p = rng.dirichlet(np.ones(len(FORMATS)) * 2)  # each account has its own style mix
        logv = rng.normal(0, spread, reels) + np.where(
            rng.random(reels) < 0.05, rng.uniform(1.4, 3.0, reels), 0
        )
        people = rng.random(reels) < prevalence
        if scenario == "planted":
            logv = logv + np.log(lift) * people
        baseline = np.median(logv) - growth
        for i in range(reels):
            pid = f"a{a:02d}r{i:03d}"
            ratio = float(np.exp(logv[i] - baseline))
            posted = T0 + timedelta(days=int(rng.integers(0, 60)), hours=int(rng.integers(0, 24)))
            tags = [str(t) for t in rng.choice(TAGS, int(rng.integers(0, 4)), replace=False)]
            reel_rows.append(
                dict(
                    post_id=pid,
                    username=f"acct{a:02d}",
                    caption=("Cat " * int(rng.integers(1, 30))).strip(),
                    hashtags=tags,
                    posted_at=posted,
                    duration_s=float(rng.uniform(5, 60)),
                    music=f"acct{a:02d} - Original audio"
                    if rng.random() < 0.5
                    else "DJ Tabby - Night Zoomies",
                    views=int(10_000 * np.exp(logv[i])),
                    baseline_views=float(10_000 * np.exp(baseline)),
                    viral_ratio=ratio,
                    virality_label="viral" if ratio >= 3 else "not_viral",
                )
            )
            tone = (
                ("dramatic" if rng.random() < tone_p else str(rng.choice(TONES[:3])))
                if tone_p is not None
                else str(rng.choice(TONES))
            )
            gemini = dict(
                summary=f"reel {pid}",
                hook="a cat looks at the camera",
                format=str(rng.choice(FORMATS, p=fmt_p)),
                cat_count=int(rng.integers(1, 4)),
                cat_behaviours=[
                    str(b) for b in rng.choice(BEHAVIOURS, int(rng.integers(1, 3)), replace=False)
                ],
                people_present=bool(people[i]),
                on_screen_text="wait for it" if rng.random() < 0.3 else None,
                audio_kind=str(rng.choice(["music", "speech", "original_sound"])),
                pacing=str(rng.choice(["slow", "medium", "fast"])),
                emotional_tone=tone,
                virality_hypothesis="the cat is funny",
            )
            local = dict(
                duration_s=float(rng.uniform(5, 60)),
                has_audio=bool(rng.random() < 0.8),
                cuts_per_s=float(rng.gamma(2, 0.2)),
                loudness_db=float(rng.normal(-22, 4)),
                brightness=float(rng.uniform(0.2, 0.8)),
                cat_visible=bool(rng.random() < 0.7),
                cat_frame_share=float(rng.uniform(0, 1)),
            )
            for (analyzer, model, version), fields in ((GEMINI, gemini), (LOCAL, local)):
                analysis_rows.append(
                    dict(
                        post_id=pid,
                        analyzer=analyzer,
                        model=model,
                        prompt_version=version,
                        status="ok",
                        analyzed_at=T0,
                        **fields,
                    )
                )
    return reel_rows, analysis_rows


__all__ = ["simulate"]
