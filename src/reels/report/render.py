"""The HTML report for the content team: one self-contained file that works offline (inline CSS, inline
SVG charts, thumbnails inlined as data: URIs, a few lines of inline script to filter the gallery; no
external font, image or script), readable on a phone.

Its first screen is the week in one paragraph and the playbook, each recommendation with its numbers and
example reels; then the viral reels as a gallery, the trends, the accounts, the run's health, and the
method (where the statistics terms live).

Pure rendering: `render_report(ReportData) -> str`; the caller writes the file. The template is
`templates/report.html` beside this module, rendered by Jinja2 with autoescape on, since captions,
usernames and errors are untrusted text. Links go only to http(s) addresses.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from reels.insights import rank_key, subject
from reels.insights.wording import multiple, multiple_of
from reels.label.virality import TIERS
from reels.records import Insight
from reels.report import charts, sections, trends
from reels.report.sections import excerpt, safe_url

TOP_FEATURES = 12  # rows in the lift chart
MAX_FAILURES = 200  # failures listed one by one; the rest are counted
MAX_VIRAL_ROWS = 200  # viral reels listed, the highest ratios first; the rest are counted
MAX_ACCOUNT_ROWS = 100  # accounts in the labels table, the most viral first
MAX_CHART_ACCOUNTS = 30  # accounts in the labels chart
MAX_POINTS = 3000  # viral, and other, reels on the scatter: an even sample of each beyond this


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from the tables by the caller."""

    generated_at: datetime
    run: Mapping[str, Any] | None  # the last `runs` row
    reels: Sequence[Mapping[str, Any]]  # the `reels` rows shown one by one (viral, plotted, cited)
    analyses: Sequence[Mapping[str, Any]]  # ok `analyses` rows of those reels
    insights: Sequence[Insight]  # the latest run's findings, any order: shown supported first, then by q
    playbook: Sequence[Mapping[str, Any]] = ()  # the latest `playbook` rows
    media_status: Mapping[str, int] = field(default_factory=dict)  # media rows per status
    failures: Sequence[Mapping[str, Any]] = ()  # post_id, stage, status, error
    quarantined: int = 0
    # Counted by the engine over the whole lake; when absent (small inputs, tests) counted from `reels` and
    # `analyses`, which then hold everything rather than only the rows shown.
    labels: Mapping[tuple[Any, ...], int] | None = None  # (username, virality_label) → reels
    accounts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # username → status, followers
    methods: Sequence[str] | None = None  # the virality methods in use
    producers: Mapping[str, int] | None = None  # "analyzer (model)" → ok analyses
    answered: Mapping[str, int] | None = None  # the same, for the run shown
    costs: Mapping[str, tuple[int, float]] = field(default_factory=dict)  # the run's USD per 1,000 reels
    analyzed: int | None = None  # reels with an ok analysis
    # Every reel, narrow (post_id, username, posted_at, views, virality_label, viral_ratio, hashtags, music):
    # the week, the trends and the accounts. Absent (small inputs, tests): `reels`.
    posts: Sequence[Mapping[str, Any]] | None = None
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # viral reel → its analysis
    thumbnails: Mapping[str, str] = field(default_factory=dict)  # post_id → a data: URI of its JPEG
    quarantine_reasons: Mapping[tuple[Any, ...], int] = field(default_factory=dict)  # (kind, reason) → items
    costs_run: str | None = None  # the run the costs are of, when not `run`


def render_report(data: ReportData) -> str:
    """The report as one HTML document."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(count=charts.compact, pct=pct, when=when)
    source = resources.files("reels.report").joinpath("templates/report.html").read_text(encoding="utf-8")
    return env.from_string(source).render(**_view(data))


def pct(x: float | None, decimals: int = 1) -> str:
    """A fraction as a percentage: 0.0532 → "5.3%"."""
    return "—" if x is None else f"{x * 100:.{decimals}f}%"


def when(t: datetime | None) -> str:
    return "—" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def listed_viral(reels: Sequence[Mapping[str, Any]]) -> list[str]:
    """The post ids of the viral reels the report lists one by one (the highest ratios)."""
    viral = [r for r in reels if r.get("virality_label") == "viral"]
    viral.sort(key=lambda r: (-(r.get("viral_ratio") or 0), str(r.get("post_id"))))
    return [str(r["post_id"]) for r in viral[:MAX_VIRAL_ROWS]]


def _view(data: ReportData) -> dict[str, Any]:
    reels = sorted(map(_dated, data.reels), key=lambda r: (str(r.get("username")), str(r.get("post_id"))))
    by_id = {r["post_id"]: r for r in reels}
    posts = [_dated(p) for p in data.posts] if data.posts is not None else reels
    analyses = _analyses_by_post(data.analyses)
    viral = sorted(
        (r for r in reels if r.get("virality_label") == "viral"),
        key=lambda r: (-(r.get("viral_ratio") or 0), str(r.get("post_id"))),
    )
    labels = data.labels
    if labels is None:
        labels = Counter((r.get("username"), r.get("virality_label")) for r in reels)
    per_account: dict[str, Counter[str]] = defaultdict(Counter)
    for (user, label), n in labels.items():
        per_account[str(user)][str(label or "unlabelled")] += n
    viral_total = sum(c["viral"] for c in per_account.values())
    producers = data.producers if data.producers is not None else _producers(data.analyses)
    answered = data.answered
    if answered is None:
        mine = [a for a in data.analyses if data.run and a.get("run_id") == data.run.get("run_id")]
        answered = _producers(mine)
    ranked = sorted(data.insights, key=rank_key)
    tested = [i for i in ranked if i.verdict != "not_enough_data"]
    methods = sorted(
        data.methods
        if data.methods is not None
        else {str(r["virality_method"]) for r in reels if r.get("virality_method")}
    )
    threshold = next((m["ratio"] for m in map(_parse_method, methods) if m.get("ratio")), None)
    now = trends.utc(data.generated_at)
    cards = {
        str(r["post_id"]): sections.card(r, now, data.thumbnails, _describe(analyses.get(r["post_id"])))
        for r in reels
    }
    gallery = [cards[str(r["post_id"])] for r in viral[:MAX_VIRAL_ROWS]]
    supported = [i for i in ranked if i.supported]
    weeks = trends.weekly(posts)
    week = trends.week_summary(posts)
    features = dict(data.features) or {
        pid: {**dict(analyses.get(pid) or {}), **dict(r)} for pid, r in by_id.items()
    }
    return dict(
        generated_at=now,
        run=_run(data.run),
        week=week,
        totals=dict(
            reels=sum(labels.values()),
            accounts=len(per_account),
            viral=viral_total,
            analyzed=len(analyses) if data.analyzed is None else data.analyzed,
            supported=len(supported),
            tested=len(tested),
        ),
        best=_best(week, cards, now, data.thumbnails),
        # "What works": a pattern that helps (a supported one may hurt: those are in the findings).
        lead=[dict(text=sections.plain(i)) for i in supported if (i.effect or 0) > 0][:1],
        playbook=sections.playbook_items(data.playbook, {i.insight_id: i for i in ranked}, cards),
        playbook_by=_writer(data.playbook[0]) if data.playbook else None,
        playbook_note=data.playbook[0].get("note") if data.playbook else None,
        insight_sources=sorted({s for i in data.insights for s in i.sources}),
        gallery=gallery,
        gallery_accounts=sorted({str(c["username"]) for c in gallery}),
        gallery_weeks=sorted({c["week"] for c in gallery if c["week"]}, reverse=True),
        more_viral=max(0, viral_total - MAX_VIRAL_ROWS),
        findings=[dict(text=sections.plain(i), **_insight(i, by_id)) for i in supported],
        supported=[_insight(i, by_id) for i in supported],
        unsupported=[_insight(i, by_id) for i in ranked if i.verdict == "not_supported"],
        thin=[_insight(i, by_id) for i in ranked if i.verdict == "not_enough_data"],
        weeks=weeks,
        chart_weeks=Markup(charts.weekly_bars(weeks)),
        rising=trends.rising([p for p in posts if p.get("virality_label") == "viral"], features),
        recent_weeks=trends.RECENT_WEEKS,
        accounts=sections.account_rows(posts, per_account, data.accounts, MAX_ACCOUNT_ROWS),
        more_accounts=max(0, len(per_account) - MAX_ACCOUNT_ROWS),
        failure_groups=sections.failure_groups(data.failures),
        failures=len(data.failures),
        quarantine=sections.quarantine_groups(data.quarantine_reasons),
        media_status=dict(sorted(data.media_status.items())),
        quarantined=data.quarantined,
        methods=[dict(text=m, **_parse_method(m)) for m in methods],
        tiers=[(name, floor) for floor, name in TIERS],
        analyzers=[f"{k} ×{n}" for k, n in sorted(producers.items(), key=lambda kn: -kn[1])],
        answered=", ".join(f"{k} ×{n}" for k, n in sorted(answered.items())),
        costs=[(k, n, usd) for k, (n, usd) in sorted(data.costs.items())],
        costs_run=data.costs_run or (data.run or {}).get("run_id"),
        chart_views=Markup(charts.views_vs_baseline(_points(reels), ratio=threshold)),
        chart_features=Markup(charts.lifts([_interval(i) for i in tested[:TOP_FEATURES]])),
        chart_labels=Markup(
            charts.label_bars(
                dict(
                    sorted(per_account.items(), key=lambda uc: (-uc[1]["viral"], uc[0]))[:MAX_CHART_ACCOUNTS]
                )
            )
        ),
    )


def _dated(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """`row` with its posting time in UTC (a naive one is read as UTC)."""
    posted = row.get("posted_at")
    return {**row, "posted_at": trends.utc(posted)} if isinstance(posted, datetime) else row


def _best(
    week: trends.WeekSummary | None,
    cards: Mapping[str, dict[str, Any]],
    now: datetime,
    thumbs: Mapping[str, str],
) -> dict[str, Any] | None:
    """The week's most viral reel as a card."""
    if week is None or week.best is None:
        return None
    pid = str(week.best.get("post_id"))
    return cards.get(pid) or sections.card(week.best, now, thumbs)


def _producers(analyses: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Reels per analyzer and model that really answered: "gemini (gemini-3.8-flash)" → 140."""
    return Counter(f"{a.get('analyzer')} ({a.get('model')})" for a in analyses)


def _run(run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    counts = _json(run.get("counts_json"), {})
    started, finished = run.get("started_at"), run.get("finished_at")
    minutes = (finished - started).total_seconds() / 60 if started and finished else None
    return dict(
        run_id=run.get("run_id"),
        command=run.get("command"),
        source=run.get("source") or "—",
        analyzer=run.get("analyzer") or "—",
        status=run.get("status") or "—",
        started_at=started,
        minutes=minutes,
        cost_usd=run.get("cost_usd") or 0.0,
        stages={
            stage: {k: n for k, n in sorted(c.items()) if k != "cost_usd_micros"}
            for stage, c in counts.items()
            if isinstance(c, Mapping)
        },
        notes=[str(n) for n in _json(run.get("notes_json"), [])],
        error=run.get("error"),
    )


def _json(text: Any, default: Any) -> Any:
    try:
        value = json.loads(text) if text else default
    except (TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def _parse_method(method: str) -> dict[str, Any]:
    """A label rule's numbers: `median_ratio_v0(ratio>=3,views>=10000)` → ratio 3, min_views 10000."""
    found: dict[str, Any] = dict.fromkeys(("ratio", "min_views", "z", "age", "window", "last"))
    found["median"] = method.startswith("median_ratio")
    if m := re.search(r"ratio>=([0-9.]+)", method):
        found["ratio"] = float(m.group(1))
    if m := re.search(r"views>=([0-9]+)", method):
        found["min_views"] = int(m.group(1))
    for key, pattern in (
        ("z", r"z>=([0-9.]+)"),
        ("age", r"age>=([0-9.]+)d"),
        ("window", r"window=([0-9.]+)d"),
    ):
        if m := re.search(pattern, method):
            found[key] = float(m.group(1))
    if m := re.search(r"last=(\d+)", method):
        found["last"] = int(m.group(1))
    return found


def _analyses_by_post(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One analysis per reel: a model's (with a summary) before the local measurements."""
    out: dict[str, Mapping[str, Any]] = {}
    for a in sorted(
        rows, key=lambda a: (a.get("summary") is None, str(a.get("analyzer")), str(a.get("model")))
    ):
        out.setdefault(a["post_id"], a)
    return out


def _describe(analysis: Mapping[str, Any] | None) -> str:
    """What the video is, in a phrase: the model's summary, or the local analyzer's measurements."""
    if analysis is None:
        return ""
    if analysis.get("summary"):
        return excerpt(analysis["summary"])
    parts = []
    if analysis.get("duration_s") is not None:
        parts.append(f"{analysis['duration_s']:.0f} s")
    if analysis.get("cuts_per_s") is not None:
        parts.append(f"{analysis['cuts_per_s']:.2f} cuts/s")
    if analysis.get("cat_frame_share") is not None:
        parts.append(f"cat in {analysis['cat_frame_share'] * 100:.0f}% of frames")
    if analysis.get("has_audio") is False:
        parts.append("no sound")
    return " · ".join(parts)


def _writer(row: Mapping[str, Any]) -> str:
    return f"{row.get('writer')} ({row['model']})" if row.get("model") else str(row.get("writer"))


def _insight(i: Insight, reels: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    examples = []
    for pid in i.example_post_ids:
        reel = reels.get(pid) or {}
        examples.append(dict(post_id=pid, username=reel.get("username"), url=safe_url(reel.get("url"), pid)))
    return dict(
        insight_id=i.insight_id,
        statement=i.statement,
        verdict=i.verdict,
        supported=i.supported,
        q_value=None if i.q_value is None else ("q < 0.001" if i.q_value < 0.001 else f"q = {i.q_value:.3f}"),
        sources=", ".join(i.sources),
        examples=examples,
    )


def _interval(i: Insight) -> charts.Interval:
    name = subject(i)
    low, high = i.ci_low or 0.0, i.ci_high or 0.0
    return charts.Interval(
        label=excerpt(name[:1].upper() + name[1:], 36),
        values=f"{multiple_of(i.lift)} ({multiple(low)}–{multiple(high)})",
        difference=i.effect or 0.0,
        low=low,
        high=high,
        supported=i.supported,
    )


def _points(reels: Sequence[Mapping[str, Any]]) -> list[charts.Point]:
    """Up to MAX_POINTS viral reels and as many others, each an even, deterministic sample (by post id)
    beyond that, so the scatter stays a few hundred kB however large the lake."""
    plotted = sorted(
        (r for r in reels if r.get("baseline_views") and r.get("views")), key=lambda r: str(r.get("post_id"))
    )
    keep: set[int] = set()
    for viral in (True, False):
        group = [r for r in plotted if (r.get("virality_label") == "viral") == viral]
        keep |= {id(r) for r in group[:: max(1, math.ceil(len(group) / MAX_POINTS))]}
    return [
        charts.Point(
            label=f"@{r.get('username')} · {r.get('post_id')}",
            baseline=float(r["baseline_views"]),
            views=float(r["views"]),
            viral=r.get("virality_label") == "viral",
        )
        for r in plotted
        if id(r) in keep
    ]
