from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests import sample_run
from tests.factories import OUTSIDE_PREFIXES


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's credentials, REELS_* settings or ./reels.toml and .env."""
    for name in list(os.environ):
        if name.startswith(OUTSIDE_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`reels run` twice on the bundled sample (tests/sample_run.py), shared by the tests that read it."""
    return sample_run.two_runs(tmp_path_factory.mktemp("sample-run"))
