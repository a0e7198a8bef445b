"""The accounts over the tables: seeding `accounts` from the settings, who is tracked, and the profiles
of the tracked accounts into `account_snapshots` (followers for the labels and the report)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa

from reels.accounts.rotation import TRACKED
from reels.errors import ConfigError, SourceError
from reels.pipeline.job import Job
from reels.records import Account, AccountSnapshot, StageCounts, as_row
from reels.sources.actors import ApifyActors
from reels.sources.profiles import parse_profiles, profile_input
from reels.storage import Cond
from reels.storage.tables import ACCOUNT_SNAPSHOTS, ACCOUNTS, QUARANTINE, RUNS


def accounts(job: Job, where: Sequence[Cond] = (), names: Iterable[str] | None = None) -> list[Account]:
    """The rows of `accounts` (matching `where`, of `names` when given) as records."""
    keys = _names(names) if names is not None else None
    return [Account(**row) for row in job.rows(ACCOUNTS, where=where, keys=keys)]


def seed(job: Job, seeds: Iterable[tuple[str, str]]) -> int:
    """Add the (username, origin) seeds the table does not hold yet as `core`; returns how many were new.
    A seed already in the table keeps its row: a retired or excluded account stays so until `reels accounts
    add` brings it back."""
    wanted = dict(reversed(list(seeds)))  # the first origin of a name wins
    if not wanted:
        return 0
    known = {r["username"] for r in job.rows(ACCOUNTS, ("username",), keys=_names(wanted))}
    new = [
        Account(name, "core", origin, job.now, f"listed in the {origin}", job.now)
        for name, origin in wanted.items()
        if name not in known
    ]
    return job.merge(ACCOUNTS, [as_row(a) for a in new])[0]


def set_status(job: Job, names: Sequence[str], status: str, reason: str) -> str:
    """Give the named accounts `status` (adding the unknown ones, origin `added`); says what changed."""
    known = {a.username: a for a in accounts(job, names=names)}
    rows = []
    for name in names:
        before = known.get(name) or Account(name, status, "added", job.now, reason, job.now)
        if name in known and before.status == status:
            continue
        retired = job.now if status in ("retired", "excluded") else None
        rotated = before.rotated_in_at if status in TRACKED else None
        rows.append(
            as_row(before) | dict(status=status, reason=reason, updated_at=job.now, retired_at=retired)
        )
        rows[-1]["rotated_in_at"] = rotated
    job.merge(ACCOUNTS, rows)
    return f"{len(rows)} account(s) now {status}" + (
        f": {', '.join(r['username'] for r in rows)}" if rows else ""
    )


def tracked(job: Job) -> list[str]:
    """The accounts scraped for reels: core first, then explore, each by name."""
    rows = accounts(job, [Cond("status", "in", list(TRACKED))])
    return [a.username for a in sorted(rows, key=lambda a: (TRACKED.index(a.status), a.username))]


def latest_snapshots(job: Job, usernames: Iterable[str] | None = None) -> dict[str, AccountSnapshot]:
    """Each account's newest profile snapshot (of the given accounts, or of all)."""
    keys = _names(usernames) if usernames is not None else None
    newest: dict[str, AccountSnapshot] = {}
    for row in job.rows(ACCOUNT_SNAPSHOTS, keys=keys):
        if row["username"] not in newest or row["scraped_at"] > newest[row["username"]].scraped_at:
            newest[row["username"]] = AccountSnapshot(**row)
    return newest


def followers(job: Job) -> dict[str, int]:
    """Each account's follower count from its newest profile snapshot that had one."""
    table = job.store.read(
        ACCOUNT_SNAPSHOTS, ("username", "scraped_at", "followers"), [Cond("followers", "is not null")]
    )
    newest: dict[str, tuple[Any, int]] = {}
    for name, at, count in zip(*(table[c].to_pylist() for c in table.column_names), strict=True):
        if name not in newest or at > newest[name][0]:
            newest[name] = (at, count)
    return {name: count for name, (_, count) in newest.items()}


def profiles(
    job: Job, actors: ApifyActors, usernames: Sequence[str] | None = None, *, purpose: str = "profiles"
) -> StageCounts:
    """Scrape the profiles of `usernames` (default: the tracked accounts, the least recently seen first)
    into `account_snapshots`, at most `[accounts] profiles_per_run` of them; refresh `accounts.followers`.
    Raises SourceError when the actor fails (the caller decides whether that stops anything)."""
    s = job.settings.accounts
    counts = StageCounts("profiles")
    if usernames is None:
        names = tracked(job)
        seen = latest_snapshots(job, names)
        usernames = sorted(names, key=lambda n: (n in seen, seen[n].scraped_at if n in seen else None))
    part = list(usernames)[: s.profiles_per_run]  # the rest wait for the next run: the cost is bounded
    if part:
        scrape = actors.run(
            s.profile_actor_id,
            profile_input(part),
            purpose=purpose,
            setting="[accounts] profile_actor_id",
        )
        batch = parse_profiles(
            scrape.items, asked=part, source=scrape.source, scraped_at=scrape.scraped_at, run_id=job.run_id
        )
        job.merge(ACCOUNT_SNAPSHOTS, [as_row(snap) for snap in batch.snapshots])
        job.merge(QUARANTINE, [as_row(q) for q in batch.quarantine])
        actors.ingested(scrape)
        counts.add("cost_usd_micros", round((scrape.cost_usd or 0.0) * 1e6))
        for snap in batch.snapshots:
            counts.add(snap.status)
        counts.add("quarantined", len(batch.quarantine))
        _refresh_followers(job, batch.snapshots)
    return counts


def refresh_profiles(job: Job, actors: ApifyActors) -> StageCounts:
    """`profiles` of the tracked accounts, as a note when the actor fails: the reels are scraped already,
    and the labels keep the last known followers."""
    try:
        return profiles(job, actors)
    except (SourceError, ConfigError) as exc:  # e.g. no such actor: the reel scrape stands
        counts = StageCounts("profiles")
        counts.notes.append(f"profile scrape failed, the labels use the last known followers: {exc}")
        return counts


def due(job: Job, command: str) -> str | None:
    """None when `command` is due (no successful run in the last `[accounts] every_days`), else why not."""
    days = job.settings.accounts.every_days
    since = job.now - timedelta(days=days)
    done = job.rows(RUNS, ("started_at",), [Cond("command", "=", command), Cond("status", "=", "ok")])
    recent = [r["started_at"] for r in done if r["started_at"] >= since]
    if recent:
        return (
            f"not due: `reels {command}` ran at {max(recent):%Y-%m-%d %H:%M} UTC, less than {days} days ago"
        )
    return None


def _refresh_followers(job: Job, snapshots: Sequence[AccountSnapshot]) -> None:
    known = {a.username: a for a in accounts(job, names=[s.username for s in snapshots])}
    rows = [
        as_row(known[s.username]) | {"followers": s.followers, "updated_at": job.now}
        for s in snapshots
        if s.username in known and s.followers is not None and known[s.username].followers != s.followers
    ]
    job.merge(ACCOUNTS, rows)


def _names(usernames: Iterable[str]) -> pa.Table:
    return pa.table({"username": pa.array(list(dict.fromkeys(usernames)), pa.string())})


__all__ = [
    "accounts",
    "followers",
    "latest_snapshots",
    "profiles",
    "refresh_profiles",
    "seed",
    "set_status",
    "tracked",
]
