"""The view model of each section of the report, from the rows `ReportData` holds: the playbook with its
numbers and example reels, the gallery cards, the accounts table and the health groups. Pure functions."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reels.insights import subject
from reels.insights.wording import multiple_of
from reels.records import Insight
from reels.report.trends import median_views, monday, utc

CAPTION_CHARS = 140
MAX_GROUP_EXAMPLES = 3


def safe_url(url: Any, post_id: Any = None) -> str:
    """An http(s) link, or the reel's Instagram address from its post_id, or "" (no link)."""
    if isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE):
        return url
    if isinstance(post_id, str) and re.fullmatch(r"[A-Za-z0-9_-]+", post_id):
        return f"https://www.instagram.com/reel/{post_id}/"
    return ""


def excerpt(text: str | None, limit: int = CAPTION_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def times(ratio: float | None) -> str:
    """A ratio to the account's usual views as people say it: "12×", "3.4×"."""
    if ratio is None:
        return "—"
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def age(posted: datetime | None, now: datetime) -> str:
    if posted is None:
        return ""
    days = (utc(now) - utc(posted)).days
    if days < 1:
        return "today"
    if days < 14:
        return f"{days} d ago"
    return posted.strftime("%-d %b %Y")


def card(
    reel: Mapping[str, Any],
    now: datetime,
    thumbnails: Mapping[str, str],
    about: str = "",
) -> dict[str, Any]:
    """One reel in the gallery: its thumbnail, its "N× usual views" badge, account, age and link."""
    pid = str(reel.get("post_id"))
    posted = utc(reel["posted_at"]) if reel.get("posted_at") else None
    return dict(
        post_id=pid,
        username=reel.get("username"),
        url=safe_url(reel.get("url"), pid),
        thumb=thumbnails.get(pid),
        badge=times(reel.get("viral_ratio")),
        ratio=reel.get("viral_ratio") or 0.0,
        views=reel.get("views"),
        baseline=reel.get("baseline_views"),
        tier=reel.get("virality_tier"),
        age=age(posted, now),
        posted=posted.strftime("%Y-%m-%d") if posted else "",
        week=monday(posted).strftime("%Y-%m-%d") if posted else "",
        caption=excerpt(reel.get("caption"), 90),
        reason=reel.get("virality_reason"),
        about=about,
    )


def plain(i: Insight) -> str:
    """A supported finding in words, with no statistics terms (those are in the method section); the same
    multiple the playbook gives (the within-account lift)."""
    who = subject(i)
    text = f"{who[:1].upper()}{who[1:]} get {multiple_of(i.lift)} the views of the same account's other reels"
    if i.viral_share_with is not None and i.viral_share_without is not None:
        text += f"; {i.viral_share_with:.0%} of them went viral, against {i.viral_share_without:.0%}"
    agree = f"{i.accounts_same_sign} of {i.accounts_with_both} accounts agree"
    return text + f" ({i.n_with} reels with it, {agree})."


def playbook_items(
    rows: Sequence[Mapping[str, Any]],
    insights: Mapping[str, Insight],
    cards: Mapping[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each recommendation with the numbers of the findings it rests on and up to three example reels."""
    out = []
    for r in sorted(rows, key=lambda r: int(r["rank"])):
        cited = [insights[c] for c in r.get("insight_ids") or [] if c in insights]
        examples: list[dict[str, Any]] = []
        for i in cited:
            for pid in i.example_post_ids:
                if pid in cards and all(e["post_id"] != pid for e in examples):
                    examples.append(cards[pid])
        first = cited[0] if cited else None
        out.append(
            dict(
                text=r["recommendation"],
                cites=[str(x) for x in r.get("insight_ids") or []],
                lift=multiple_of(first.lift) if first and first.lift else None,
                share_with=first.viral_share_with if first else None,
                share_without=first.viral_share_without if first else None,
                reels=first.n_with if first else None,
                accounts=first.accounts_with_both if first else None,
                examples=examples[:3],
            )
        )
    return out


def account_rows(
    posts: Sequence[Mapping[str, Any]],
    labels: Mapping[str, Counter[str]],
    accounts: Mapping[str, Mapping[str, Any]],
    limit: int,
) -> list[dict[str, Any]]:
    """Per account: status, followers, reels, median views, viral reels and viral rate, last post."""
    by_user: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for p in posts:
        by_user[str(p.get("username"))].append(p)
    rows = []
    tracked = {u for u, a in accounts.items() if (a or {}).get("status") in ("core", "explore")}
    for user in set(labels) | set(by_user) | tracked:  # a tracked account with no reel yet shows too
        counts = labels.get(user, Counter())
        scored = counts["viral"] + counts["not_viral"]
        known = accounts.get(user) or {}
        last = max((utc(p["posted_at"]) for p in by_user[user] if p.get("posted_at")), default=None)
        rows.append(
            dict(
                username=user,
                status=known.get("status") or "—",
                followers=known.get("followers"),
                reels=sum(counts.values()) or len(by_user[user]),
                median_views=median_views(by_user[user]),
                viral=counts["viral"],
                viral_rate=counts["viral"] / scored if scored else None,
                last_post=last.strftime("%Y-%m-%d") if last else "—",
            )
        )
    rows.sort(key=lambda a: (-(a["viral_rate"] or 0), -a["viral"], a["username"]))
    return rows[:limit]


def reason_kind(text: Any) -> str:
    """An error as the kind of error it is: addresses, ids (words with a digit in them) and numbers taken
    out, so that alike ones group and different ones (PERMISSION_DENIED, RESOURCE_EXHAUSTED) do not."""
    text = re.sub(r"https?://\S+", "<url>", str(text or "no reason recorded"))
    text = re.sub(r"\b(?=[\w-]*\d)[\w-]{6,}\b", "<id>", text)
    return re.sub(r"\d+(\.\d+)?", "N", text)[:160]


def quarantine_groups(reasons: Mapping[tuple[Any, ...], int], limit: int = 20) -> list[tuple[str, int]]:
    """Quarantined items per kind of reason (an id in a reason does not make a group of its own)."""
    groups: Counter[str] = Counter()
    first: dict[str, str] = {}
    for key, n in reasons.items():
        text = str(key[-1] or "no reason recorded")
        kind = reason_kind(text)
        groups[kind] += n
        first.setdefault(kind, text)
    return [(first[k], n) for k, n in groups.most_common(limit)]


def failure_groups(failures: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Failures grouped by stage, status and kind of reason, the largest groups first, with examples."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for f in failures:
        groups[(str(f.get("stage")), str(f.get("status")), reason_kind(f.get("error")))].append(f)
    out = [
        dict(
            stage=stage,
            status=status,
            reason=str(items[0].get("error") or "no reason recorded"),
            n=len(items),
            examples=[str(f.get("post_id")) for f in items[:MAX_GROUP_EXAMPLES]],
        )
        for (stage, status, _), items in groups.items()
    ]
    return sorted(out, key=lambda g: (-g["n"], g["stage"], g["reason"]))


__all__ = [
    "account_rows",
    "age",
    "card",
    "excerpt",
    "failure_groups",
    "plain",
    "playbook_items",
    "quarantine_groups",
    "reason_kind",
    "safe_url",
    "times",
]
