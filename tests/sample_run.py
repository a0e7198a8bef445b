"""`reels run` on the bundled sample, twice, in a fresh folder: the lake the end-to-end tests read (the
pipeline's tables, the report in a real browser). Built once per test session (`conftest.two_runs`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from reels.storage.delta import DeltaStore
from reels.storage.tables import ALL
from tests.factories import reels_process

VOLATILE = {"runs"}  # one row per run, by design


def reels_run(workdir: Path) -> subprocess.CompletedProcess[str]:
    return reels_process(workdir, "run")


def snapshot(lake: Path) -> dict[str, list[dict[str, Any]]]:
    store = DeltaStore(lake)
    return {
        name: sorted(store.read(spec).to_pylist(), key=lambda r: [str(r[k]) for k in spec.key])
        for name, spec in ALL.items()
        if name not in VOLATILE
    }


def two_runs(workdir: Path) -> dict[str, Any]:
    first = reels_run(workdir)
    assert first.returncode == 0, first.stderr
    after_first = snapshot(workdir / "lakehouse")
    second = reels_run(workdir)
    assert second.returncode == 0, second.stderr
    return dict(
        workdir=workdir,
        first=first,
        second=second,
        after_first=after_first,
        after_second=snapshot(workdir / "lakehouse"),
    )
