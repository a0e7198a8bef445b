"""The playbook: 3–7 recommendations for the content team, each resting on supported findings.

A writer (a language model, or the template here) gets the supported findings as data: their ids,
statements, numbers and two or three example viral reels (captions are untrusted text, passed as quoted
data). Whatever it writes is then checked here: every cited id must be a supported finding of the run, and
a recommendation that cites none is dropped. When the model is not configured, fails, or cites nothing
usable, the template writes one sentence per top finding instead, and `note` says why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from reels.errors import ReelsError
from reels.insights.wording import multiple_of, subject
from reels.records import Insight, Recommendation

MAX_CHARS = 600  # a recommendation longer than this is cut: it is a line in a report, not an essay
CAPTION_CHARS = 200


@dataclass(frozen=True)
class Draft:
    text: str
    insight_ids: tuple[str, ...]


@dataclass(frozen=True)
class Drafted:
    """A writer's answer and what it cost."""

    drafts: tuple[Draft, ...]
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


class PlaybookWriter(Protocol):
    name: str  # the `writer` column: gemini | template
    model: str | None
    prompt_version: str | None

    def write(self, evidence: Sequence[Mapping[str, Any]], size: int) -> Drafted:
        """Recommendations from the evidence (at most `size`). Raises a ReelsError on failure."""
        ...


class TemplateWriter:
    """One sentence per supported finding, the strongest first: no model, no cost. Findings over exactly
    the same reels (fast pacing and many shots, as the local analyzer derives one from the other) make one
    sentence citing them all."""

    name = "template"
    model: str | None = None
    prompt_version: str | None = "template.2"

    def write(self, evidence: Sequence[Mapping[str, Any]], size: int) -> Drafted:
        groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        for e in evidence:
            same_reels = (
                e["reels_with"],
                e["reels_without"],
                round(float(e["lift"]), 9),
                tuple(e["example_ids"]),
            )
            groups.setdefault(same_reels, []).append(e)
        drafts = []
        for group in list(groups.values())[:size]:
            e, also = group[0], [str(g["subject"]) for g in group[1:]]
            lift = float(e["lift"])
            more = lift >= 1
            who = str(e["subject"]) + (f" (the same reels as {', '.join(also)})" if also else "")
            shares = ""
            if e["viral_share_with"] is not None and e["viral_share_without"] is not None:
                shares = (
                    f", and {e['viral_share_with'] * 100:.0f}% of them went viral against "
                    f"{e['viral_share_without'] * 100:.0f}% of the rest"
                )
            verb = "Make more" if more else "Make fewer"
            # Plain words for the content team: the q-values and intervals are in the report's method section,
            # the example reels beside the recommendation.
            views = f"{multiple_of(lift)} the views of the same account's other reels"
            text = f"{verb} {who}: they get {views}{shares}."
            drafts.append(Draft(text, tuple(str(g["insight_id"]) for g in group)))
        return Drafted(tuple(drafts))


def evidence(
    supported: Sequence[Insight],
    reels: Mapping[str, Mapping[str, Any]],
    summaries: Mapping[str, str],
) -> list[dict[str, Any]]:
    """What a writer is given about each supported finding, strongest first: numbers and example reels."""
    out = []
    for i in supported:
        examples = []
        for pid in i.example_post_ids:
            reel = reels.get(pid, {})
            examples.append(
                dict(
                    post_id=pid,
                    account=str(reel.get("username") or ""),
                    caption=str(reel.get("caption") or "")[:CAPTION_CHARS],
                    summary=summaries.get(pid),
                    views_vs_account=reel.get("viral_ratio"),
                )
            )
        out.append(
            dict(
                insight_id=i.insight_id,
                subject=subject(i),
                statement=i.statement,
                lift=i.lift,
                ci=[i.ci_low, i.ci_high],
                q_value=i.q_value,
                viral_share_with=i.viral_share_with,
                viral_share_without=i.viral_share_without,
                reels_with=i.n_with,
                reels_without=i.n_without,
                accounts=i.accounts_with_both,
                example_ids=list(i.example_post_ids),
                examples=examples,
            )
        )
    return out


def write_playbook(
    writer: PlaybookWriter,
    evidence: Sequence[Mapping[str, Any]],
    *,
    size: int,
    run_id: str,
    insights_run_id: str,
    insights_fingerprint: str,
    now: datetime,
) -> list[Recommendation]:
    """The grounded recommendations, ranked 1..n; the template's when the writer fails or cites nothing.

    Rows carry `playbook_fingerprint` of the writer that answered: a model that failed is asked again on
    the next run, one whose answer was paid for (even if it cited nothing usable) is not.
    """
    if not evidence:
        return []
    allowed = {str(e["insight_id"]) for e in evidence}
    answered, note = writer, None
    try:
        drafted = writer.write(evidence, size)
        kept = grounded(drafted.drafts, allowed, size)
        if not kept:
            note = f"{writer.name} cited no supported finding: the template wrote the playbook"
    except ReelsError as exc:
        answered, drafted, kept = TemplateWriter(), Drafted(()), []
        note = f"{writer.name} failed ({exc}): the template wrote the playbook"
    used: PlaybookWriter = writer if kept else TemplateWriter()
    if not kept:
        kept = list(used.write(evidence, size).drafts)
    fingerprint = playbook_fingerprint(insights_fingerprint, answered, size)
    return [
        Recommendation(
            run_id=run_id,
            rank=rank,
            recommendation=d.text,
            insight_ids=list(d.insight_ids),
            insights_run_id=insights_run_id,
            writer=used.name,
            model=used.model,
            prompt_version=used.prompt_version,
            # The call's tokens and cost once, on the first line (paid even when its answer was unusable).
            input_tokens=drafted.input_tokens if rank == 1 else None,
            output_tokens=drafted.output_tokens if rank == 1 else None,
            cost_usd=drafted.cost_usd if rank == 1 else None,
            note=note,
            input_fingerprint=fingerprint,
            created_at=now,
        )
        for rank, d in enumerate(kept, start=1)
    ]


def grounded(drafts: Sequence[Draft], allowed: set[str], size: int) -> list[Draft]:
    """Drafts citing at least one allowed id, with only those ids, cut to MAX_CHARS, at most `size`."""
    out = []
    for d in drafts:
        ids = tuple(dict.fromkeys(i for i in d.insight_ids if i in allowed))
        text = " ".join(d.text.split())
        if ids and text:
            out.append(Draft(text[: MAX_CHARS - 1] + "…" if len(text) > MAX_CHARS else text, ids))
    return out[:size]


def playbook_fingerprint(insights_fingerprint: str, writer: PlaybookWriter, size: int) -> str:
    """What a playbook depends on: the findings it was written from and who wrote it."""
    parts = [insights_fingerprint, writer.name, writer.model, writer.prompt_version, size]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


__all__ = [
    "Draft",
    "Drafted",
    "PlaybookWriter",
    "TemplateWriter",
    "evidence",
    "grounded",
    "playbook_fingerprint",
    "write_playbook",
]
