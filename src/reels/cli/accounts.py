"""`reels accounts`: the accounts table (list), editing the tracked set (add, remove), and finding and
rotating accounts (discover, rotate). Discover and rotate are recorded runs; discover pays for actor runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reels.accounts.names import normalise_accounts, read_accounts, write_accounts
from reels.cli.session import Session, command, common_options, echo_stage, open_session, user_errors
from reels.pipeline import accounts, components, discovery
from reels.pipeline.runs import RunLog
from reels.records import Account


@click.group("accounts", invoke_without_command=True)
@click.pass_context
def accounts_cmd(ctx: click.Context) -> None:
    """The accounts: list them (default), add or remove, discover candidates, rotate the explore slots."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(accounts_list)


@accounts_cmd.command("list")
@common_options
@click.option("--all", "show_all", is_flag=True, help="Also candidates, retired and excluded accounts.")
def accounts_list(show_all: bool = False, **options: Any) -> None:
    """The tracked accounts (core, then explore), with origin, followers, score and why."""
    with user_errors():
        s = open_session(**options)
        components.tracked_accounts(s.job)  # seeds the table from [apify] accounts and the accounts file
        rows = accounts.accounts(s.job)
    order = ("core", "explore", "candidate", "retired", "excluded")
    shown = sorted(
        (a for a in rows if show_all or a.status in ("core", "explore")),
        key=lambda a: (order.index(a.status) if a.status in order else 9, -(a.score or 0), a.username),
    )
    for a in shown:
        click.echo(_line(a))
    tally = ", ".join(f"{n} {st}" for st in order if (n := sum(1 for a in rows if a.status == st)))
    click.echo(f"{tally or 'no accounts'} ({s.settings.apify.accounts_file}, table accounts).", err=True)


@accounts_cmd.command("add")
@common_options
@click.argument("names", nargs=-1, required=True)
def accounts_add(names: tuple[str, ...], **options: Any) -> None:
    """Track more accounts (usernames, @names or profile URLs): into the file, and `core` in the table."""
    with user_errors():
        s = open_session(**options)
        added = normalise_accounts(names)
        _edit_file(s, lambda current: [*current, *added])
        click.echo(accounts.set_status(s.job, added, "core", "added by `reels accounts add`"))


@accounts_cmd.command("remove")
@common_options
@click.argument("names", nargs=-1, required=True)
def accounts_remove(names: tuple[str, ...], **options: Any) -> None:
    """Stop tracking accounts: out of the file, and `retired` in the table."""
    with user_errors():
        s = open_session(**options)
        gone = normalise_accounts(names)
        _edit_file(s, lambda current: [a for a in current if a not in gone])
        click.echo(accounts.set_status(s.job, gone, "retired", "removed by `reels accounts remove`"))
    pinned = [a for a in normalise_accounts(s.settings.apify.accounts) if a in gone]
    if pinned:
        click.echo(
            f"Listed in [apify] accounts in the config, so they come back as new seeds only if the table "
            f"loses them: {', '.join(pinned)}.",
            err=True,
        )


_if_due = click.option(
    "--if-due",
    is_flag=True,
    help="Only if it has not run in the last [accounts] every_days (scheduled jobs).",
)


@accounts_cmd.command("discover")
@common_options
@_if_due
@command("accounts discover")
def accounts_discover(s: Session, log: RunLog, if_due: bool, **_: Any) -> None:
    """Find candidates (related profiles, cat hashtags, caption mentions), score them from their profiles,
    and try the best few with a small reel scrape. Costs Apify runs, bounded by [accounts] settings."""
    if if_due and (why := accounts.due(s.job, "accounts discover")):
        click.echo(why)
        return
    actors = components.apify_actors(s.job, s.secrets, notify=click.echo)
    components.tracked_accounts(s.job)
    counts = discovery.discover(s.job, actors)
    echo_stage(log, counts)
    click.echo(f"Cost ${counts.counts.get('cost_usd_micros', 0) / 1e6:.4f} (Apify runs)")


@accounts_cmd.command("rotate")
@common_options
@click.option("--dry-run", is_flag=True, help="Print what would change and why; write nothing.")
@_if_due
@command("accounts rotate")
def accounts_rotate(s: Session, log: RunLog, dry_run: bool, if_due: bool, **_: Any) -> None:
    """Apply the [accounts] policy: retire what stopped working, promote what performs, fill the explore
    slots with the best candidates. Prints every change and why."""
    if if_due and not dry_run and (why := accounts.due(s.job, "accounts rotate")):
        click.echo(why)
        return
    components.tracked_accounts(s.job)
    counts, _changes = discovery.rotate(s.job, dry_run=dry_run)
    if dry_run:
        counts.notes.insert(0, "dry run: nothing written")
    echo_stage(log, counts)


def _line(a: Account) -> str:
    followers = f"{a.followers:,}" if a.followers is not None else "—"
    score = f"{a.score:.2f}" if a.score is not None else "—"
    return f"{a.username:<30} {a.status:<9} {a.origin:<28} {followers:>11} {score:>5}  {a.reason}"


def _edit_file(s: Session, change: Any) -> None:
    path: Path = s.settings.apify.accounts_file
    updated = normalise_accounts(change(read_accounts(path)))
    write_accounts(path, updated)
    click.echo(f"{len(updated)} account(s) in {path}.")


__all__ = ["accounts_cmd"]
