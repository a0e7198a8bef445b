"""Stopping a real run from the outside: Ctrl-C and SIGTERM stop it within seconds and keep every answer
received; kill -9 at random moments, then resuming, ends with the tables of an uninterrupted run and pays
Gemini again for at most the calls that were in flight."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reels.analysis_schema import VideoAnalysis
from reels.storage.delta import DeltaStore
from reels.storage.tables import ALL, ANALYSES, INSIGHTS, RUNS
from tests.factories import clean_environ
from tests.fakes.gemini_server import FakeGemini

CONCURRENCY = 8


def env(fake: FakeGemini) -> dict[str, str]:
    return clean_environ() | {
        "GEMINI_API_KEY": "test-key-chaos",
        "REELS_GEMINI__BASE_URL": fake.url,
        "REELS_GEMINI__REQUESTS_PER_MINUTE": "0",
        "REELS_GEMINI__TOKENS_PER_MINUTE": "0",
        "REELS_GEMINI__CONCURRENCY": str(CONCURRENCY),
        "REELS_INSIGHTS__BOOTSTRAP": "500",
    }


def start(workdir: Path, fake: FakeGemini, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reels", *args],
        cwd=workdir,
        env=env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(workdir: Path, fake: FakeGemini, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "reels", *args],
        cwd=workdir,
        env=env(fake),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


def answered(fake: FakeGemini) -> Counter[str]:
    with fake.lock:
        return Counter(r["post_id"] for r in fake.generated if r["post_id"])


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work folder with the sample ingested, labelled and downloaded: ready to analyze."""
    workdir = tmp_path_factory.mktemp("downloaded")
    with FakeGemini() as fake:
        for stage in ("ingest", "label", "download"):
            finish(workdir, fake, stage)
    return workdir


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_ends_the_run_within_seconds_and_keeps_every_answer(
    tmp_path: Path, downloaded: Path, stop: signal.Signals
) -> None:
    shutil.copytree(downloaded, tmp_path, dirs_exist_ok=True)
    with FakeGemini(latency_s=0.4) as fake:
        run = start(tmp_path, fake, "analyze")
        deadline = time.monotonic() + 60
        while sum(answered(fake).values()) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        run.send_signal(stop)
        sent = time.monotonic()
        _, err = run.communicate(timeout=30)
        took = time.monotonic() - sent
        assert run.returncode == 130, err
        assert took < 10, took
        assert "Interrupted: every answer received is stored" in err and "Traceback" not in err
        time.sleep(0.5)  # any call abandoned in flight has landed at the fake by now
        store = DeltaStore(tmp_path / "lakehouse")
        stored = {a["post_id"] for a in store.read(ANALYSES).to_pylist() if a["analyzer"] == "gemini"}
        paid = set(answered(fake))
        assert stored and stored <= paid and len(paid - stored) <= CONCURRENCY
        assert len(stored) < 153  # it really stopped early
        (last,) = [r for r in store.read(RUNS).to_pylist() if r["command"] == "analyze"]
        assert last["status"] == "interrupted"
        if stop == signal.SIGINT:
            again = finish(tmp_path, fake, "analyze")  # goes on from there, asking only for the rest
            assert sum(answered(fake).values()) <= 153 + CONCURRENCY, again.stdout


def comparable(lake: Path) -> dict[str, Any]:
    store = DeltaStore(lake)
    out: dict[str, Any] = {}
    fields = list(VideoAnalysis.model_fields)
    for name, spec in ALL.items():
        if name in ("runs", "insights", "playbook"):
            continue
        rows = store.read(spec).to_pylist()
        keys = [tuple(str(r[k]) for k in spec.key) for r in rows]
        assert len(keys) == len(set(keys)), f"duplicate keys in {name}"
        if name == "analyses":
            out[name] = {k: (r["status"], *(r[f] for f in fields)) for k, r in zip(keys, rows, strict=True)}
        elif name == "media":
            out[name] = {k: (r["status"], r["sha256"]) for k, r in zip(keys, rows, strict=True)}
        else:
            out[name] = set(keys)
    insights = store.read(INSIGHTS).to_pylist()
    last = max(insights, key=lambda r: r["created_at"])["run_id"]
    out["supported"] = {r["insight_id"] for r in insights if r["run_id"] == last and r["supported"]}
    return out


def test_kill_9_at_random_moments_then_resume_ends_like_an_uninterrupted_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reference, chaos = tmp_path_factory.mktemp("reference"), tmp_path_factory.mktemp("chaos")
    with FakeGemini(latency_s=0.05) as fake:
        finish(reference, fake, "run")
        uninterrupted = sum(answered(fake).values())
    rng = random.Random(11)
    kills = 0
    with FakeGemini(latency_s=0.05) as fake:
        for _ in range(4):
            run = start(chaos, fake, "run")
            time.sleep(rng.uniform(2.0, 14.0))
            if run.poll() is None:
                os.kill(run.pid, signal.SIGKILL)
                kills += 1
            run.communicate(timeout=60)
        finish(chaos, fake, "run")
        paid = sum(answered(fake).values())
    assert kills >= 3
    assert comparable(chaos / "lakehouse") == comparable(reference / "lakehouse")
    assert paid <= uninterrupted + kills * CONCURRENCY, (paid, uninterrupted, kills)
    assert not list((chaos / "media" / ".journal").glob("*.jsonl"))  # every journal replayed and cleared
