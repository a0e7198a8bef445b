"""The `reels` command: a thin shell over the library. Each command loads settings, builds the components,
calls one pipeline function per stage and prints a short summary.

Exit status: 0 when the run completed (failed items are recorded, not fatal), 2 for a usage or configuration
error, 1 for anything else.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reels import components, config, pipeline
from reels.accounts import normalise_accounts, read_accounts, write_accounts
from reels.errors import ConfigError, ReelsError
from reels.mediastore import MediaStore
from reels.records import StageCounts
from reels.runs import RunLog, new_run_id, tracked_run
from reels.sources import ReelSource
from reels.status import lake_status


@dataclass
class Session:
    settings: config.Settings
    secrets: config.Secrets
    job: pipeline.Job
    notes: list[str]


PROGRESS_EVERY_S = 30.0  # with output piped (a Databricks job log), a progress line at least this often


def _progress(label: str, total: int) -> Any:
    @contextmanager
    def bar() -> Iterator[Callable[[int], None]]:
        if total == 0:
            yield lambda n: None
        elif sys.stderr.isatty():
            with click.progressbar(length=total, label=label, file=sys.stderr) as b:
                yield b.update
        else:
            with _progress_lines(label, total) as advance:
                yield advance

    return bar()


@contextmanager
def _progress_lines(
    label: str, total: int, every_s: float = PROGRESS_EVERY_S
) -> Iterator[Callable[[int], None]]:
    """A line "label: done/total" every `every_s` seconds, from a timer: also while nothing finishes."""
    done = [0]
    stop = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not stop.wait(every_s):
            click.echo(f"{label}: {done[0]}/{total} after {time.monotonic() - started:.0f} s", err=True)

    timer = threading.Thread(target=report, name="progress", daemon=True)
    timer.start()
    try:
        yield lambda n: done.__setitem__(0, done[0] + n)
    finally:
        stop.set()


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --lake, --source, --analyzer, --report: shared by every command, mapped onto settings."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            help="TOML settings file (default: ./reels.toml when present).",
        ),
        click.option(
            "--lake",
            type=click.Path(path_type=Path),
            help="Folder of the Delta tables (default ./lakehouse).",
        ),
        click.option("--source", help="sample | apify | PATH to a JSON/JSONL/CSV file of Apify reel items."),
        click.option("--analyzer", type=click.Choice(["auto", "gemini", "local"]), help="Video analyzer."),
        click.option(
            "--report", "report_path", type=click.Path(path_type=Path), help="Where to write the HTML report."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _session(
    config_path: Path | None,
    lake: Path | None,
    source: str | None,
    analyzer: str | None,
    report_path: Path | None,
    **_: Any,
) -> Session:
    overrides = {
        "paths": {"lake": lake, "report": report_path},
        "source": {"source": source},
        "analyze": {"analyzer": analyzer},
    }
    settings = config.load(config_path, overrides=overrides)
    secrets = components.load_secrets(settings)
    now = datetime.now(UTC)
    store = components.build_store(settings)
    job = pipeline.Job(settings, store, MediaStore(settings.paths.media), new_run_id(now), now, _progress)
    return Session(settings, secrets, job, [])


@contextmanager
def _user_errors() -> Iterator[None]:
    """Expected failures become one line and an exit status; anything else keeps its traceback."""
    try:
        yield
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except ReelsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted: every answer received is stored; run the same command to go on.", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Now, not after the calls still out: their threads would hold the process for minutes.
        os._exit(130)


def command(name: str, *, uses_source: bool = False, uses_analyzer: bool = False) -> Callable[..., Any]:
    """Turn `fn(session, log, **options) -> None` into a tracked CLI command with uniform error handling."""

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(**options: Any) -> None:
            with _user_errors():
                s = _session(**options)
                source = analyzer = None
                if uses_source and not options.get("ads_path"):
                    source, note = components.source_choice(s.settings, s.secrets, options.get("dataset_id"))
                    s.notes += [note] if note else []
                if uses_analyzer:
                    analyzer, note = components.analyzer_choice(s.settings, s.secrets)
                    s.notes += [note] if note else []
                for note in s.notes:
                    click.echo(note)
                with tracked_run(
                    s.job.store,
                    run_id=s.job.run_id,
                    command=name,
                    source=source,
                    analyzer=analyzer,
                    started_at=s.job.now,
                ) as log:
                    rest = {k: v for k, v in options.items() if k not in ("source", "analyzer")}
                    fn(s, log, source=source, analyzer=analyzer, **rest)

        return wrapper

    return decorate


def _echo_stage(log: RunLog, counts: StageCounts) -> None:
    log.stages.append(counts)
    shown = " · ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in counts.counts.items() if k != "cost_usd_micros"
    )
    click.echo(f"{counts.stage:<9} {shown or 'nothing to do'}")
    for note in counts.notes:
        click.echo(f"          {note}")


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
    _echo_stage(log, pipeline.ingest(s.job, the_source))
    _echo_stage(log, pipeline.label(s.job))
    with components.http_client(s.settings) as client:
        _echo_stage(log, pipeline.download(s.job, client, components.build_fallbacks(s.settings, s.secrets)))
    _echo_stage(log, pipeline.analyze(s.job, the_analyzer, measure=components.build_measurer(analyzer)))
    _echo_stage(log, pipeline.insights(s.job))
    _echo_stage(log, pipeline.playbook(s.job, writer))
    _echo_totals(s, log)
    click.echo(f"report    {pipeline.report(s.job, current_run=log.row('ok', None, datetime.now(UTC)))}")
    _echo_stage(log, pipeline.maintain(s.job))


def _source(s: Session, choice: str, dataset_id: str | None) -> ReelSource:
    """The chosen source, saying on the terminal what a paid scrape is doing (its run id, how to resume)."""
    return components.build_source(
        choice,
        s.settings,
        s.secrets,
        store=s.job.store,
        dataset_id=dataset_id,
        run_id=s.job.run_id,
        notify=click.echo,
    )


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
    scrape, analysis, writing = (cost.get(k, 0.0) for k in ("ingest", "analyze", "playbook"))
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
        _echo_stage(log, pipeline.ingest_ads(s.job, ads_path))
        return
    the_source = _source(s, source, dataset_id)
    _echo_stage(log, pipeline.ingest(s.job, the_source))


@cli.command("label")
@common_options
@command("label")
def label_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Recompute every reel's virality label against its own account."""
    _echo_stage(log, pipeline.label(s.job))


@cli.command("download")
@common_options
@command("download")
def download_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Download the videos not stored yet."""
    with components.http_client(s.settings) as client:
        _echo_stage(log, pipeline.download(s.job, client, components.build_fallbacks(s.settings, s.secrets)))


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
    """Analyze the stored videos that have no analysis yet."""
    the_analyzer = components.build_analyzer(analyzer, s.settings, s.secrets)
    measure = components.build_measurer(analyzer)
    _echo_stage(
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
    _echo_stage(log, pipeline.insights(s.job, force=True))
    _echo_stage(log, pipeline.playbook(s.job, writer))


@cli.command("maintain")
@common_options
@command("maintain")
def maintain_cmd(s: Session, log: RunLog, **_: Any) -> None:
    """Compact the tables' small files and delete the files older versions no longer need ([storage])."""
    _echo_stage(log, pipeline.maintain(s.job))


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
    with _user_errors():
        s = _session(**options)
        st = lake_status(s.job.store)
    click.echo(f"Lakehouse {s.job.store.location}")
    for name, n in st.tables.items():
        click.echo(f"  {name:<15} {'—' if n is None else n:>7}")
    click.echo("Labels: " + (", ".join(f"{k} {v}" for k, v in sorted(st.labels.items())) or "none yet"))
    click.echo("Media:  " + (", ".join(f"{k} {v}" for k, v in sorted(st.media.items())) or "none yet"))
    click.echo("Analyses: " + (", ".join(f"{k} {v}" for k, v in sorted(st.analyses.items())) or "none yet"))
    click.echo(f"Pending: {st.pending_download} to download, {st.pending_analysis} to analyze")
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


@cli.group("accounts", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML settings file.")
@click.pass_context
def accounts_cmd(ctx: click.Context, config_path: Path | None) -> None:
    """The tracked accounts: list them (default), add or remove. Kept in [apify] accounts_file."""
    with _user_errors():
        ctx.obj = config.load(config_path)
    if ctx.invoked_subcommand is None:
        ctx.invoke(accounts_list)


@accounts_cmd.command("list")
@click.pass_obj
def accounts_list(settings: config.Settings) -> None:
    """List the tracked accounts."""
    with _user_errors():
        accounts = components.tracked_accounts(settings)
    for name in accounts:
        click.echo(name)
    click.echo(f"{len(accounts)} account(s) tracked ({settings.apify.accounts_file}).", err=True)


@accounts_cmd.command("add")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def accounts_add(settings: config.Settings, names: tuple[str, ...]) -> None:
    """Track more accounts (usernames, @names or profile URLs)."""
    _edit_accounts(settings, lambda current: [*current, *normalise_accounts(names)])


@accounts_cmd.command("remove")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def accounts_remove(settings: config.Settings, names: tuple[str, ...]) -> None:
    """Stop tracking accounts."""
    gone = set(normalise_accounts(names))
    _edit_accounts(settings, lambda current: [a for a in current if a not in gone])


def _edit_accounts(settings: config.Settings, change: Callable[[list[str]], list[str]]) -> None:
    path = settings.apify.accounts_file
    with _user_errors():
        updated = normalise_accounts(change(read_accounts(path)))
        write_accounts(path, updated)
    click.echo(f"{len(updated)} account(s) in {path}.")
    pinned = [a for a in normalise_accounts(settings.apify.accounts) if a not in updated]
    if pinned:
        click.echo(f"Still tracked through [apify] accounts in the config: {', '.join(pinned)}.", err=True)


# After a stop signal the process is gone by then, whatever it is doing: the in-flight answers get 5 s
# (journal.GRACE_S), the last merge and the run row about a second.
STOP_DEADLINE_S = 9.0


def main() -> None:
    # A stop signal (a job being cancelled, `kill`) stops the run the way Ctrl-C does: answers kept.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    cli(prog_name="reels")


def _interrupt(signum: int, frame: object) -> None:
    """Stop the way Ctrl-C does, and make sure of it: if the orderly stop (the last merge, the run row)
    is stuck in a native call, the process exits anyway once the deadline passes. Nothing is lost then:
    every answer was journaled (fsync'd) as it arrived, and the next run replays the journal."""
    if not any(t.name == "stop-deadline" for t in threading.enumerate()):
        timer = threading.Timer(STOP_DEADLINE_S, _hard_stop)
        timer.name, timer.daemon = "stop-deadline", True
        timer.start()
    raise KeyboardInterrupt


def _hard_stop() -> None:
    sys.stderr.write("Interrupted: every answer received is stored (journaled; the next run merges it).\n")
    sys.stderr.flush()
    os._exit(130)
