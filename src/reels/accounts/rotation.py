"""The weekly rotation: which accounts are scraped next week, and why (README "Accounts").

Policy, all of it from `[accounts]`:

- `core` accounts (the config and the accounts file seed them) are kept, unless they cannot be scraped any
  more: the profile is gone (`not_found`), it went private, or it stopped posting (`inactive_days`);
- `explore` accounts get the same checks, and are also retired when their reels stayed below the bar
  (median views under `bar_ratio` × the tracked accounts' median) for `retire_after_weeks`, and promoted
  to `core` once, after `promote_after_weeks`, at least `promote_viral_rate` of their reels went viral;
- the `explore_slots` left free are filled with the best-scored candidates (`accounts.scoring`).

Pure: the tables' rows in, the changes and the updated rows out; the clock is passed in.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reels.config import AccountsSettings
from reels.records import Account, AccountSnapshot

TRACKED = ("core", "explore")
MIN_REELS = 3  # fewer scored reels than this say nothing about an account's bar


@dataclass(frozen=True)
class Performance:
    """An account's reels in the tables: how many were scored, how many went viral, their median views."""

    reels: int
    viral: int
    median_views: float | None
    last_posted_at: datetime | None


@dataclass(frozen=True)
class Change:
    username: str
    old: str
    new: str
    reason: str

    def line(self) -> str:
        return f"{self.username}: {self.old} → {self.new}: {self.reason}"


def plan(
    accounts: Sequence[Account],
    snapshots: Mapping[str, AccountSnapshot],
    performance: Mapping[str, Performance],
    settings: AccountsSettings,
    now: datetime,
) -> tuple[list[Change], list[Account]]:
    """The week's status changes, and every account row that differs after them (to be written)."""
    medians = [p.median_views for u, p in performance.items() if p.median_views is not None and p.reels]
    niche = statistics.median(medians) if medians else None
    changes: list[Change] = []
    after: dict[str, Account] = {}
    for account in accounts:
        updated = _measured(account, snapshots.get(account.username), performance.get(account.username), now)
        if account.status in TRACKED:
            updated = _judged(updated, snapshots.get(account.username), performance, niche, settings, now)
        if updated.status != account.status:
            changes.append(Change(account.username, account.status, updated.status, updated.reason))
        after[account.username] = updated
    free = settings.explore_slots - sum(1 for a in after.values() if a.status == "explore")
    waiting = sorted(
        (a for a in after.values() if a.status == "candidate" and a.score is not None),
        key=lambda a: (-(a.score or 0.0), a.username),
    )
    for account in waiting[: max(0, free)]:
        reason = f"rotated in: score {account.score:.2f}, found as {account.origin}"
        after[account.username] = replace(
            account, status="explore", rotated_in_at=now, reason=reason, updated_at=now
        )
        changes.append(Change(account.username, "candidate", "explore", reason))
    by_name = {a.username: a for a in accounts}
    return changes, [a for a in after.values() if a != by_name[a.username]]


def _measured(
    account: Account, snapshot: AccountSnapshot | None, perf: Performance | None, now: datetime
) -> Account:
    """The account with its latest followers, median views and viral rate."""
    values = {}
    if snapshot is not None and snapshot.followers is not None:
        values["followers"] = snapshot.followers
    if perf is not None and perf.reels:
        values["median_views"] = perf.median_views
        values["viral_rate"] = round(perf.viral / perf.reels, 4)
    changed = any(getattr(account, k) != v for k, v in values.items())
    return replace(account, **values, updated_at=now) if changed else account


def _judged(
    account: Account,
    snapshot: AccountSnapshot | None,
    performance: Mapping[str, Performance],
    niche: float | None,
    settings: AccountsSettings,
    now: datetime,
) -> Account:
    perf = performance.get(account.username)
    gone = _gone(snapshot, perf, settings, now)
    if gone:
        return replace(account, status="retired", retired_at=now, reason=gone, updated_at=now)
    below = (
        perf is not None
        and perf.reels >= MIN_REELS
        and niche is not None
        and perf.median_views is not None
        and perf.median_views < settings.bar_ratio * niche
    )
    since = (account.below_bar_since or now) if below else None
    if since != account.below_bar_since:
        account = replace(account, below_bar_since=since, updated_at=now)
    if account.status != "explore":
        return account
    if since is not None and now - since >= timedelta(weeks=settings.retire_after_weeks):
        assert perf is not None and perf.median_views is not None and niche
        weeks, ratio = (now - since).days // 7, perf.median_views / niche
        reason = (
            f"below the bar for {weeks} weeks: median views {perf.median_views:,.0f}, {ratio:.2f}× the "
            f"tracked accounts' {niche:,.0f} (bar: {settings.bar_ratio:g}×)"
        )
        return replace(account, status="retired", retired_at=now, reason=reason, updated_at=now)
    trial_over = account.rotated_in_at is not None and now - account.rotated_in_at >= timedelta(
        weeks=settings.promote_after_weeks
    )
    rate = account.viral_rate
    performs = rate is not None and rate >= settings.promote_viral_rate
    if trial_over and performs and perf is not None and perf.reels >= MIN_REELS:
        assert account.rotated_in_at is not None
        reason = (
            f"promoted: {perf.viral} of its {perf.reels} scored reels went viral ({rate:.0%} "
            f"≥ {settings.promote_viral_rate:.0%}) in {(now - account.rotated_in_at).days // 7} weeks"
        )
        return replace(account, status="core", reason=reason, updated_at=now)
    return account


def _gone(
    snapshot: AccountSnapshot | None, perf: Performance | None, settings: AccountsSettings, now: datetime
) -> str | None:
    """Why a tracked account cannot be scraped any more, or None."""
    if snapshot is not None and snapshot.status == "not_found":
        return f"not_found: the profile is gone ({snapshot.error or 'no profile'})"
    if snapshot is not None and (snapshot.status == "private" or snapshot.private):
        return "went private: its reels cannot be scraped"
    seen = [
        t for t in (perf.last_posted_at if perf else None, snapshot.last_post_at if snapshot else None) if t
    ]
    if seen and now - max(seen) > timedelta(days=settings.inactive_days):
        return f"stopped posting: last post {(now - max(seen)).days} days ago (> {settings.inactive_days})"
    return None


__all__ = ["TRACKED", "Change", "Performance", "plan"]
