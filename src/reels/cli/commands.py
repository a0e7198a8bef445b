"""The `reels` command: a thin shell over the library. Each command loads settings, builds the components,
calls one pipeline function per stage and prints a short summary.

Exit status: 0 when the run completed (failed items are recorded, not fatal), 2 for a usage or configuration
error, 1 for anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reels import pipeline
from reels.cli.accounts import accounts_cmd
from reels.cli.batches import batches_cmd
from reels.cli.session import (
    Session,
    command,
    common_options,
    echo_stage,
    install_stop_handlers,
    open_session,
    user_errors,
)
from reels.pipeline import accounts, batches, components
from reels.pipeline.runs import RunLog
from reels.pipeline.status import lake_status
from reels.sources import ReelSource


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reels-etl", prog_name="reels")
def cli() -> None:
    """reels-etl: scrape cat Reels, label virality per account, download and analyze the videos, explain
    what wins. With no credentials it runs on the bundled sample with the local analyzer."""


_dataset_option = click.option(
    "--dataset-id",
    help="Read this finished Apify run's dataset instead of starting (and paying for) a new run.",
)


@cli.command("run")
@common_options
@_dataset_option
@command("run", uses_source=True, uses_analyzer=True)
def run_cmd(s: Session, log: RunLog, source: str, analyzer: str, dataset_id: str | None, **_: Any) -> None:
    """Run the whole pipeline: ingest → label → download → analyze → insights → report."""
    the_source = _source(s, source, dataset_id)
    the_analyzer = components.build_analyzer(analyzer, s.settings, s.secrets)
    writer = components.build_playbook_writer(s.settings, s.secrets)  # a bad setting stops before any work
    echo_stage(log, pipeline.ingest(s.job, the_source))
    _profiles(s, log, source, dataset_id)
    echo_stage(log, pipeline.label(s.job))
    measure = components.build_measurer(analyzer)
    batcher = components.build_batcher(analyzer, s.settings, s.secrets)
    with components.http_client(s.settings) as client:
        fallbacks = components.build_fallbacks(s.settings, s.secrets)
        if batcher is not None:  # one batch for the stored videos, once they are all stored
            echo_stage(log, pipeline.download(s.job, client, fallbacks))
            echo_stage(log, batches.analyze_in_batches(s.job, batcher, measure=measure))
        elif s.settings.analyze.overlap:  # each video analyzed as soon as it is stored
            for counts in pipeline.download_and_analyze(
                s.job, client, fallbacks, the_analyzer, measure=measure
            ):
                echo_stage(log, counts)
        else:
            echo_stage(log, pipeline.download(s.job, client, fallbacks))
            echo_stage(log, pipeline.analyze(s.job, the_analyzer, measure=measure))
    echo_stage(log, pipeline.insights(s.job))
    echo_stage(log, pipeline.playbook(s.job, writer))
    _echo_totals(s, log)
    click.echo(f"report    {pipeline.report(s.job, current_run=log.row('ok', None, datetime.now(UTC)))}")
    echo_stage(log, pipeline.maintain(s.job))


def _source(s: Session, choice: str, dataset_id: str | None) -> ReelSource:
    """The chosen source, saying on the terminal what a paid scrape is doing (its run id, how to resume)."""
    return components.build_source(
        choice,
        s.settings,
        s.secrets,
        job=s.job,
        dataset_id=dataset_id,
        notify=click.echo,
    )


def _profiles(s: Session, log: RunLog, source: str, dataset_id: str | None) -> None:
    """After an Apify scrape, the tracked accounts' profiles (followers for the labels); never fatal."""
    if source == "apify" and dataset_id is None and s.settings.accounts.profiles:
        actors = components.apify_actors(s.job, s.secrets, notify=click.echo)
        echo_stage(log, accounts.refresh_profiles(s.job, actors))


def _echo_totals(s: Session, log: RunLog) -> None:
    counts = {c.stage: c.counts for c in log.stages}
    fresh = (
        counts["ingest"].get("new_reels", 0) + counts["ingest"].get("updated_reels", 0),
        counts["download"].get("ok", 0),
        counts["analyze"].get("analyzed", 0),
    )
    if fresh == (0, 0, 0):
        click.echo(
            "Nothing new: every reel was already stored, downloaded and analyzed; no paid work was redone."
        )
    cost = {stage: c.get("cost_usd_micros", 0) / 1e6 for stage, c in counts.items()}
    scrape = cost.get("ingest", 0.0) + cost.get("profiles", 0.0)
    analysis, writing = (cost.get(k, 0.0) for k in ("analyze", "playbook"))
    click.echo(
        f"Cost ${scrape + analysis + writing:.4f} (scrape ${scrape:.4f}, analysis ${analysis:.4f}, "
        f"playbook ${writing:.4f})"
    )
    click.echo(f"Tables in {s.job.store.location} · videos in {s.settings.paths.media}/ · run {s.job.run_id}")


@cli.command("ingest")
@common_options
@_dataset_option
@click.option(
    "--ads", "ads_path", type=click.Path(path_type=Path), help="Read an ad-level export (CSV/XLSX) instead."
)
@command("ingest", uses_source=True)
def ingest_cmd(
    s: Session, log: RunLog, source: str, dataset_id: str | None, ads_path: Path | None, **_: Any
) -> None:
    """Read reel items from the source into reels, reel_snapshots and quarantine (or, with --ads, an ad export
    into ads)."""
    if ads_path is not None:
        echo_stage(log, pipeline.ingest_ads(s.job, ads_path))
        return
    the_source = _source(s, source, dataset_id)
    echo_stage(log, pipeline.ingest(s.job, the_source))
    _profiles(s, log, source, dataset_id)


@cli.command("label")
@common_options
@command("label")
def label_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Recompute every reel's virality label against its own account."""
    echo_stage(log, pipeline.label(s.job))


@cli.command("download")
@common_options
@command("download")
def download_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Download the videos not stored yet."""
    with components.http_client(s.settings) as client:
        echo_stage(log, pipeline.download(s.job, client, components.build_fallbacks(s.settings, s.secrets)))


@cli.command("analyze")
@common_options
@click.option("--retry-failed", is_flag=True, help="Analyze again the videos whose analysis failed.")
@click.option(
    "--redo",
    type=click.Choice(["local"]),
    multiple=True,
    help="Analyze again what this analyzer did (e.g. the reels the local backup did while Gemini was down).",
)
@command("analyze", uses_analyzer=True)
def analyze_cmd(
    s: Session, log: RunLog, analyzer: str, retry_failed: bool, redo: tuple[str, ...], **_: Any
) -> None:
    """Analyze the stored videos that have no analysis yet (with `[gemini] mode = "batch"`: collect the
    batches that finished, submit one for the rest, wait up to `batch_wait_s`)."""
    measure = components.build_measurer(analyzer)
    batcher = components.build_batcher(analyzer, s.settings, s.secrets)
    if batcher is not None:
        counts = batches.analyze_in_batches(
            s.job, batcher, retry_failed=retry_failed, redo=frozenset(redo), measure=measure
        )
        echo_stage(log, counts)
        return
    the_analyzer = components.build_analyzer(analyzer, s.settings, s.secrets)
    echo_stage(
        log,
        pipeline.analyze(
            s.job, the_analyzer, retry_failed=retry_failed, redo=frozenset(redo), measure=measure
        ),
    )


@cli.command("insights")
@common_options
@command("insights")
def insights_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Find what viral reels do differently (within accounts, false discoveries controlled) and write the
    playbook."""
    writer = components.build_playbook_writer(s.settings, s.secrets)
    echo_stage(log, pipeline.insights(s.job, force=True))
    echo_stage(log, pipeline.playbook(s.job, writer))


@cli.command("maintain")
@common_options
@command("maintain")
def maintain_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Compact the tables' small files and delete the files older versions no longer need ([storage])."""
    echo_stage(log, pipeline.maintain(s.job))


@cli.command("report")
@common_options
@command("report")
def report_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Write the HTML report."""
    click.echo(f"report    {pipeline.report(s.job)}")


@cli.command("status")
@common_options
def status_cmd(**options: Any) -> None:
    """Show the tables, the last runs, and what is pending or failed and why."""
    with user_errors():
        s = open_session(**options)
        st = lake_status(s.job.store)
    click.echo(f"Lakehouse {s.job.store.location}")
    for name, n in st.tables.items():
        click.echo(f"  {name:<15} {'—' if n is None else n:>7}")
    click.echo("Labels: " + (", ".join(f"{k} {v}" for k, v in sorted(st.labels.items())) or "none yet"))
    click.echo("Media:  " + (", ".join(f"{k} {v}" for k, v in sorted(st.media.items())) or "none yet"))
    click.echo("Analyses: " + (", ".join(f"{k} {v}" for k, v in sorted(st.analyses.items())) or "none yet"))
    click.echo(f"Pending: {st.pending_download} to download, {st.pending_analysis} to analyze")
    if st.batches:
        n = sum(reels for _, _, reels in st.batches)
        click.echo(f"Gemini batches pending: {len(st.batches)} ({n} reels; `reels batches collect`)")
        for batch_id, state, reels in st.batches:
            click.echo(f"  {batch_id:<40} {state:<10} {reels:>6} reels")
    if st.costs:
        shown = " · ".join(f"{k} ${usd:.4f} over {n}" for k, (n, usd) in st.costs.items())
        click.echo(f"Cost per 1,000 reels (run {st.costs_run}): {shown}")
    if st.failures:
        click.echo(f"Failed ({len(st.failures)}):")
        for f in st.failures[:20]:
            click.echo(f"  {f['stage']:<8} {f['post_id']:<14} {f['status']:<8} {f['error']}")
        if len(st.failures) > 20:
            click.echo(f"  … and {len(st.failures) - 20} more")
    click.echo("Last runs:")
    for r in st.runs:
        took = f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}s" if r["finished_at"] else "—"
        click.echo(f"  {r['run_id']}  {r['command']:<9} {r['status']:<8} {took:>7}  {r['error'] or ''}")
    if not st.runs:
        click.echo("  none yet: try `reels run`")


cli.add_command(accounts_cmd)
cli.add_command(batches_cmd)


def main() -> None:
    install_stop_handlers()
    cli(prog_name="reels")
