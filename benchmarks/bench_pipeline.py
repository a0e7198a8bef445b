"""Download and analysis overlapped (`reels run`) against each alone, with a throttled CDN and a Gemini that
takes a fixed time per call.

    python benchmarks/bench_pipeline.py [--reels 300] [--seconds-per-video 1.0] [--latency 1.0]
                                        [--download-concurrency 15] [--gemini-concurrency 15]

The CDN runs in a child process on 127.0.0.1 and sends each video (a real MP4 padded to a size) at a fixed
rate per connection, so one download takes `--seconds-per-video`; the fake Gemini
(tests/fakes/gemini_server.py) holds each call `--latency` seconds. With the defaults, download alone and
analysis alone each take about T = 300 × 1 s / 15 = 20 s. The production code runs throughout: the
checked download client (a stub resolver names cdn.bench → 127.0.0.1), `pipeline.download`,
`pipeline.analyze` with the Gemini analyzer, `pipeline.download_and_analyze`, real Delta tables.

Prints download alone, analysis alone, both one after the other, both overlapped, and the ratio of the
overlapped run to the longer stage (target ≤ 1.25), all measured in this one run; then the analysis cost
per 1,000 reels as recorded in `analyses` in each mode (standard, flex, batch), at the prices of the fake's
token counts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakes, tests.videos

import numpy as np

from benchmarks.bench_download import serve
from reels import config, pipeline
from reels.analysis.gemini import GeminiAnalyzer
from reels.analysis.gemini_batch import GeminiBatches
from reels.media.store import MediaStore
from reels.media.transport import download_client
from reels.pipeline.batches import analyze_in_batches
from reels.pipeline.status import cost_per_1000
from reels.records import as_row
from reels.storage.delta import DeltaStore
from reels.storage.tables import REELS
from tests.factories import make_reel
from tests.fakes.gemini_server import FakeGemini
from tests.videos import make_video

NOW = datetime.now(UTC)
SIZE = 200_000  # bytes per video


def job_for(root: Path, args: argparse.Namespace, port: int) -> pipeline.Job:
    overrides = {
        "download": {
            "allowed_hosts": ("127.0.0.1", "bench"),
            "allow_http": True,
            "concurrency": args.download_concurrency,
            "max_bytes": SIZE * 2,
        },
    }
    settings = config.load(None, environ={}, overrides=overrides)
    job = pipeline.Job(settings, DeltaStore(root / "lake"), MediaStore(root / "media"), "bench", NOW)
    reels = [
        make_reel(
            f"Bench{i:05d}", posted_at=NOW, scraped_at=NOW, media_url=f"http://cdn.bench:{port}/{i}.mp4"
        )
        for i in range(args.reels)
    ]
    job.merge(REELS, [as_row(r) for r in reels])
    return job


def gemini(fake: FakeGemini, args: argparse.Namespace, mode: str = "standard") -> GeminiAnalyzer:
    return GeminiAnalyzer.from_settings(gemini_settings(fake, args, mode), "bench")


def gemini_settings(
    fake: FakeGemini, args: argparse.Namespace, mode: str = "standard"
) -> config.GeminiSettings:
    return replace(
        config.GeminiSettings(),
        mode=mode,
        base_url=fake.url,
        concurrency=args.gemini_concurrency,
        requests_per_minute=0,
        tokens_per_minute=0,
        timeout_s=30,
        retry_initial_s=0.1,
    )


def batch_settings(job: pipeline.Job, fake: FakeGemini, args: argparse.Namespace) -> config.Settings:
    chosen = replace(
        gemini_settings(fake, args, "batch"),
        batch_wait_s=120,
        batch_poll_s=0.5,
        upload_timeout_s=30,
        poll_interval_s=0.1,
    )
    return replace(job.settings, gemini=chosen)


def client_for(job: pipeline.Job) -> object:
    return download_client(job.settings.download, resolver=lambda host, port: ["127.0.0.1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reels", type=int, default=300)
    parser.add_argument("--seconds-per-video", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the fake Gemini holds a call")
    parser.add_argument("--download-concurrency", type=int, default=15)
    parser.add_argument("--gemini-concurrency", type=int, default=15)
    args = parser.parse_args()
    rate = SIZE / args.seconds_per_video

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        frames = [np.full((180, 100, 3), i * 12 % 256, np.uint8) for i in range(10)]
        video = make_video(tmp / "seed.mp4", frames, 10, "sine=frequency=440").read_bytes()
        ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        server = multiprocessing.Process(target=serve, args=(video, SIZE, rate, ready), daemon=True)
        server.start()
        port = ready.get(timeout=30)
        try:
            with FakeGemini(latency_s=args.latency) as fake:
                alone = job_for(tmp / "alone", args, port)
                with client_for(alone) as client:  # type: ignore[attr-defined]
                    started = time.perf_counter()
                    fetched = pipeline.download(alone, client)
                    t_download = time.perf_counter() - started
                started = time.perf_counter()
                analyzed = pipeline.analyze(alone, gemini(fake, args))
                t_analyze = time.perf_counter() - started

                both = job_for(tmp / "both", args, port)
                with client_for(both) as client:  # type: ignore[attr-defined]
                    started = time.perf_counter()
                    fetched2, analyzed2 = pipeline.download_and_analyze(both, client, [], gemini(fake, args))
                    t_both = time.perf_counter() - started
                # The same reels asked again at the Flex tier (the fake serves both at the same speed).
                started = time.perf_counter()
                flexed = pipeline.analyze(alone, gemini(fake, args, "flex"), redo=frozenset({"gemini"}))
                t_flex = time.perf_counter() - started
                # Before the batch answers replace the flex ones (the same keys).
                costs = {
                    mode: cost_per_1000(store, "bench")
                    for mode, store in (("standard", both.store), ("flex", alone.store))
                }
                # And once more through the Batch API (the fake finishes a job on its second poll).
                batched = replace(alone, run_id="bench-batch", settings=batch_settings(alone, fake, args))
                started = time.perf_counter()
                in_batch = analyze_in_batches(
                    batched,
                    GeminiBatches.from_settings(batched.settings.gemini, "bench"),
                    redo=frozenset({"gemini"}),
                )
                t_batch = time.perf_counter() - started
                costs["batch"] = cost_per_1000(alone.store, "bench-batch")
        finally:
            server.terminate()
            server.join()

    longer = max(t_download, t_analyze)
    print(
        f"reels                       {args.reels}: {args.seconds_per_video:g} s per download at "
        f"concurrency {args.download_concurrency}, {args.latency:g} s per Gemini call at "
        f"{args.gemini_concurrency}"
    )
    print(f"download alone              {t_download:7.2f} s  ({fetched.counts})")
    print(f"analysis alone              {t_analyze:7.2f} s  ({analyzed.counts.get('analyzed', 0)} analyzed)")
    print(f"one after the other         {t_download + t_analyze:7.2f} s")
    print(
        f"overlapped                  {t_both:7.2f} s  ({fetched2.counts.get('ok', 0)} stored, "
        f"{analyzed2.counts.get('analyzed', 0)} analyzed)"
    )
    print(f"overlapped / longer stage   {t_both / longer:7.2f}  (target ≤ 1.25)")
    print(f"overlapped / sum            {t_both / (t_download + t_analyze):7.2f}")
    for mode, found in costs.items():
        for label, (n, usd) in found.items():
            print(f"cost per 1,000 reels        ${usd:.4f}  {mode} mode: {label}, over {n} reels")
    print(
        f"flex analysis alone         {t_flex:7.2f} s  ({flexed.counts.get('analyzed', 0)} analyzed; "
        "the fake answers flex as fast as standard: the real tier takes minutes)"
    )
    print(
        f"batch analysis              {t_batch:7.2f} s  ({in_batch.counts.get('analyzed', 0)} analyzed in "
        f"{in_batch.counts.get('batch_collected', 0)} batch: uploads, one create, polls every "
        f"{batched.settings.gemini.batch_poll_s:g} s; the real service takes minutes to hours)"
    )
    if analyzed2.counts.get("analyzed", 0) != args.reels:
        sys.exit(1)


if __name__ == "__main__":
    main()
