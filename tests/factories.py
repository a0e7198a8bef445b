"""Small builders the tests (and benchmarks) share: a Reel with sensible defaults, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reels.records import Reel

T = datetime(2026, 11, 16, tzinfo=UTC)
# Variables a developer's shell may set that would point a test at real services or another store.
OUTSIDE_PREFIXES = ("REELS_", "APIFY_", "GEMINI_", "INSTAGRAM_", "DATABRICKS_", "SPARK_REMOTE")

_DEFAULT = Reel(
    post_id="p",
    url="",
    username="a",
    caption="",
    hashtags=[],
    posted_at=T,
    scraped_at=T,
    views=1,
    views_field="videoPlayCount",
    likes=1,
    comments=1,
    duration_s=2.0,
    media_url=None,
    media_url_expires_at=None,
    is_pinned=False,
    music=None,
    product_type="clips",
    source="test",
)


def make_reel(post_id: str = "p", **changes: Any) -> Reel:
    """A reel of account `a`, scraped and posted at T, 1 view; `changes` override any field."""
    return replace(_DEFAULT, post_id=post_id, **changes)


def clean_environ() -> dict[str, str]:
    """This process's environment without credentials or reels settings, for subprocesses under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE_PREFIXES)}


def reels_process(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`reels ARGS` run as a user runs it, in `workdir`, with a clean environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "reels", *args],
        cwd=workdir,
        env=clean_environ() | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
