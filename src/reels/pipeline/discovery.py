"""Finding and rotating accounts over the tables: `discover` (candidates, their profiles, scores, trials)
and `rotate` (the week's changes). Every actor run goes through the one `ApifyActors` runner; a failed
discovery actor is a note, never the end of the run."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import timedelta

from reels.accounts import candidates, scoring
from reels.accounts.rotation import TRACKED, Change, Performance, plan
from reels.errors import SourceError
from reels.pipeline.accounts import accounts, latest_snapshots, profiles, tracked
from reels.pipeline.job import Job
from reels.records import Account, StageCounts, as_row
from reels.sources.actors import ApifyActors
from reels.sources.apify import actor_input
from reels.sources.ingest import parse_items
from reels.sources.profiles import hashtag_input, parse_hashtag_posts
from reels.storage import Cond
from reels.storage.tables import ACCOUNTS, REELS

WINDOW = timedelta(weeks=8)  # an account's performance: its reels posted in this window


def discover(job: Job, actors: ApifyActors) -> StageCounts:
    """New candidates from related profiles, hashtag owners and caption mentions; then the profiles of the
    unscored candidates (cheap signals: scored, or excluded with the reason); then a trial scrape of the
    best few. Bounded by `[accounts]` profiles_per_run, hashtags_per_run, hashtag_results, trial_*."""
    s = job.settings.accounts
    counts = StageCounts("discover")
    names = tracked(job)
    found = candidates.related(latest_snapshots(job, names).values())
    captions = job.rows(REELS, ("username", "caption"), [Cond("username", "in", names)]) if names else []
    found = candidates.mentioned((r["username"], r["caption"]) for r in captions) | found
    try:
        found = _hashtag_owners(job, actors, counts) | found
    except SourceError as exc:
        counts.notes.append(f"hashtag scrape failed, other sources still used: {exc}")
    known = {r["username"] for r in job.rows(ACCOUNTS, ("username",))}
    new = candidates.new_candidates(found, known, job.now)
    job.merge(ACCOUNTS, [as_row(a) for a in new])
    for origin in Counter(a.origin.split(":")[0] for a in new).elements():
        counts.add(f"new_from_{origin}")
    unscored = [a.username for a in accounts(job, [Cond("status", "=", "candidate")]) if a.score is None]
    try:
        _profile_and_score(job, actors, unscored[: s.profiles_per_run], counts)
        _trial(job, actors, counts)
    except SourceError as exc:
        counts.notes.append(f"candidate scrape failed; the next discover goes on from here: {exc}")
    return counts


def rotate(job: Job, *, dry_run: bool = False) -> tuple[StageCounts, list[Change]]:
    """The week's changes under the `[accounts]` policy; written unless `dry_run`."""
    counts = StageCounts("rotate")
    rows = accounts(job)
    names = [a.username for a in rows if a.status in TRACKED]
    changes, updated = plan(
        rows, latest_snapshots(job, names), _performance(job, names), job.settings.accounts, job.now
    )
    for change in changes:
        counts.add(f"to_{change.new}")
    if not dry_run:
        job.merge(ACCOUNTS, [as_row(a) for a in updated])
    counts.notes += [c.line() for c in changes] or ["no change: every tracked account stays, no slot is free"]
    return counts, changes


def _hashtag_owners(job: Job, actors: ApifyActors, counts: StageCounts) -> dict[str, str]:
    s = job.settings.accounts
    if not s.hashtags or not s.hashtags_per_run:
        return {}
    week = job.now.isocalendar().week  # take turns through the list, a few tags a week
    n = min(s.hashtags_per_run, len(s.hashtags))
    tags = [s.hashtags[(week * n + i) % len(s.hashtags)] for i in range(n)]
    scrape = actors.run(
        s.hashtag_actor_id,
        hashtag_input(tags, s.hashtag_results),
        purpose="hashtags",
        setting="[accounts] hashtag_actor_id",
    )
    posts, skipped = parse_hashtag_posts(scrape.items)
    actors.ingested(scrape)
    counts.add("hashtag_posts", len(posts))
    counts.add("cost_usd_micros", round((scrape.cost_usd or 0.0) * 1e6))
    if skipped:
        counts.notes.append(f"{skipped} hashtag item(s) were error rows or unreadable")
    return candidates.hashtag_owners(posts)


def _profile_and_score(job: Job, actors: ApifyActors, names: list[str], counts: StageCounts) -> None:
    if not names:
        return
    scraped = profiles(job, actors, names, purpose="candidate-profiles")
    counts.add("cost_usd_micros", scraped.counts.get("cost_usd_micros", 0))
    snapshots = latest_snapshots(job, names)
    rows = []
    for account in accounts(job, names=names):
        snap = snapshots.get(account.username)
        if snap is None or snap.status == "error":
            continue  # the scrape did not reach it: scored on a later discover
        found = scoring.signals(snap, job.settings.accounts, job.now)
        rows.append(_scored(job, account, found, scoring.exclusion(snap, found, job.settings.accounts)))
    job.merge(ACCOUNTS, rows)
    counts.add("profiled", len(rows))
    counts.add("excluded", sum(1 for r in rows if r["status"] == "excluded"))


def _trial(job: Job, actors: ApifyActors, counts: StageCounts) -> None:
    """A small scrape of the reels of the best candidates not yet tried: their plays replace the
    profile's view counts in the score."""
    s = job.settings.accounts
    waiting = [a for a in accounts(job, [Cond("status", "=", "candidate")]) if a.score is not None]
    untried = [a for a in waiting if json.loads(a.signals or "{}").get("trial_reels") is None]
    best = sorted(untried, key=lambda a: (-(a.score or 0.0), a.username))[: s.trial_candidates]
    if not best:
        return
    settings = job.settings.apify
    scrape = actors.run(
        settings.actor_id,
        actor_input(settings, [a.username for a in best], None, limit=s.trial_reels),
        purpose="trial",
    )
    batch = parse_items(scrape.items, source=scrape.source, scraped_at=scrape.scraped_at, run_id=job.run_id)
    actors.ingested(scrape)
    plays = defaultdict(list)
    for reel in batch.reels:
        if reel.views is not None:
            plays[reel.username].append(reel.views)
    snapshots = latest_snapshots(job, [a.username for a in best])
    rows = []
    for account in best:
        found = scoring.with_trial(
            scoring.signals(snapshots[account.username], s, job.now), plays[account.username]
        )
        why = None if plays[account.username] else "the trial scrape found no reels"
        rows.append(_scored(job, account, found, why))
    job.merge(ACCOUNTS, rows)
    counts.add("trialled", len(best))
    counts.add("cost_usd_micros", round((scrape.cost_usd or 0.0) * 1e6))


def _scored(job: Job, account: Account, found: scoring.Signals, excluded: str | None) -> dict[str, object]:
    row = as_row(account) | {"score": scoring.score(found), "signals": found.json(), "updated_at": job.now}
    row["followers"] = found.followers
    if excluded:
        return row | {"status": "excluded", "reason": excluded}
    return row | {"reason": f"scored {row['score']:.2f}, found as {account.origin}"}


def _performance(job: Job, names: list[str]) -> dict[str, Performance]:
    """Each account's reels: scored ones in the window (viral or not), their median views, the newest post."""
    if not names:
        return {}
    rows = job.rows(
        REELS, ("username", "views", "posted_at", "virality_label"), [Cond("username", "in", names)]
    )
    since = job.now - WINDOW
    by_name: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_name[row["username"]].append(row)
    out = {}
    for name, reels in by_name.items():
        scored = [
            r for r in reels if r["posted_at"] >= since and r["virality_label"] in ("viral", "not_viral")
        ]
        views = [r["views"] for r in scored if r["views"] is not None]
        out[name] = Performance(
            reels=len(scored),
            viral=sum(1 for r in scored if r["virality_label"] == "viral"),
            median_views=float(statistics.median(views)) if views else None,
            last_posted_at=max(r["posted_at"] for r in reels),
        )
    return out


__all__ = ["discover", "rotate"]
