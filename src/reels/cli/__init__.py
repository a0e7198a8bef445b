"""The shells over the library: `reels` (the CLI) and `reels-databricks` (the job's wheel-task entry).

Each command loads the settings, builds the components, makes one library call and prints a summary; a
`ReelsError` becomes one sentence and exit code 2 (settings, input) or 1. The library never imports this.
"""

from reels.cli.commands import cli, main

__all__ = ["cli", "main"]
