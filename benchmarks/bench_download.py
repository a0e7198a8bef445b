"""Download throughput: 100 videos of 5 MB from a local server that throttles each connection.

    python benchmarks/bench_download.py [--videos 100] [--mb 5] [--rate-mbps 4] [--concurrency 16]

The server runs in a child process (so the RSS measured is the downloader's alone) and sends every
response at a fixed rate per connection. The client is the production one: `download_client` (checked
transport, stub resolver naming cdn.bench → 127.0.0.1) and `download_media` (streaming, sha256, probe,
rename into the store). Each file is a real 2-second MP4 padded to the size with an MP4 `free` box
(which players skip), so the full validation runs on every file; the pad also makes every file distinct.

Prints wall time, the ideal (total bytes / (per-connection rate × concurrency)), their ratio, peak RSS,
and the sequential time measured on `--sequential-sample` videos and extrapolated to all of them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.videos, tests.factories

import numpy as np

from reels.config import DownloadSettings
from reels.media.download import download_media
from reels.media.store import MediaStore
from reels.media.transport import download_client
from reels.records import Reel
from tests.factories import make_reel
from tests.videos import make_video

NOW = datetime.now(UTC)


def padded(video: bytes, size: int, index: int) -> bytes:
    """`video` followed by a `free` box bringing it to `size` bytes; the box starts with `index`."""
    pad = size - len(video)
    body = struct.pack(">Q", index) + b"\x00" * (pad - 16)
    return video + struct.pack(">I", pad) + b"free" + body


def serve(video: bytes, size: int, rate: float, ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            index = int(self.path.strip("/").split(".")[0])
            body = padded(video, size, index)
            self.send_response(200)
            self.send_header("content-type", "video/mp4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            chunk = 64 * 1024
            started = time.monotonic()
            for offset in range(0, len(body), chunk):
                self.wfile.write(body[offset : offset + chunk])
                ahead = (offset + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ready.put(httpd.server_port)
    httpd.serve_forever()


def reel(i: int, port: int) -> Reel:
    url = f"http://cdn.bench:{port}/{i}.mp4"
    return make_reel(str(i), posted_at=NOW, scraped_at=NOW, media_url=url, source="bench")


def fetch(ids: range, port: int, root: Path, concurrency: int, max_bytes: int) -> tuple[float, list[str]]:
    settings = DownloadSettings(
        allowed_hosts=("127.0.0.1", "bench"), allow_http=True, concurrency=concurrency, max_bytes=max_bytes
    )
    store = MediaStore(root)
    with download_client(settings, resolver=lambda host, port: ["127.0.0.1"]) as client:
        started = time.monotonic()
        results = download_media(
            [reel(i, port) for i in ids],
            client=client,
            store=store,
            settings=settings,
            now=NOW,
            run_id="bench",
        )
        elapsed = time.monotonic() - started
    return elapsed, [m.status for m in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--rate-mbps", type=float, default=4.0, help="per connection, MB/s")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-sample", type=int, default=4)
    args = parser.parse_args()
    size, rate = int(args.mb * 1_000_000), args.rate_mbps * 1_000_000

    with tempfile.TemporaryDirectory() as tmp:
        frames = [np.full((320, 180, 3), i * 12 % 256, np.uint8) for i in range(20)]
        video = make_video(Path(tmp) / "seed.mp4", frames, 10, "sine=frequency=440").read_bytes()
        ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        server = multiprocessing.Process(target=serve, args=(video, size, rate, ready), daemon=True)
        server.start()
        port = ready.get(timeout=30)
        try:
            wall, statuses = fetch(range(args.videos), port, Path(tmp) / "par", args.concurrency, size * 2)
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            n = args.sequential_sample
            seq, seq_statuses = fetch(range(10_000, 10_000 + n), port, Path(tmp) / "seq", 1, size * 2)
        finally:
            server.terminate()
            server.join()

    total = size * args.videos
    ideal = total / (rate * args.concurrency)
    ok = statuses.count("ok")
    print(f"videos           {args.videos} × {args.mb:g} MB = {total / 1e6:,.0f} MB; ok {ok}/{args.videos}")
    print(f"per connection   {args.rate_mbps:g} MB/s; concurrency {args.concurrency}")
    print(f"wall time        {wall:6.2f} s")
    print(f"ideal            {ideal:6.2f} s  (total bytes / (rate × concurrency))")
    print(f"ratio            {wall / ideal:6.2f}  (target ≤ 1.25)")
    print(f"peak RSS         {rss_mb:6.1f} MB (target < 200 MB)")
    print(
        f"sequential       {seq / n * args.videos:6.1f} s  (measured {seq:.2f} s on {n} videos, "
        f"{seq_statuses.count('ok')} ok, extrapolated ×{args.videos / n:g})"
    )
    if ok != args.videos:
        sys.exit(1)


if __name__ == "__main__":
    main()
