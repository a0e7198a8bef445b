"""`reels batches`: the Gemini batches (list), collecting the finished ones (collect, e.g. as a later job task
than the one that submitted them) and cancelling pending ones (cancel: their reels are asked again)."""

from __future__ import annotations

from typing import Any

import click

from reels.cli.session import Session, command, common_options, echo_stage, open_session, user_errors
from reels.pipeline import batches, components
from reels.pipeline.runs import RunLog
from reels.storage.tables import GEMINI_BATCHES


@click.group("batches", invoke_without_command=True)
@click.pass_context
def batches_cmd(ctx: click.Context) -> None:
    """Gemini batches ([gemini] mode = "batch"): list them (default), collect the finished ones, cancel."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(batches_list)


@batches_cmd.command("list")
@common_options
@click.option("--all", "show_all", is_flag=True, help="Also the batches already collected.")
def batches_list(show_all: bool = False, **options: Any) -> None:
    """The pending batches (with --all, every batch): state, reels, answers, cost."""
    with user_errors():
        s = open_session(**options)
        rows = s.job.rows(GEMINI_BATCHES) if s.job.store.exists(GEMINI_BATCHES) else []
    shown = sorted(
        (r for r in rows if show_all or r["collected_at"] is None), key=lambda r: r["submitted_at"]
    )
    for r in shown:
        click.echo(
            f"{r['batch_id']:<40} {r['job_name'] or '—':<22} {r['state']:<10} {len(r['post_ids'] or ()):>6} "
            f"reels  {r['answered'] or 0:>6} answered  {r['requeued'] or 0:>5} requeued  "
            f"${r['cost_usd'] or 0:.4f}  {r['error'] or ''}".rstrip()
        )
    pending = sum(1 for r in rows if r["collected_at"] is None)
    click.echo(f"{pending} pending, {len(rows) - pending} collected (table gemini_batches).", err=True)


@batches_cmd.command("collect")
@common_options
@click.option(
    "--wait", "wait_s", type=click.FloatRange(min=0), default=0.0, help="Wait up to this many seconds."
)
@command("batches collect")
def batches_collect(s: Session, log: RunLog, wait_s: float, **_: Any) -> None:
    """Collect the batches that finished: their answers into analyses, at the batch price. Submits nothing."""
    if not batches.active_batches(s.job):  # nothing to ask: no key needed (a scheduled task, batch mode off)
        click.echo("No Gemini batch is pending.")
        return
    echo_stage(log, batches.collect_batches(s.job, components.batcher(s.settings, s.secrets), wait_s=wait_s))


@batches_cmd.command("cancel")
@common_options
@click.argument("batch_ids", nargs=-1)
@command("batches cancel")
def batches_cancel(s: Session, log: RunLog, batch_ids: tuple[str, ...], **_: Any) -> None:
    """Cancel pending batches (these ids, or all): their reels go back to be analyzed again."""
    batcher = components.batcher(s.settings, s.secrets)
    echo_stage(log, batches.cancel_batches(s.job, batcher, frozenset(batch_ids)))


__all__ = ["batches_cmd"]
