"""Throughput of the Gemini analyzer against the local fake server (tests/fakes/gemini_server.py).

1. Concurrency: N reels, each call held `--latency` seconds by the fake, through `pipeline.analyze`
   (real Delta tables) at `--concurrency`. Prints the wall time, the ideal N × latency / concurrency, their
   ratio (target ≤ 1.2), and the sequential time, measured on `--seq-reels` reels and extrapolated to N.
2. Rate limit: the client-side limiter at R requests per `--window` seconds against a fake that enforces
   the same quota with 429s. Prints the steady rate, (n − q) / (t[n − q] − t[0]) over the server's
   arrival times t (q per window: request i + q re-uses request i's slot, so the first window's burst does
   not inflate it), as a share of R (target ≥ 95 %), and the 429s received (target 0). A short window
   stands in for the real minute.

Usage: python benchmarks/bench_gemini.py [--reels 200] [--latency 1.0] [--concurrency 16]
       [--rpm 600] [--window 10] [--rate-requests 300]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes

from reels import config, pipeline
from reels.analysis import ReelContext
from reels.analysis.gemini import GeminiAnalyzer
from reels.analysis.ratelimit import RateLimiter
from reels.config import GeminiSettings
from reels.media.store import MediaStore
from reels.records import MediaFile, as_row
from reels.storage.delta import DeltaStore
from reels.storage.tables import ANALYSES, MEDIA
from tests.fakes.gemini_server import FakeGemini


def videos(folder: Path, n: int) -> list[Path]:
    """`n` distinct small files: the fake does not decode video, and distinct bytes defeat reuse by sha."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"Bench{i:05d}.mp4"
        path.write_bytes(os.urandom(4096))
        paths.append(path)
    return paths


def settings_for(fake: FakeGemini, concurrency: int, **kw: object) -> GeminiSettings:
    return replace(
        GeminiSettings(), base_url=fake.url, concurrency=concurrency, timeout_s=30, retry_initial_s=0.1, **kw
    )


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    files = videos(tmp / "media", args.reels)
    settings = config.load(None, environ={}, overrides={"analyze": {"concurrency": args.concurrency}})
    job = pipeline.Job(
        settings, DeltaStore(tmp / "lake"), MediaStore(tmp / "store"), "bench", datetime.now(UTC)
    )
    job.merge(
        MEDIA,
        [
            as_row(
                MediaFile(
                    post_id=f.stem,
                    status="ok",
                    media_url=None,
                    sha256=hashlib.sha256(f.read_bytes()).hexdigest(),
                    path=str(f),
                    bytes=f.stat().st_size,
                )
            )
            for f in files
        ],
    )
    with FakeGemini(latency_s=args.latency) as fake:
        gemini = GeminiAnalyzer.from_settings(
            settings_for(fake, args.concurrency, requests_per_minute=0, tokens_per_minute=0), "bench"
        )
        started = time.perf_counter()
        counts = pipeline.analyze(job, gemini)
        wall = time.perf_counter() - started
        assert counts.counts["analyzed"] == args.reels, counts.counts
        assert job.store.read(ANALYSES).num_rows == args.reels

        sequential = GeminiAnalyzer.from_settings(settings_for(fake, 1), "bench")
        started = time.perf_counter()
        for f in files[: args.seq_reels]:
            sequential.analyze(f, ReelContext(f.stem, "bench", "", None, None, None))
        seq = (time.perf_counter() - started) / args.seq_reels * args.reels
    ideal = args.reels * args.latency / args.concurrency
    print(f"concurrency: {args.reels} reels × {args.latency:g} s latency at concurrency {args.concurrency}")
    print(f"  wall (pipeline.analyze, Delta merges included)  {wall:7.2f} s")
    print(f"  ideal N × latency / concurrency                  {ideal:7.2f} s")
    print(f"  ratio                                            {wall / ideal:7.2f}  (target ≤ 1.2)")
    print(
        f"  sequential loop (measured on {args.seq_reels}, ×{args.reels / args.seq_reels:g})"
        f"       {seq:7.2f} s  (speed-up {seq / wall:.1f}×)"
    )


def rate(args: argparse.Namespace, tmp: Path) -> None:
    per_window = round(args.rpm * args.window / 60)
    files = videos(tmp / "rate", args.rate_requests)
    with FakeGemini(latency_s=args.rate_latency, retry_delay_s=1.0) as fake:
        fake.rate_limit(per_window, args.window)
        limiter = RateLimiter(requests=per_window, period_s=args.window)
        gemini = GeminiAnalyzer.from_settings(settings_for(fake, args.concurrency), "bench", limiter=limiter)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda f: gemini.analyze(f, ReelContext(f.stem, "b", "", None, None, None)), files))
        wall = time.perf_counter() - started
    arrivals = sorted(r["arrived"] for r in fake.requests)
    # Request i + q re-uses the window slot request i freed: q requests per slot cycle is the steady rate,
    # free of the first window's burst.
    cycles = len(arrivals) - per_window
    steady = cycles / (arrivals[cycles] - arrivals[0])
    target = args.rpm / 60
    busiest = max(sum(1 for t in arrivals[i:] if t < start + args.window) for i, start in enumerate(arrivals))
    print(
        f"rate limit: R = {args.rpm} requests/min, as {per_window} per {args.window:g} s window; "
        f"{args.rate_requests} requests, {args.rate_latency:g} s latency, concurrency {args.concurrency}"
    )
    print(f"  wall                                             {wall:7.2f} s")
    print(
        f"  steady rate (n − q) / (t[n − q] − t[0])          {steady * 60:7.1f} /min"
        f" = {steady / target:.1%} of R  (target ≥ 95 %)"
    )
    print(f"  429s received                                    {fake.counts['429-sent']:7d}  (target 0)")
    print(f"  busiest {args.window:g} s window at the server              {busiest:7d}  (quota {per_window})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--reels", type=int, default=200)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the fake holds each call")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seq-reels", type=int, default=10, help="reels timed sequentially")
    parser.add_argument("--rpm", type=int, default=600, help="R: the requests-per-minute quota")
    parser.add_argument("--window", type=float, default=10.0, help="the quota window (stands in for 60 s)")
    parser.add_argument("--rate-requests", type=int, default=300)
    parser.add_argument("--rate-latency", type=float, default=0.2)
    parser.add_argument("--skip", choices=["throughput", "rate"], help="run only the other part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.skip != "throughput":
            throughput(args, Path(tmp))
        if args.skip != "rate":
            rate(args, Path(tmp))


if __name__ == "__main__":
    main()
