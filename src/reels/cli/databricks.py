"""Running on Databricks: runtime detection, secrets from a secret scope, and the wheel-task entry point.

`databricks.sdk.runtime` is imported only when `DATABRICKS_RUNTIME_VERSION` is set: off Databricks that
import raises, or hangs when DATABRICKS_HOST points at an unreachable workspace.

The job's wheel tasks call `reels-databricks GROUP --name=value ...`, which runs the stage group's `reels`
commands in order, in-process, with the task's parameters as REELS_* settings:

    accounts         reels accounts discover, then rotate, each --if-due (once per [accounts] every_days)
    ingest-label     reels ingest --source S, then reels label
    download         reels download
    analyze          reels analyze --analyzer A
    insights-report  reels insights, then reels report, then reels maintain (compaction, vacuum)
    run              reels run (the whole pipeline in one task)

Wheel tasks receive job parameters pushed down as extra `--name=value` arguments, so unknown arguments are
ignored (`parse_known_args`), as are empty values (an unset job parameter keeps the setting's default).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from reels.errors import ConfigError

STAGE_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "accounts": (("accounts", "discover", "--if-due"), ("accounts", "rotate", "--if-due")),
    "ingest-label": (("ingest",), ("label",)),
    "download": (("download",),),
    "analyze": (("analyze",),),
    "batches": (("batches", "collect"),),
    "insights-report": (("insights",), ("report",), ("maintain",)),
    "run": (("run",),),
}

# Task parameter → the REELS_<SECTION>__<KEY> setting it sets.
_SETTINGS = {
    "catalog": "REELS_STORAGE__CATALOG",
    "schema": "REELS_STORAGE__SCHEMA",
    "secret_scope": "REELS_STORAGE__SECRET_SCOPE",
    "spark_remote": "REELS_STORAGE__SPARK_REMOTE",
    "accounts_file": "REELS_APIFY__ACCOUNTS_FILE",
    "lookback_days": "REELS_APIFY__LOOKBACK_DAYS",
    "results_limit": "REELS_APIFY__RESULTS_LIMIT",
    "download_concurrency": "REELS_DOWNLOAD__CONCURRENCY",
    "gemini_concurrency": "REELS_GEMINI__CONCURRENCY",
}


def stage_commands(
    group: str, source: str | None, analyzer: str | None, config: str | None
) -> list[list[str]]:
    """The `reels` command lines a stage group runs, in order. Raises ConfigError for an unknown group."""
    if group not in STAGE_GROUPS:
        raise ConfigError(f"Unknown stage group {group!r}; use one of: {', '.join(STAGE_GROUPS)}.")
    commands = []
    for command in STAGE_GROUPS[group]:
        args, name = list(command), command[0]
        if source and name in ("ingest", "run"):
            args += ["--source", source]
        if analyzer and name in ("analyze", "run"):
            args += ["--analyzer", analyzer]
        if config:
            args += ["--config", config]
        commands.append(args)
    return commands


def settings_environ(options: Mapping[str, str | None], store: str = "spark") -> dict[str, str]:
    """The REELS_* settings a task's parameters stand for; `volume` (a /Volumes/... folder) holds the media
    and the report. Empty values are left out, so the settings keep their defaults."""
    env = {"REELS_STORAGE__KIND": store}
    env |= {var: str(options[name]) for name, var in _SETTINGS.items() if options.get(name)}
    volume = (options.get("volume") or "").rstrip("/")
    if volume:
        env["REELS_PATHS__MEDIA"] = f"{volume}/media"
        env["REELS_PATHS__REPORT"] = f"{volume}/reels_report.html"
    return env


def parse_task_args(argv: Sequence[str]) -> argparse.Namespace:
    """The task's arguments; job parameters it does not use are ignored."""
    parser = argparse.ArgumentParser(prog="reels-databricks", description="Run a stage group of reels.")
    parser.add_argument("group", nargs="?", help=f"one of: {', '.join(STAGE_GROUPS)}")
    parser.add_argument("--group", dest="group_option", help="the same, as a named parameter")
    parser.add_argument("--store", default="spark", choices=["spark", "delta"])
    parser.add_argument("--volume", help="/Volumes/<catalog>/<schema>/<volume>: media and report")
    parser.add_argument("--source", help="sample | apify | PATH")
    parser.add_argument("--analyzer", help="auto | gemini | local")
    parser.add_argument("--config", help="a reels.toml (e.g. in the workspace or a volume)")
    for name in _SETTINGS:
        parser.add_argument(f"--{name}")
    args, _ = parser.parse_known_args(list(argv))
    args.group = args.group_option or args.group
    if not args.group:
        parser.error(f"name a stage group: {', '.join(STAGE_GROUPS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `reels-databricks`: run one stage group; exits as `reels` does (0; 2 usage; 1 other)."""
    import click  # the CLI shell's dependency, as in reels.cli

    from reels.cli import cli

    args = parse_task_args(sys.argv[1:] if argv is None else argv)
    try:
        commands = stage_commands(args.group, args.source or None, args.analyzer or None, args.config or None)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    os.environ.update(settings_environ(vars(args), store=args.store))  # this task's process only
    for command in commands:
        click.echo(f"reels {' '.join(command)}")
        try:
            cli.main(command, prog_name="reels", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                sys.exit(exc.exit_code)
