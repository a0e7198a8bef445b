from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import OUTSIDE_PREFIXES


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's credentials, REELS_* settings or ./reels.toml and .env."""
    for name in list(os.environ):
        if name.startswith(OUTSIDE_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
