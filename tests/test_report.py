import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from reels.records import Insight
from reels.report import charts
from reels.report.render import ReportData, render_report, safe_url
from reels.report.trends import week_summary

T = datetime(2026, 11, 16, 6, tzinfo=UTC)
METHOD = "median_ratio_v0(ratio>=3,views>=10000)"


def reel(
    post_id: str, user: str, views: int, label: str, baseline: float | None = 20_000, **kw: Any
) -> dict[str, Any]:
    ratio = views / baseline if baseline else None
    return (
        dict(
            post_id=post_id,
            url=f"https://www.instagram.com/reel/{post_id}/",
            username=user,
            caption=f"Caption of {post_id} #catsofinstagram",
            views=views,
            views_field="videoPlayCount",
            likes=900,
            comments=40,
            posted_at=T - timedelta(days=5),
            virality_label=label,
            virality_tier="breakout"
            if label == "viral" and (ratio or 0) >= 10
            else "outlier"
            if label == "viral"
            else None,
            viral_ratio=ratio,
            robust_z=None,
            baseline_views=baseline,
            baseline_n=12 if baseline else 0,
            baseline_source="account" if baseline else None,
            engagement_rate=940 / views,
            virality_method=METHOD,
            virality_reason=f"{views:,} views = {ratio or 0:.1f}× the median of @{user}'s 12 other reels",
        )
        | kw
    )


def finding(
    insight_id: str, verdict: str, effect: float | None, examples: list[str], threshold: float | None = None
) -> Insight:
    feature, _, level = insight_id.partition("=")
    tested = effect is not None
    return Insight(
        run_id="r1",
        insight_id=insight_id,
        feature=feature,
        level=level or None,
        kind="level" if level else "number",
        threshold=threshold,
        verdict=verdict,
        supported=verdict == "supported",
        effect=effect,
        lift=2.718281828**effect if tested else None,
        ci_low=effect - 0.3 if tested else None,
        ci_high=effect + 0.3 if tested else None,
        p_value=0.001 if tested else None,
        q_value=0.01 if tested else None,
        n_with=12,
        n_without=23,
        accounts_with_both=2,
        accounts_same_sign=2,
        viral_share_with=0.4,
        viral_share_without=0.0,
        lift_with=2.0,
        lift_without=0.8,
        example_post_ids=examples,
        sources=["local/opencv"],
        statement=f"Statement about {insight_id} ({verdict}).",
        method="within_account_v2",
        input_fingerprint="f",
        created_at=T,
    )


def sample() -> ReportData:
    reels = [reel(f"V{i}", "whiskerdiaries", 80_000 + 40_000 * i, "viral") for i in range(5)]
    reels += [
        reel(f"N{i}", "whiskerdiaries" if i % 2 else "purrfectpaws", 12_000 + 900 * i, "not_viral")
        for i in range(30)
    ]
    reels += [reel("P1", "purrfectpaws", 500, "insufficient_data", baseline=None)]
    analyses = [
        dict(
            post_id=r["post_id"],
            analyzer="local",
            model="opencv",
            summary=None,
            duration_s=12.0,
            cuts_per_s=(1.2 if r["virality_label"] == "viral" else 0.5) + 0.01 * i,
            cat_frame_share=0.8,
            has_audio=i % 2 == 0,
        )
        for i, r in enumerate(reels[:-1])
    ]
    run = dict(
        run_id="20261116T060000Z-abc123",
        command="run",
        source="sample",
        analyzer="local",
        started_at=T,
        finished_at=T + timedelta(minutes=3),
        status="ok",
        counts_json=json.dumps(
            {"ingest": {"reels": 36, "quarantined": 2}, "download": {"ok": 33, "failed": 2}}
        ),
        notes_json=json.dumps(["ran on the bundled sample"]),
        error=None,
        cost_usd=0.0,
    )
    return ReportData(
        generated_at=T,
        run=run,
        reels=reels,
        analyses=analyses,
        insights=[
            finding("cuts_per_s", "supported", 0.9, ["V4", "V3"], threshold=0.6),
            finding("format=pov", "not_supported", 0.1, []),
            finding("hashtag=fyp", "not_enough_data", None, []),
        ],
        playbook=[
            dict(
                run_id="r1",
                rank=1,
                recommendation="Cut faster: <b>2.5×</b>",
                insight_ids=["cuts_per_s"],
                writer="gemini",
                model="gemini-3.8-flash",
                note=None,
            ),
        ],
        media_status={"ok": 33, "failed": 2},
        quarantined=2,
        failures=[
            dict(post_id="N3", stage="download", status="failed", error="HTTP 403 from cdn: link expired")
        ],
    )


class _Parser(HTMLParser):
    """Collects the tags and fails on nothing: used to check the document has no scripts or external refs."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Parser()
    parser.feed(html)
    return parser.tags


def test_sample_report_has_the_viral_reels_findings_playbook_and_charts() -> None:
    html = render_report(sample())
    assert html.count("<svg") >= 2
    for i in range(5):
        assert f'href="https://www.instagram.com/reel/V{i}/"' in html
    assert "@whiskerdiaries" in html and "@purrfectpaws" in html
    assert "Statement about cuts_per_s (supported)." in html  # the supported finding ...
    assert "@whiskerdiaries V4</a>" in html  # ... with its best example linked
    assert "Reels cutting more than 0.6 times a…" in html  # ... on the lift chart, cut to fit
    assert "Cut faster: &lt;b&gt;2.5×&lt;/b&gt;" in html and "gemini (gemini-3.8-flash)" in html  # playbook
    assert "Not enough data yet (1 features)" in html and "No clear effect (1 features)" in html
    assert "20k" in html and "240k" in html  # baseline and views, for people
    assert "12× usual views" in html  # V4's badge: 240k / 20k
    assert "HTTP 403 from cdn: link expired" in html
    assert "at least <b>3×</b>" in html and "10k" in html  # the label rule, from virality_method
    assert "reels run" in html and "sample" in html and "20261116T060000Z-abc123" in html


THUMB = "data:image/jpeg;base64,/9j/4AAQSkZJRg=="


def test_the_report_is_self_contained() -> None:
    found = tags(render_report(replace(sample(), thumbnails={"V4": THUMB, "V3": THUMB})))
    assert not [t for t, _ in found if t in {"link", "iframe", "object", "embed", "base"}]
    assert [a for t, a in found if t == "script"] == [{}]  # one inline script (the gallery's filters)
    images = [a["src"] for t, a in found if t == "img"]
    assert images and set(images) == {THUMB}  # thumbnails inlined, nothing fetched
    refs = [a.get("src") or "" for t, a in found if t != "img"] + [
        a.get("href") or "" for t, a in found if t != "a"
    ]
    assert not [r for r in refs if r]


@pytest.mark.parametrize("field", ["caption", "username", "virality_reason"])
def test_untrusted_text_is_escaped(field: str) -> None:
    data = sample()
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    reels = [dict(data.reels[0]) | {field: evil}, *data.reels[1:]]
    html = render_report(replace(data, reels=reels))
    assert '<script>alert("x")' not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_failure_errors_are_escaped_too() -> None:
    data = sample()
    failures = [dict(post_id="<b>x</b>", stage="analyze", status="failed", error="bad <script>x</script>")]
    html = render_report(replace(data, failures=failures))
    assert "<script>x</script>" not in html and "<b>x</b>" not in html
    assert "bad &lt;script&gt;x&lt;/script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize(
    ("url", "post_id", "expected"),
    [
        ("https://www.instagram.com/reel/A1/", "A1", "https://www.instagram.com/reel/A1/"),
        ("javascript:alert(1)", "A1", "https://www.instagram.com/reel/A1/"),
        ("javascript:alert(1)", "<bad>", ""),
        (None, None, ""),
    ],
)
def test_links_are_only_web_addresses(url: Any, post_id: Any, expected: str) -> None:
    assert safe_url(url, post_id) == expected


@pytest.mark.parametrize(
    "data",
    [
        ReportData(generated_at=T, run=None, reels=[], analyses=[], insights=[]),
        ReportData(
            generated_at=T,
            run=dict(
                run_id="r0",
                command="label",
                started_at=T,
                finished_at=None,
                status="running",
                counts_json=None,
                notes_json="not json",
                cost_usd=None,
            ),
            reels=[reel("N1", "a", 1_000, "not_viral"), reel("P1", "a", 10, "pending", baseline=None)],
            analyses=[],
            insights=[],
            media_status={},
            failures=[],
            quarantined=0,
        ),
    ],
    ids=["nothing", "no-viral-no-insights"],
)
def test_empty_inputs_still_render(data: ReportData) -> None:
    html = render_report(data)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "No reel is labelled viral yet." in html
    assert "No findings yet" in html and "No playbook yet" in html
    assert html.count("<svg") >= 2


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "—"),
        (0, "0"),
        (999, "999"),
        (45_300, "45.3k"),
        (1_234_567, "1.2M"),
        (2_000_000, "2M"),
        (3e9, "3B"),
    ],
)
def test_counts_read_like_people_write_them(n: float | None, text: str) -> None:
    assert charts.compact(n) == text


def test_charts_escape_their_labels() -> None:
    svg = charts.views_vs_baseline([charts.Point("<b>&", 100, 1000, True)], ratio=3)
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    assert re.search(r'<circle [^>]*fill="#d9480f"', svg)
    assert "&lt;x&gt;" in charts.label_bars({"<x>": {"viral": 1}})


def test_the_report_stays_small_on_a_large_lake() -> None:
    reels = [
        reel(f"R{i}", f"acct{i % 2000}", 1_000 + i % 7_000, "viral" if i % 97 == 0 else "not_viral")
        for i in range(100_000)
    ]
    html = render_report(ReportData(generated_at=T, run=None, reels=reels, analyses=[], insights=[]))
    assert len(html.encode()) < 5_000_000, len(html)
    assert "more viral reels, in the <code>reels</code> table" in html and "… and 1900 more accounts." in html
    assert html.count("<circle") <= 3_000 + 1_100  # the sample plus every viral reel


def test_naive_times_a_hurting_pattern_and_alike_errors_read_right() -> None:
    data = sample()
    naive = [dict(r, posted_at=r["posted_at"].replace(tzinfo=None)) for r in data.reels]
    hurting = replace(finding("on_screen_text", "supported", -0.7, ["N1"]), kind="boolean")
    failures = [
        dict(
            post_id=f"N{i}",
            stage="analyze",
            status="failed",
            error=f"Gemini 403 PERMISSION_DENIED for Abc{i}xyz9",
        )
        for i in range(3)
    ] + [dict(post_id="N9", stage="analyze", status="failed", error="429 RESOURCE_EXHAUSTED")]
    quarantine = {("duplicate", f"a second copy of a reel in this scrape (Dq{i}x7Y2k)"): 1 for i in range(30)}
    html = render_report(
        replace(
            data,
            reels=naive,
            generated_at=T.replace(tzinfo=None),
            insights=[hurting, *data.insights],
            failures=failures,
            quarantine_reasons=quarantine,
        )
    )
    what_works = html.split("What works:")[1].split("</p>")[0]
    assert "0.50×" not in what_works and "cutting" in what_works.lower()  # only a pattern that helps
    assert html.count("PERMISSION_DENIED") == 1 and "RESOURCE_EXHAUSTED" in html  # 3 alike, 1 other
    assert "<b>30</b> × " in html  # thirty duplicates, one kind of reason


def test_a_young_weeks_share_counts_its_pending_reels() -> None:
    week = [dict(post_id=f"W{i}", username="a", posted_at=T, virality_label="pending") for i in range(9)]
    week.append(dict(post_id="W9", username="a", posted_at=T, virality_label="viral"))
    summary = week_summary(week)
    assert summary is not None and summary.viral == 1 and summary.share == 0.1  # not 1 of 1
