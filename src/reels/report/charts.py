"""Charts for the report as inline SVG strings: pure functions, no JavaScript, every text escaped.

Each chart scales to its container (a `viewBox` and `width="100%"`) and carries a `<title>` for screen
readers; points and bars carry their own `<title>`, which browsers show as a tooltip.

Not a plotting library: matplotlib gives raster or heavy SVG with its own fonts, plotly and Vega need their
JavaScript bundles; the report must stay one small file that works offline, with escaped text only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

VIRAL, OTHER, MUTED, INK, GRID = "#d9480f", "#868e96", "#adb5bd", "#212529", "#e9ecef"
LABEL_COLOURS: dict[str, str] = {
    "viral": VIRAL,
    "not_viral": "#74c0fc",
    "pending": "#ffd43b",
    "insufficient_data": "#ced4da",
    "out_of_window": "#e9ecef",
}
_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif"'


def compact(n: float | None) -> str:
    """A count for people: 999, 45.3k, 1.2M, 3B ("—" when unknown)."""
    if n is None:
        return "—"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size * 0.9995:
            return f"{n / size:.1f}".removesuffix(".0") + suffix
    return f"{n:,.0f}"


@dataclass(frozen=True)
class Point:
    """One reel on the views-vs-baseline chart."""

    label: str  # tooltip, e.g. "@whiskerdiaries · DQx7KpLmN2a"
    baseline: float
    views: float
    viral: bool


@dataclass(frozen=True)
class Interval:
    """One finding on the lift chart: its log-lift and interval."""

    label: str
    values: str  # e.g. "2.3× (1.4–3.8×)"
    difference: float  # the estimate, log scale
    low: float
    high: float
    supported: bool


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" role="img" {_FONT} font-size="12">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, s: str, *, anchor: str = "start", fill: str = INK, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{extra}>{escape(s)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def views_vs_baseline(points: Sequence[Point], *, ratio: float | None = None) -> str:
    """Log-log scatter of each reel's views against its account's baseline, viral reels highlighted.

    The dashed diagonal is "as usual" (1×); `ratio`, when given, draws the viral threshold line too.
    """
    w, h, left, right, top, bottom = 640, 440, 64, 16, 30, 52
    pts = [p for p in points if p.baseline > 0 and p.views > 0]
    if not pts:
        return _svg(
            w, 80, "Views vs account baseline", [_text(w / 2, 44, "No labelled reels yet.", anchor="middle")]
        )
    logs = [math.log10(v) for p in pts for v in (p.baseline, p.views)]
    lo, hi = math.floor(min(logs)), math.ceil(max(logs))
    hi = hi if hi > lo else lo + 1
    pw, ph = w - left - right, h - top - bottom

    def x(v: float) -> float:
        return left + (math.log10(v) - lo) / (hi - lo) * pw

    def y(v: float) -> float:
        return top + ph - (math.log10(v) - lo) / (hi - lo) * ph

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{GRID}"/>']
    for e in range(lo, hi + 1):
        tick, at = compact(10.0**e), 10.0**e
        body += [_line(x(at), top, x(at), top + ph, GRID), _line(left, y(at), left + pw, y(at), GRID)]
        body.append(_text(x(at), top + ph + 16, tick, anchor="middle", fill=OTHER))
        body.append(_text(left - 6, y(at) + 4, tick, anchor="end", fill=OTHER))
    lines = [(1.0, OTHER, "1× baseline")]
    if ratio and ratio > 0:
        lines.append((ratio, VIRAL, f"{ratio:g}× baseline: viral threshold"))
    legend = [("viral", VIRAL, False), ("other reels", OTHER, False), *((n, c, True) for _, c, n in lines)]
    for k, colour, _ in lines:
        a, b = 10.0**lo, 10.0**hi / k  # the line views = k × baseline, across the plot
        if b > a:
            body.append(
                _line(x(a), y(a * k), x(b), y(b * k), colour, ' stroke-dasharray="5 4" stroke-width="1.2"')
            )
    for p in sorted(pts, key=lambda p: p.viral):  # viral reels drawn last, on top
        r, colour, opacity = (5, VIRAL, 0.9) if p.viral else (3.5, OTHER, 0.55)
        ratio_x = p.views / p.baseline
        tip = f"{p.label}: {compact(p.views)} views, baseline {compact(p.baseline)} ({ratio_x:.1f}×)"
        body.append(
            f'<circle cx="{x(p.baseline):.1f}" cy="{y(p.views):.1f}" r="{r}" '
            f'fill="{colour}" fill-opacity="{opacity}"><title>{escape(tip)}</title></circle>'
        )
    body.append(
        _text(left + pw / 2, h - 12, "Account baseline: median views of its other reels", anchor="middle")
    )
    body.append(
        _text(14, top + ph / 2, "Views", anchor="middle", extra=f' transform="rotate(-90 14 {top + ph / 2})"')
    )
    body.append(_legend(left, 16, legend))
    return _svg(w, h, "Each reel's views against its account's usual views (log scales)", body)


def lifts(rows: Sequence[Interval], *, confidence: float = 0.95) -> str:
    """Each finding's within-account lift on one log scale: a dot for the estimate (`difference`, the
    log-lift) and a bar for its interval; the dashed line is 1× (no effect)."""
    w, row_h, top, label_w, plot_w = 760, 34, 38, 270, 280
    if not rows:
        return _svg(
            w, 60, "Within-account lift per finding", [_text(w / 2, 34, "No findings yet.", anchor="middle")]
        )
    h = top + row_h * len(rows) + 24
    cx = label_w + plot_w / 2
    m = max(max(abs(r.low), abs(r.high), abs(r.difference)) for r in rows) or 1.0
    m = max(m, math.log(2))

    def x(v: float) -> float:
        return cx + max(-m, min(m, v)) / m * (plot_w / 2 - 8)

    body = [
        _text(cx - 8, 16, "← fewer views", anchor="end", fill=OTHER),
        _text(cx + 8, 16, "more views →", fill=OTHER),
        _text(label_w + plot_w + 16, 16, "vs same account's other reels", fill=OTHER),
        _line(cx, top - 12, cx, h - 20, INK, ' stroke-dasharray="3 3"'),
    ]
    for tick in (0.25, 0.5, 1.0, 2.0, 4.0):
        if abs(math.log(tick)) <= m:
            body.append(_text(x(math.log(tick)), h - 6, f"{tick:g}×", anchor="middle", fill=OTHER))
    for i, r in enumerate(rows):
        mid = top + i * row_h + row_h / 2
        colour = VIRAL if r.supported else MUTED
        tip = f"{r.label}: {r.values}; {confidence * 100:g}% interval shown as the bar"
        body += [
            f'<rect x="0" y="{mid - row_h / 2:.1f}" width="{w}" height="{row_h}" '
            f'fill="{GRID if i % 2 else "none"}" fill-opacity="0.5"/>',
            _text(label_w - 10, mid + 4, r.label, anchor="end"),
            f'<line x1="{x(r.low):.1f}" y1="{mid:.1f}" x2="{x(r.high):.1f}" y2="{mid:.1f}" stroke="{colour}" '
            f'stroke-width="4" stroke-linecap="round"><title>{escape(tip)}</title></line>',
            f'<circle cx="{x(r.difference):.1f}" cy="{mid:.1f}" r="6" fill="{colour}" stroke="white"/>',
            _text(label_w + plot_w + 16, mid + 4, r.values, fill=INK if r.supported else OTHER),
        ]
    return _svg(w, h, "Within-account lift per finding (log scale)", body)


def label_bars(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Stacked horizontal bars: each account's reels by virality label, most viral reels first."""
    w, row_h, top, label_w, bar_w = 640, 24, 34, 170, 380
    if not counts:
        return _svg(w, 60, "Labels per account", [_text(w / 2, 34, "No reels yet.", anchor="middle")])
    order = sorted(counts, key=lambda u: (-counts[u].get("viral", 0), -sum(counts[u].values()), u))
    present = {k for c in counts.values() for k, n in c.items() if n}
    labels = [k for k in LABEL_COLOURS if k in present] + sorted(present - set(LABEL_COLOURS))
    most = max(sum(c.values()) for c in counts.values()) or 1
    h = top + row_h * len(order) + 8
    body = [_legend(label_w, 14, [(k.replace("_", " "), LABEL_COLOURS.get(k, OTHER), False) for k in labels])]
    for i, user in enumerate(order):
        y, x = top + i * row_h, float(label_w)
        name = f"@{user}" if len(user) <= 20 else f"@{user[:19]}…"  # long handles would leave the chart
        body.append(_text(label_w - 8, y + row_h / 2 + 4, name, anchor="end"))
        for k in labels:
            n = counts[user].get(k, 0)
            if not n:
                continue
            width = n / most * bar_w
            body.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="{row_h - 6}" '
                f'fill="{LABEL_COLOURS.get(k, OTHER)}"><title>{escape(f"@{user}: {n} {k}")}</title></rect>'
            )
            x += width
        body.append(_text(x + 6, y + row_h / 2 + 4, str(sum(counts[user].values())), fill=OTHER))
    return _svg(w, h, "Reels per account by virality label", body)


def weekly_bars(weeks: Sequence[Any]) -> str:
    """Reels per posting week (grey) with the viral ones at the foot of each bar (orange) and the viral
    share of the week's scored reels above it. `weeks`: `trends.Week`s, oldest first."""
    w, h, top, bottom, left = 640, 220, 34, 30, 34
    if not weeks:
        return _svg(w, 60, "Viral reels per week", [_text(w / 2, 34, "No dated reels yet.", anchor="middle")])
    most = max(x.reels for x in weeks) or 1
    step = (w - left - 8) / len(weeks)
    bar = min(36.0, step * 0.7)
    ph = h - top - bottom
    body = [_legend(left, 14, [("viral", VIRAL, False), ("other reels", "#ced4da", False)])]
    for tick in sorted({0, most // 2, most}):
        y = top + ph - tick / most * ph
        body += [_line(left, y, w - 8, y, GRID), _text(left - 6, y + 4, str(tick), anchor="end", fill=OTHER)]
    for k, week in enumerate(weeks):
        x = left + k * step + (step - bar) / 2
        total, viral = week.reels / most * ph, week.viral / most * ph
        label = week.start.strftime("%-d %b")
        share = "—" if week.share is None else f"{week.share * 100:.0f}%"
        tip = f"week of {label}: {week.reels} reels, {week.viral} viral ({share} of those scored)"
        body += [
            f'<rect x="{x:.1f}" y="{top + ph - total:.1f}" width="{bar:.1f}" height="{total:.1f}" '
            f'fill="#ced4da"><title>{escape(tip)}</title></rect>',
            f'<rect x="{x:.1f}" y="{top + ph - viral:.1f}" width="{bar:.1f}" height="{viral:.1f}" '
            f'fill="{VIRAL}"><title>{escape(tip)}</title></rect>',
        ]
        if week.viral:
            body.append(_text(x + bar / 2, top + ph - total - 4, share, anchor="middle", fill=VIRAL))
        if len(weeks) <= 8 or (len(weeks) - 1 - k) % 2 == 0:  # every other week, the last one labelled
            body.append(_text(x + bar / 2, h - 10, label, anchor="middle", fill=OTHER))
    return _svg(w, h, "Reels and viral reels per posting week", body)


def _legend(x: float, y: float, items: Sequence[tuple[str, str, bool]]) -> str:
    """A row of swatches (or dashed lines) with their names."""
    parts = []
    for name, colour, dashed in items:
        if dashed:
            parts.append(_line(x, y - 4, x + 18, y - 4, colour, ' stroke-dasharray="5 4" stroke-width="1.2"'))
            x += 8
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, y, name))
        x += 24 + 6.5 * len(name)
    return "".join(parts)
