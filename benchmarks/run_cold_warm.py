"""Time `reels run` on the bundled sample: cold (empty lakehouse) then warm (the same run again).

The warm run should do no downloads and no analyses, so its time is the cost of checking the tables.
Usage: python benchmarks/run_cold_warm.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed_run(workdir: str) -> float:
    # No credentials or REELS_* settings from the shell: the run must be the offline sample run.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("REELS_", "APIFY_", "GEMINI_", "INSTAGRAM_"))
    }
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reels", "run"], cwd=workdir, env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="cold+warm pairs to run")
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as workdir:
            cold.append(timed_run(workdir))
            warm.append(timed_run(workdir))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"reels run on the sample, {os.cpu_count()} cores, median of {args.repeat}")
    print(f"cold  {c:7.2f} s")
    print(f"warm  {w:7.2f} s")
    print(f"ratio {c / w:7.1f}x  (cold / warm)")


if __name__ == "__main__":
    main()
