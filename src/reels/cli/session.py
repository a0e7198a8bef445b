"""What every `reels` command shares: the session (settings, secrets, the job), progress output, the
shared options, one error boundary (a `ReelsError` becomes one line and an exit status) and the stop
signals (a cancelled job or `kill` stops the way Ctrl-C does, with every answer kept).
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

from reels import config, pipeline
from reels.errors import ConfigError, ReelsError
from reels.media.store import MediaStore
from reels.pipeline import components
from reels.pipeline.runs import RunLog, new_run_id, tracked_run
from reels.records import StageCounts


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


def open_session(
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
def user_errors() -> Iterator[None]:
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
            with user_errors():
                s = open_session(**options)
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


def echo_stage(log: RunLog, counts: StageCounts) -> None:
    log.stages.append(counts)
    shown = " · ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in counts.counts.items() if k != "cost_usd_micros"
    )
    click.echo(f"{counts.stage:<9} {shown or 'nothing to do'}")
    for note in counts.notes:
        click.echo(f"          {note}")


# After a stop signal the process is gone by then, whatever it is doing: the in-flight answers get 5 s
# (journal.GRACE_S), the last merge and the run row about a second.
STOP_DEADLINE_S = 9.0


def install_stop_handlers() -> None:
    """A stop signal (a job being cancelled, `kill`) stops the run the way Ctrl-C does: answers kept."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


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
