"""One realistic daily run against a big lake and a small one: does a day cost what the day brings?

Builds two lakes with history (default: 200,000 reels over 5,000 accounts, and 2,000 reels over 50):
every reel with its snapshots, a stored video row, a Gemini answer (about 1 kB of raw JSON) and local
measurements, written in files of about a compacted lake's size in posting order, plus labels, runs and
yesterday's findings. Then runs the same daily increment through every stage on each lake, in a fresh
process: 1,000 new reels (videos served by a local fake CDN on 127.0.0.1, distinct bytes each) and 5,000
refreshed metrics of the most recent reels (all of them on the small lake, which has fewer), analyzed by
Gemini (the local fake server, no latency) with the local measurements beside it, then insights (fresh
since yesterday: `[insights] refresh_days = 7`), playbook, report and the scheduled compaction.

Prints per stage: wall time, peak RSS so far and the rows read back per table; then `reels status` (the
function and the command), the report's size, what the lake grew by (live files, files on disk) against
the new data's own size (its rows written alone as Parquet), and the ratios big / small. The weekly
re-estimation of the findings (`reels insights`) is timed on its own at the end.

Usage: python benchmarks/bench_daily.py [--big 200000] [--accounts 5000] [--small 2000]
       [--small-accounts 50] [--new 1000] [--refreshed 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from reels import config, pipeline
from reels.analysis_schema import VideoAnalysis
from reels.config import LabelSettings
from reels.label.scores import LABEL_INPUTS
from reels.label.virality import MedianRatioRule
from reels.media.store import MediaStore
from reels.pipeline import components
from reels.pipeline.status import lake_status
from reels.sources.file import FileSource
from reels.storage.delta import DeltaStore
from reels.storage.rows import conform
from reels.storage.tables import (
    ALL,
    ANALYSES,
    INSIGHTS,
    MEDIA,
    QUARANTINE,
    REEL_SNAPSHOTS,
    REELS,
    RUNS,
)
from tests.fakes.gemini_server import FakeGemini
from tests.videos import make_video

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
US = pa.timestamp("us", tz="UTC")
FILE_ROWS = 50_000  # rows per data file of the history: about a compacted file of `reels`
DAY_US = 86_400_000_000


# -- the history -------------------------------------------------------------------------------------------


def history(n: int, accounts: int, seed: int) -> dict[str, pa.Table]:
    """Every table of a lake that has run for a year: `n` reels of `accounts` accounts, in posting order."""
    rng = np.random.default_rng(seed)
    account = rng.integers(0, accounts, n)
    posted = np.sort(
        int(NOW.timestamp() * 1e6) - rng.integers(2, 365, n) * DAY_US - rng.integers(0, DAY_US, n)
    )
    # Last seen while the look-back still covered it, and never after today.
    scraped = np.minimum(posted + rng.integers(8, 20, n) * DAY_US, int(NOW.timestamp() * 1e6) - DAY_US)
    level = rng.uniform(np.log(2_000), np.log(500_000), accounts)[account]
    views = np.exp(level + 0.8 * rng.standard_normal(n)).astype(np.int64)
    # Shortcodes in no useful order (like Instagram's, compared as text): no free file pruning by key.
    ids = [f"H{seed}{x:016x}" for x in rng.integers(0, 2**62, n)]
    users = pa.array([f"cat{a:05d}" for a in range(accounts)]).take(pa.array(account))
    reels = pa.table(
        {
            "post_id": ids,
            "url": [f"https://www.instagram.com/reel/{p}/" for p in ids],
            "username": users,
            "caption": pc.binary_join_element_wise("Sunbeam secured ☀️ #catsofinstagram by @", users, ""),
            "hashtags": pa.array([["catsofinstagram", "cats"]] * n, pa.list_(pa.string())),
            "posted_at": pa.array(posted, US),
            "scraped_at": pa.array(scraped, US),
            "views": views,
            "views_field": ["videoPlayCount"] * n,
            "likes": views // 20,
            "comments": views // 400,
            "duration_s": rng.uniform(3, 60, n),
            "media_url": [
                f"https://scontent.cdninstagram.com/o1/v/t16/f2/m86/{p}.mp4?oe=EXPIRED&oh={p}" for p in ids
            ],
            "media_url_expires_at": pa.array(scraped + 3 * DAY_US, US),
            "is_pinned": np.zeros(n, bool),
            "music": ["catsofinstagram - Original audio"] * n,
            "product_type": ["clips"] * n,
            "source": ["apify"] * n,
        }
    )
    labels = MedianRatioRule(LabelSettings()).label_table(reels.select(list(LABEL_INPUTS)))
    for name in labels.column_names[1:]:
        reels = reels.append_column(name, labels[name])
    snaps = [
        reels.select(["post_id", "username", "views", "views_field", "likes", "comments"])
        .append_column("scraped_at", pa.array(posted + k * DAY_US, US))
        .append_column("source", pa.array(["apify"] * n))
        .append_column("run_id", pa.array([f"run-{k}"] * n))
        for k in (1, 3)
    ]
    final = reels.select(["post_id", "username", "views", "views_field", "likes", "comments", "scraped_at"])
    snaps.append(
        final.append_column("source", pa.array(["apify"] * n)).append_column(
            "run_id", pa.array(["run-h"] * n)
        )
    )
    media = pa.table(
        {
            "post_id": ids,
            "status": ["ok"] * n,
            "media_url": reels["media_url"],
            "sha256": [f"{i:064x}" for i in rng.integers(0, 2**62, n)],
            "path": [f"/history/{p}.mp4" for p in ids],
            "bytes": rng.integers(500_000, 8_000_000, n),
            "source_used": ["cdn"] * n,
            "attempts": np.ones(n, np.int64),
            "downloaded_at": pa.array(scraped, US),
            "run_id": ["run-h"] * n,
        }
    )
    return {
        REELS.name: reels,
        REEL_SNAPSHOTS.name: pa.concat_tables([conform(s, REEL_SNAPSHOTS) for s in snaps]),
        MEDIA.name: media,
        ANALYSES.name: analyses(ids, scraped, rng),
        QUARANTINE.name: pa.table(
            {
                "source": ["apify"] * (n // 100),
                "item_hash": [f"q{i}" for i in range(n // 100)],
                "kind": ["invalid"] * (n // 100),
                "reason": ["no shortCode"] * (n // 100),
                "raw": ['{"error": "no_items"}'] * (n // 100),
                "scraped_at": pa.array(scraped[: n // 100], US),
            }
        ),
        RUNS.name: pa.table(
            {
                "run_id": [f"run-{d}" for d in range(300)],
                "command": ["run"] * 300,
                "started_at": pa.array([NOW - timedelta(days=300 - d) for d in range(300)], US),
                "status": ["ok"] * 300,
            }
        ),
        INSIGHTS.name: findings(),
    }


def analyses(ids: list[str], when: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """A Gemini answer (with its raw JSON) and the local measurements for every reel."""
    n = len(ids)
    gemini: dict[str, Any] = {}
    local: dict[str, Any] = {}
    for name, info in VideoAnalysis.model_fields.items():
        annotation = info.annotation
        (kind,) = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
        if get_origin(kind) is Literal:
            values: Any = pa.array(rng.choice(get_args(kind), n))
        elif kind is bool:
            values = pa.array(rng.random(n) < 0.4)
        elif kind is int:
            values = pa.array(rng.integers(0, 4, n))
        elif kind is float:
            values = pa.array(rng.uniform(0, 1, n))
        elif get_origin(kind) is list:
            values = pa.array([["zooming", "loafing"]] * n, pa.list_(pa.string()))
        else:
            values = pa.array(rng.choice(["funny", "cute", "cozy", "a cat knocks a glass off the table"], n))
        (local if name in MEASURED else gemini)[name] = values
    raw = json.dumps({name: "x" * 40 for name in gemini})  # about 1 kB, like a real answer
    common = {
        "post_id": ids,
        "status": ["ok"] * n,
        "analyzed_at": pa.array(when + DAY_US, US),
        "run_id": ["run-h"] * n,
    }
    g = pa.table(
        {
            **common,
            "analyzer": ["gemini"] * n,
            "model": ["gemini-3.8-flash"] * n,
            "prompt_version": ["v1-gemini.1"] * n,
            **gemini,
            "raw_json": [raw] * n,
            "input_tokens": np.full(n, 2_000),
            "output_tokens": np.full(n, 300),
            "cost_usd": np.full(n, 0.0026),
        }
    )
    loc = pa.table(
        {
            **common,
            "analyzer": ["local"] * n,
            "model": ["opencv-haar-v1"] * n,
            "prompt_version": ["v1"] * n,
            **local,
        }
    )
    return pa.concat_tables([conform(g, ANALYSES), conform(loc, ANALYSES)])


MEASURED = {
    "duration_s", "width", "height", "fps", "has_audio", "loudness_db", "shot_count", "cuts_per_s",
    "first_cut_s", "motion_level", "brightness", "cat_visible", "cat_frame_share",
}  # fmt: skip


def findings() -> pa.Table:
    """Yesterday's findings: three supported, forty not."""
    rows = [
        {
            "run_id": "run-yesterday",
            "insight_id": f"i{k}",
            "feature": "people_present",
            "level": None,
            "kind": "boolean",
            "verdict": "supported" if k < 3 else "not_supported",
            "supported": k < 3,
            "effect": 0.4,
            "lift": 1.5,
            "ci_low": 0.2,
            "ci_high": 0.6,
            "p_value": 0.001,
            "q_value": 0.01,
            "n_with": 400,
            "n_without": 600,
            "accounts_with_both": 40,
            "accounts_same_sign": 30,
            "example_post_ids": [],
            "sources": ["gemini/gemini-3.8-flash"],
            "statement": "Reels with a person in them get more views than the same accounts' other reels.",
            "method": "within_account_v2",
            "input_fingerprint": "yesterday",
            "created_at": NOW - timedelta(days=1),
        }
        for k in range(43)
    ]
    return pa.Table.from_pylist(rows, schema=INSIGHTS.schema)


def write_lake(root: Path, tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        spec = ALL[name]
        table = conform(table, spec)
        for start in range(0, max(table.num_rows, 1), FILE_ROWS):
            write_deltalake(
                str(root / name),
                table.slice(start, FILE_ROWS),
                mode="append",
                configuration={"delta.targetFileSize": str(16 * 2**20)},
            )


# -- the day's increment -----------------------------------------------------------------------------------


def increment(
    tables: dict[str, pa.Table], new: int, refreshed: int, port: int, seed: int
) -> list[dict[str, Any]]:
    """Apify items: `new` reels of existing accounts, and the `refreshed` most recent reels again."""
    rng = np.random.default_rng(seed)
    reels = tables[REELS.name]
    users = sorted(set(reels["username"].to_pylist()))
    recent = reels.take(
        pc.array_sort_indices(reels["posted_at"], order="descending")[: min(refreshed, reels.num_rows)]
    )
    items = []
    for i in range(new):
        posted = NOW - timedelta(hours=int(rng.integers(2, 96)))
        items.append(
            _item(
                f"N{seed}{i:07d}",
                users[int(rng.integers(len(users)))],
                posted,
                int(rng.integers(500, 900_000)),
                f"http://127.0.0.1:{port}/{i}.mp4",
            )
        )
    for r in recent.to_pylist():
        items.append(
            _item(
                r["post_id"],
                r["username"],
                r["posted_at"],
                int(r["views"] * 1.1) + 1,
                f"http://127.0.0.1:{port}/gone/{r['post_id']}.mp4",
            )
        )
    return items


def _item(code: str, user: str, posted: datetime, views: int, video: str) -> dict[str, Any]:
    return {
        "inputUrl": f"https://www.instagram.com/{user}",
        "id": str(abs(hash(code))),
        "type": "Video",
        "shortCode": code,
        "caption": f"Zoomies at 3am #catsofinstagram #{user}",
        "hashtags": ["catsofinstagram", user],
        "url": f"https://www.instagram.com/p/{code}/",
        "commentsCount": views // 400,
        "videoUrl": video,
        "likesCount": views // 20,
        "videoPlayCount": views,
        "timestamp": posted.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "ownerUsername": user,
        "productType": "clips",
        "videoDuration": 2.0,
        "musicInfo": {"artist_name": user, "song_name": "Original audio"},
        "isPinned": False,
    }


def serve_cdn(video: bytes, ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The fake CDN: /<i>.mp4 is the seed video with a `free` box numbering it (distinct bytes, a valid
    MP4); anything else is the 403 of an expired link."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name = self.path.strip("/").split(".")[0]
            if not name.isdigit():
                self.send_response(403)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = video + struct.pack(">I", 16) + b"free" + struct.pack(">Q", int(name))
            self.send_response(200)
            self.send_header("content-type", "video/mp4")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ready.put(httpd.server_port)
    httpd.serve_forever()


# -- the daily run, in a process of its own ----------------------------------------------------------------


def lake_files(root: Path) -> dict[str, Any]:
    """Bytes and files on disk, and the files and bytes of the tables' current versions (live), in all
    and per table."""
    out: dict[str, Any] = {"disk_files": 0, "disk_bytes": 0, "log_files": 0, "live_files": 0, "live_bytes": 0}
    out["tables"] = {}
    for spec in ALL.values():
        folder = root / spec.name
        if not DeltaTable.is_deltatable(str(folder)):
            continue
        disk = list(folder.glob("*.parquet"))
        actions = pa.table(DeltaTable(str(folder)).get_add_actions(flatten=True))
        table = {
            "disk_files": len(disk),
            "disk_bytes": sum(p.stat().st_size for p in disk),
            "log_files": len(list((folder / "_delta_log").glob("*"))),
            "live_files": actions.num_rows,
            "live_bytes": int(pc.sum(actions["size_bytes"]).as_py() or 0),
        }
        out["tables"][spec.name] = table
        for k, v in table.items():
            out[k] += v
    return out


def new_data_bytes(store: DeltaStore, run_id: str, new_ids: list[str], scratch: Path) -> int:
    """The day's rows written alone as Parquet: what the lake must at least grow by."""
    keys = pa.table({"post_id": new_ids})
    parts = {
        "reels": store.read(REELS, keys=keys),
        "snapshots": store.read(REEL_SNAPSHOTS, where=[pipeline.Cond("run_id", "=", run_id)]),
        "media": store.read(MEDIA, where=[pipeline.Cond("run_id", "=", run_id)]),
        "analyses": store.read(ANALYSES, where=[pipeline.Cond("run_id", "=", run_id)]),
    }
    scratch.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, table in parts.items():
        pq.write_table(table, scratch / f"{name}.parquet")
        total += (scratch / f"{name}.parquet").stat().st_size
    return total


def peak_rss_mb() -> float:
    """This process's peak RSS. Not `ru_maxrss`: on Linux that keeps the high-water mark of the parent it
    was forked from across the exec (the parent holds the history it built)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    work = Path(args.child)
    settings = config.load(work / "reels.toml", environ={})
    secrets = config.Secrets(gemini_api_key="bench-key")
    store = DeltaStore(settings.paths.lake, settings.storage.target_file_mb)
    job = pipeline.Job(settings, store, MediaStore(settings.paths.media), "run-today", NOW)
    before = lake_files(settings.paths.lake)
    analyzer = components.build_analyzer("gemini", settings, secrets)
    measure = components.build_measurer("gemini")
    writer = components.build_playbook_writer(settings, secrets)
    stages: dict[str, Any] = {}

    def timed(name: str, work: Any) -> Any:
        reads = Counter(store.reads)
        started = time.perf_counter()
        out = work()
        stages[name] = {
            "s": time.perf_counter() - started,
            "rss_mb": peak_rss_mb(),
            "read": {t: n - reads[t] for t, n in store.reads.items() if n - reads[t]},
        }
        return out

    source = FileSource(work / "scrape.json", NOW)
    timed("ingest", lambda: pipeline.ingest(job, source))
    timed("label", lambda: pipeline.label(job))
    with components.http_client(settings) as client:
        got = timed("download", lambda: pipeline.download(job, client, []))
    done = timed("analyze", lambda: pipeline.analyze(job, analyzer, measure=measure))
    timed("insights", lambda: pipeline.insights(job))
    timed("playbook", lambda: pipeline.playbook(job, writer))
    report = timed("report", lambda: pipeline.report(job))
    timed("maintain", lambda: pipeline.maintain(job))
    daily = sum(v["s"] for v in stages.values())
    started = time.perf_counter()
    lake_status(DeltaStore(settings.paths.lake))
    status_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reels", "status", "--config", str(work / "reels.toml")],
        check=True, capture_output=True, cwd=work, env={**os.environ, "REELS_CONFIG": ""},
    )  # fmt: skip
    status_cli_s = time.perf_counter() - started
    after = lake_files(settings.paths.lake)
    new_ids = [
        i["shortCode"]
        for i in json.loads((work / "scrape.json").read_text())
        if i["shortCode"].startswith("N")
    ]
    result = {
        "stages": stages,
        "daily_s": daily,
        "status_s": status_s,
        "status_cli_s": status_cli_s,
        "report_mb": report.stat().st_size / 1e6,
        "before": before,
        "after": after,
        "new_data_bytes": new_data_bytes(store, "run-today", new_ids, work / "scratch"),
        "downloaded": got.counts,
        "analyzed": done.counts,
    }
    result["weekly_insights_s"], result["weekly_insights"] = None, {}
    if not args.no_weekly:
        started = time.perf_counter()
        weekly = pipeline.insights(job, force=True)
        result["weekly_insights_s"] = time.perf_counter() - started
        result["weekly_insights"] = weekly.counts
    print("RESULT " + json.dumps(result, default=str))


# -- the parent --------------------------------------------------------------------------------------------


def prepare(
    root: Path, n: int, accounts: int, args: argparse.Namespace, port: int, gemini_url: str, seed: int
) -> float:
    started = time.perf_counter()
    tables = history(n, accounts, seed)
    write_lake(root / "lake", tables)
    # The lake as months of upkeep leave it: files packed to the target size, nothing left to vacuum.
    for name in tables:
        table = DeltaTable(str(root / "lake" / name))
        table.optimize.compact(target_size=16 * 2**20)
        table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    # The videos of the reels the day refreshes are in the media store (their files are not read again).
    media = MediaStore(root / "media")
    recent = pc.array_sort_indices(tables[REELS.name]["posted_at"], order="descending")[: args.refreshed]
    for sha in tables[MEDIA.name]["sha256"].take(recent).to_pylist():
        media.path_for(sha).parent.mkdir(parents=True, exist_ok=True)
        media.path_for(sha).touch()
    items = increment(tables, args.new, args.refreshed, port, seed)
    (root / "scrape.json").write_text(json.dumps(items))
    (root / "reels.toml").write_text(
        f"""
[paths]
lake = "{root / "lake"}"
media = "{root / "media"}"
report = "{root / "report.html"}"
[download]
allowed_hosts = ["127.0.0.1"]
allow_http = true
retries = 0
fallbacks = []
[gemini]
base_url = "{gemini_url}"
requests_per_minute = 0
tokens_per_minute = 0
concurrency = 16
[analyze]
analyzer = "gemini"
concurrency = 2
[insights]
refresh_days = 7
playbook = "template"
"""
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--small-accounts", type=int, default=50)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--refreshed", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="build the lakes here and leave them")
    parser.add_argument("--no-weekly", action="store_true", help="skip timing the weekly `reels insights`")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-daily-"))
    tmp.mkdir(parents=True, exist_ok=True)
    seed_video = make_video(
        tmp / "seed.mp4",
        [np.full((320, 180, 3), i * 12 % 256, np.uint8) for i in range(20)],
        10,
        "sine=frequency=440",
    ).read_bytes()
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    cdn = multiprocessing.Process(target=serve_cdn, args=(seed_video, ready), daemon=True)
    cdn.start()
    port = ready.get(timeout=30)
    results = {}
    try:
        with FakeGemini() as fake:
            for name, n, accounts, seed in (
                ("small", args.small, args.small_accounts, 1),
                ("big", args.big, args.accounts, 2),
            ):
                root = tmp / name
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                built = prepare(root, n, accounts, args, port, fake.url, seed)
                print(f"{name}: built {n:,} reels over {accounts:,} accounts in {built:.1f} s", flush=True)
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(root),
                        *(["--no-weekly"] if args.no_weekly else []),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(out.stdout[-3000:], out.stderr[-3000:])
                    raise SystemExit(f"the {name} run failed")
                results[name] = json.loads(line[7:])
    finally:
        cdn.terminate()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    show(results, args)


def show(results: dict[str, Any], args: argparse.Namespace) -> None:
    small, big = results["small"], results["big"]
    print(f"\ndaily increment: {args.new:,} new reels with videos, {args.refreshed:,} refreshed metrics")
    print(f"{'stage':<10}{'small s':>9}{'big s':>9}{'big/small':>10}{'big RSS MB':>12}   rows read (big)")
    for stage in big["stages"]:
        a, b = small["stages"][stage], big["stages"][stage]
        read = ", ".join(f"{t} {n:,}" for t, n in sorted(b["read"].items())) or "-"
        times = f"{a['s']:>9.2f}{b['s']:>9.2f}{b['s'] / max(a['s'], 1e-3):>10.2f}"
        print(f"{stage:<10}{times}{b['rss_mb']:>12.0f}   {read}")
    ratio = big["daily_s"] / small["daily_s"]
    print(f"{'daily':<10}{small['daily_s']:>9.2f}{big['daily_s']:>9.2f}{ratio:>10.2f}   (goal ≤ 1.5)")
    peak = max(s["rss_mb"] for s in big["stages"].values())
    print(f"peak RSS, big lake: {peak:,.0f} MB (goal ≤ 1,536)")
    print(f"downloaded (big): {big['downloaded']}; analyzed (big): {big['analyzed']}")
    print(
        f"reels status on the big lake: function {big['status_s']:.2f} s, "
        f"command {big['status_cli_s']:.2f} s (goal ≤ 2 s)"
    )
    print(f"report: {big['report_mb']:.2f} MB on the big lake (goal ≤ 5 MB)")
    for name, r in (("small", small), ("big", big)):
        b, a, new = r["before"], r["after"], r["new_data_bytes"]
        live, disk = a["live_bytes"] - b["live_bytes"], a["disk_bytes"] - b["disk_bytes"]
        files = {k: a[k] - b[k] for k in ("live_files", "disk_files", "log_files")}
        print(
            f"{name} lake growth: live {live / 1e6:.2f} MB = {live / new:.2f}× the new data "
            f"({new / 1e6:.2f} MB); on disk {disk / 1e6:.2f} MB ({disk / new:.2f}×) until replaced files "
            f"pass the vacuum retention; files: live {files['live_files']:+d}, on disk "
            f"{files['disk_files']:+d}, log {files['log_files']:+d}"
        )
    grew = {
        t: (big["after"]["tables"][t]["disk_bytes"] - big["before"]["tables"].get(t, {}).get("disk_bytes", 0))
        / 1e6
        for t in big["after"]["tables"]
    }
    print("big lake, MB added on disk per table: " + ", ".join(f"{t} {v:.1f}" for t, v in grew.items() if v))
    if big["weekly_insights_s"] is not None:
        print(
            f"weekly `reels insights` (not in the daily wall): small {small['weekly_insights_s']:.1f} s,"
            f" big {big['weekly_insights_s']:.1f} s; {big['weekly_insights']}"
        )


if __name__ == "__main__":
    main()
