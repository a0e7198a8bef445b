"""Calibration of the insights stage: hundreds of simulated lakes (tests/simulate.py, 30 accounts × 30
reels, about 50 tests each) through the real code path, `insights.feature_table` then `insights.findings`
with the default `InsightsSettings`.

    python benchmarks/bench_insights.py [--null 1000] [--planted 200] [--confounded 200]
        [--bootstrap 2000] [--jobs 2]

1. Null (no feature moves views): the share of runs with any supported row, with its 95 % Wilson interval
   (target ≤ 0.10; under the null it is also the false discovery proportion), and supported rows per run.
2. Planted (`people_present` multiplies views by 2): power, the share of runs where it is supported
   (target ≥ 0.80); the mean false discovery proportion, supported rows other than it over
   max(1, supported rows) (target ≤ 0.10); its mean estimated lift and the coverage of its interval.
3. Confounded (a "dramatic" tone is common in growing, hit-and-miss accounts and does nothing within any
   account): the share of runs where `emotional_tone=dramatic` is supported (target ≤ 0.05), next to what a
   naive pooled analysis of the same reels says: the difference in mean log(viral_ratio) between reels
   with and without that tone, ignoring accounts, and how often a Welch t-test on it gives p < 0.05.

Every dataset has its own seed (scenario offset + i); datasets run in `--jobs` processes and the figures
do not depend on how many. BLAS is held to one thread per process (set before numpy is imported) so the
processes do not compete for the cores. Reports only: exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# One BLAS thread per process (--jobs is the parallelism); set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.simulate

import numpy as np
from scipy import stats

from reels import insights
from reels.config import InsightsSettings
from reels.insights.features import MIN_RATIO, TAKING_PART
from tests.simulate import simulate

NOW = datetime(2026, 11, 16, tzinfo=UTC)
PLANTED = "people_present"
PLANTED_LIFT = 2.0
CONFOUNDER = "emotional_tone=dramatic"
SEED_OFFSET = {"null": 0, "planted": 100_000, "confounded": 200_000}


def run_one(task: tuple[str, int, int]) -> dict[str, Any]:
    """One simulated dataset through feature_table → findings; the figures the report needs from it."""
    scenario, seed, bootstrap = task
    settings = dataclasses.replace(InsightsSettings(), bootstrap=bootstrap)
    reels, analyses = simulate(scenario, seed=seed)
    start = time.perf_counter()
    table = insights.feature_table(reels, analyses, min_reels=settings.min_reels)
    found = insights.findings(
        table, settings, run_id="bench", now=NOW, fingerprint=insights.input_fingerprint(table, settings)
    )
    took = time.perf_counter() - start
    by_id = {f.insight_id: f for f in found}
    out: dict[str, Any] = {
        "seconds": took,
        "tests": sum(f.p_value is not None for f in found),
        "supported": [f.insight_id for f in found if f.supported],
    }
    for key, insight_id in (("planted", PLANTED), ("confounder", CONFOUNDER)):
        f = by_id.get(insight_id)
        out[key] = (f.effect, f.ci_low, f.ci_high) if f is not None and f.effect is not None else None
    if scenario == "confounded":
        out["naive"] = naive_pooled(reels, analyses)
    return out


def naive_pooled(reels: list[dict[str, Any]], analyses: list[dict[str, Any]]) -> tuple[float, float]:
    """(mean log lift with tone "dramatic" − without, Welch p) over all reels pooled, accounts ignored."""
    tone = {
        a["post_id"]: a.get("emotional_tone")
        for a in analyses
        if a.get("analyzer") == "gemini" and a.get("status") == "ok"
    }
    dramatic, other = [], []
    for r in reels:
        if r.get("virality_label") not in TAKING_PART or r.get("viral_ratio") is None:
            continue
        t = tone.get(r["post_id"])
        if t is None:
            continue
        y = math.log(max(float(r["viral_ratio"]), MIN_RATIO))  # the outcome feature_table uses
        (dramatic if t == "dramatic" else other).append(y)
    result = stats.ttest_ind(dramatic, other, equal_var=False)
    return float(np.mean(dramatic) - np.mean(other)), float(result.pvalue)


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k / n:.3f} ({k}/{n}; 95% Wilson {low:.3f}–{high:.3f})"


def goal(name: str, value: float, target: str, ok: Callable[[float], bool]) -> str:
    return f"  goal {name} {target}: {value:.3f}  {'PASS' if ok(value) else 'FAIL'}"


def run_all(tasks: list[tuple[str, int, int]], jobs: int) -> list[dict[str, Any]]:
    """Results in task order, whatever the number of processes."""
    if jobs <= 1:
        return [run_one(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_one, tasks, chunksize=4))


def report_null(results: list[dict[str, Any]], goals: list[str]) -> None:
    n = len(results)
    counts = [len(r["supported"]) for r in results]
    any_k = sum(c > 0 for c in counts)
    print(f"null: {n} datasets, {np.mean([r['tests'] for r in results]):.1f} tests a run")
    print(f"  runs with any supported row: {share(any_k, n)}")
    print(f"  supported rows per run: mean {np.mean(counts):.3f}, max {max(counts)}")
    print(f"  false discovery proportion under the null = that share: {any_k / n:.3f}")
    goals.append(goal("null: share of runs with any supported", any_k / n, "≤ 0.10", lambda v: v <= 0.10))


def report_planted(results: list[dict[str, Any]], goals: list[str]) -> None:
    n = len(results)
    hits = sum(PLANTED in r["supported"] for r in results)
    fdp = [sum(i != PLANTED for i in r["supported"]) / max(1, len(r["supported"])) for r in results]
    others = [sum(i != PLANTED for i in r["supported"]) for r in results]
    est = [r["planted"] for r in results if r["planted"] is not None]
    effects = np.array([e for e, _, _ in est])
    covered = sum(np.exp(lo) <= PLANTED_LIFT <= np.exp(hi) for _, lo, hi in est)
    print(f"planted: {n} datasets, {PLANTED} × {PLANTED_LIFT:g}")
    print(f"  power ({PLANTED} supported): {share(hits, n)}")
    print(f"  false discovery proportion: mean {np.mean(fdp):.3f}")
    print(f"  supported rows other than {PLANTED} per run: mean {np.mean(others):.3f}")
    print(
        f"  estimated lift of {PLANTED} ({len(est)} runs tested): mean {np.mean(np.exp(effects)):.3f}×, "
        f"geometric mean {np.exp(effects.mean()):.3f}×, sd of log {effects.std(ddof=1):.3f}"
    )
    print(f"  interval coverage of {PLANTED_LIFT:g}×: {share(covered, len(est))}")
    goals.append(goal("planted: power", hits / n, "≥ 0.80", lambda v: v >= 0.80))
    goals.append(
        goal("planted: mean false discovery proportion", float(np.mean(fdp)), "≤ 0.10", lambda v: v <= 0.10)
    )


def report_confounded(results: list[dict[str, Any]], goals: list[str]) -> None:
    n = len(results)
    hits = sum(CONFOUNDER in r["supported"] for r in results)
    any_k = sum(len(r["supported"]) > 0 for r in results)
    within = np.array([r["confounder"][0] for r in results if r["confounder"] is not None])
    diffs = np.array([d for d, _ in (r["naive"] for r in results)])
    naive_k = sum(p < 0.05 for _, p in (r["naive"] for r in results))
    print(f"confounded: {n} datasets, {CONFOUNDER} common in growing accounts, no within-account effect")
    print(f"  {CONFOUNDER} supported: {share(hits, n)}")
    print(f"  runs with any supported row: {share(any_k, n)}")
    print(
        f"  within-account estimate ({len(within)} runs tested): mean log-lift {within.mean():+.3f} "
        f"({np.exp(within.mean()):.3f}×)"
    )
    print(
        f"  naive pooled: mean log-lift difference {diffs.mean():+.3f} ({np.exp(diffs.mean()):.3f}×); "
        f"Welch p < 0.05 in {share(naive_k, n)}"
    )
    goals.append(goal(f"confounded: {CONFOUNDER} supported", hits / n, "≤ 0.05", lambda v: v <= 0.05))


def main() -> None:
    defaults = InsightsSettings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--null", type=int, default=1000, help="datasets with no effect")
    parser.add_argument("--planted", type=int, default=200, help="datasets with people_present × 2")
    parser.add_argument(
        "--confounded", type=int, default=200, help="datasets with a between-account confounder"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=defaults.bootstrap, help="resamples and permutations"
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes over datasets")
    args = parser.parse_args()
    counts = {"null": args.null, "planted": args.planted, "confounded": args.confounded}
    tasks = [(sc, SEED_OFFSET[sc] + i, args.bootstrap) for sc, k in counts.items() for i in range(k)]
    s = dataclasses.replace(defaults, bootstrap=args.bootstrap)
    print(
        f"insights calibration: {len(tasks)} datasets of 30 accounts × 30 reels, {args.jobs} jobs, "
        f"{os.cpu_count()} cores; fdr {s.fdr}, bootstrap {s.bootstrap}, confidence {s.confidence}, "
        f"min_reels {s.min_reels}, min_accounts {s.min_accounts}, min_same_sign {s.min_same_sign}"
    )
    start = time.perf_counter()
    results = run_all(tasks, args.jobs)
    wall = time.perf_counter() - start
    by_scenario: dict[str, list[dict[str, Any]]] = {sc: [] for sc in counts}
    for (sc, _, _), r in zip(tasks, results, strict=True):
        by_scenario[sc].append(r)
    goals: list[str] = []
    for sc, report in (("null", report_null), ("planted", report_planted), ("confounded", report_confounded)):
        if by_scenario[sc]:
            report(by_scenario[sc], goals)
    print("goals:")
    print("\n".join(goals))
    if tasks:
        inside = np.mean([r["seconds"] for r in results])
        print(
            f"wall time {wall:.1f} s: {wall / len(tasks):.3f} s per dataset "
            f"(feature_table + findings {inside:.3f} s per dataset inside a worker)"
        )


if __name__ == "__main__":
    main()
