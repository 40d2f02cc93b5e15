"""Decision quality of the ``lcp_p75`` verdict, beside a Kayenta-style Mann-Whitney classifier.

    python -m bench.verdicts [--draws 500] [--median-ms 1000] [--workers 2] [--quick]

For each σ (0.35, 0.5, 0.7), n per arm (200, 1,000, 5,000) and true Δp75 (0, +75, +150, +300 ms)
we draw ``--draws`` seeded pairs of lognormal LCP cohorts. The baseline has median
``--median-ms``; the canary is the same lognormal scaled so that its true p75 is exactly Δ
higher (a slower image slows every page load in proportion, it does not add a constant;
``--model shift`` adds a constant Δ instead, which leaves the canary's spread unchanged and so
is easier to detect).
Each pair is judged by

* ours: ``gates.webvitals.evaluate_p75`` with the default policy (budget +150 ms,
  ``min_samples`` 1,000, the observation window complete);
* Kayenta-style: the Mann-Whitney / Hodges-Lehmann classifier Netflix's ACA judge uses, at 98%
  confidence with tolerance 0.25: "fail" (High) when the lower end of the two-sided 98% confidence
  interval of the location shift is above 0.25 × |Hodges-Lehmann estimate|, otherwise "pass". It has
  no inconclusive outcome, no minimum sample count and no notion of a budget in milliseconds.

Then it times ``evaluate_canary`` (all four Canary gates) over 1,000,000 samples.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from scipy import special

from gates.canary import evaluate_canary
from gates.metrics import CohortData, CohortPair, Counters, Window
from gates.policy import default_policy
from gates.result import Status
from gates.webvitals import evaluate_p75

SIGMAS = (0.35, 0.5, 0.7)
SIZES = (200, 1000, 5000)
DELTAS = (0.0, 75.0, 150.0, 300.0)
Z75 = 0.6744897501960817  # standard normal 75th percentile

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=30))
NOW = WINDOW.end


def kth_pairwise_differences(
    c: NDArray[np.float64], b: NDArray[np.float64], ks: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The k-th smallest of all c_i − b_j (1-based, one per k) without forming the n1·n2 pairs.

    Bisection on d over count(c_i − b_j ≤ d), each count being one vectorised searchsorted.
    """
    c, b = np.sort(c), np.sort(b)
    lo = np.full(len(ks), c[0] - b[-1])
    hi = np.full(len(ks), c[-1] - b[0])
    tol = 1e-6 * max(1.0, float(hi[0] - lo[0]))
    while np.any(hi - lo > tol):
        mid = (lo + hi) / 2
        counts = (len(b) - np.searchsorted(b, c[:, None] - mid[None, :], side="left")).sum(axis=0)
        enough = counts >= ks
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    return hi


def kayenta_mw(
    canary: NDArray[np.float64], baseline: NDArray[np.float64], confidence: float = 0.98, tolerance: float = 0.25
) -> Status:
    n1, n2 = len(canary), len(baseline)
    if n1 == 0 or n2 == 0:
        return Status.INCONCLUSIVE
    pairs = n1 * n2
    z = float(special.ndtri(1 - (1 - confidence) / 2))
    k_lo = max(1.0, math.floor(pairs / 2 - z * math.sqrt(pairs * (n1 + n2 + 1) / 12)))
    ks = np.array([k_lo, (pairs + 1) / 2, pairs - k_lo + 1])
    lower, estimate, _upper = kth_pairwise_differences(canary, baseline, np.ceil(ks))
    return Status.FAIL if lower > tolerance * abs(estimate) else Status.PASS


@dataclass(frozen=True)
class Cell:
    sigma: float
    n: int
    delta: float
    draws: int
    median: float
    model: str = "scale"


def run_cell(cell: Cell) -> tuple[Cell, Counter[str], Counter[str], float]:
    policy = default_policy().phases.canary
    assert policy.gates.lcp_p75 is not None
    cfg = policy.gates.lcp_p75
    mu = math.log(cell.median)
    p75_base = math.exp(mu + Z75 * cell.sigma)
    mu_canary = math.log(p75_base + cell.delta) - Z75 * cell.sigma
    ours: Counter[str] = Counter()
    kayenta: Counter[str] = Counter()
    t = time.perf_counter()
    shift = 0.0
    if cell.model == "shift":
        mu_canary, shift = mu, cell.delta
    for draw in range(cell.draws):
        # One independent stream per (cell, draw), so any cell can be re-run alone.
        rng = np.random.default_rng([int(cell.sigma * 100), cell.n, int(cell.delta), draw])
        seed = int(rng.integers(2**32))
        b = rng.lognormal(mu, cell.sigma, cell.n)
        c = rng.lognormal(mu_canary, cell.sigma, cell.n) + shift
        r = evaluate_p75(
            "lcp_p75",
            c,
            b,
            cfg,
            min_samples=policy.min_samples,
            observe=timedelta(minutes=30),
            window=WINDOW,
            now=NOW,
            seed=seed,
        )
        ours[r.status.value] += 1
        kayenta[kayenta_mw(c, b).value] += 1
    return cell, ours, kayenta, time.perf_counter() - t


def _rates(c: Counter[str], draws: int) -> str:
    return " ".join(f"{100 * c[s] / draws:5.1f}" for s in ("pass", "fail", "inconclusive"))


def decision_quality(draws: int, median: float, workers: int, sizes: tuple[int, ...], model: str) -> list[str]:
    cells = [Cell(s, n, d, draws, median, model) for s in SIGMAS for n in sizes for d in DELTAS]
    how = "canary scaled" if model == "scale" else "canary = baseline + Δ"
    print(
        f"lognormal LCP ({how}), baseline median {median:.0f} ms, {draws} draws per cell; "
        "budget +150 ms, min_samples 1,000; rates in %"
    )
    print(
        f"{'σ':>5} {'n/arm':>6} {'Δp75':>6} {'p75 base':>9} | {'ours: pass  fail incon':>23} | "
        f"{'Kayenta MW: pass  fail':>22}"
    )
    results: dict[tuple[float, int, float], tuple[Counter[str], Counter[str]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for cell, ours, kay, _secs in pool.map(run_cell, cells):
            results[(cell.sigma, cell.n, cell.delta)] = (ours, kay)
            p75_base = math.exp(math.log(median) + Z75 * cell.sigma)
            print(
                f"{cell.sigma:5.2f} {cell.n:6d} {cell.delta:+6.0f} {p75_base:9.0f} | "
                f"{_rates(ours, draws):>23} | {_rates(kay, draws)[:11]:>22}",
                flush=True,
            )
    checks: list[str] = []
    for sigma in (0.35, 0.5):
        if 1000 not in sizes:
            break
        fail0 = 100 * results[(sigma, 1000, 0.0)][0]["fail"] / draws
        fail300 = 100 * results[(sigma, 1000, 300.0)][0]["fail"] / draws
        checks.append(f"σ={sigma}, n=1000: fail at Δ=0 {fail0:.1f}% (target ≤ 2%) {'OK' if fail0 <= 2 else 'MISSED'}")
        checks.append(
            f"σ={sigma}, n=1000: fail at Δ=+300 {fail300:.1f}% (target ≥ 95%) {'OK' if fail300 >= 95 else 'MISSED'}"
        )
    small = [n for n in sizes if n < 1000]
    passes = sum(results[(s, n, d)][0]["pass"] for s in SIGMAS for n in small for d in DELTAS)
    kay_passes = sum(results[(s, n, d)][1]["pass"] for s in SIGMAS for n in small for d in DELTAS)
    checks.append(
        f"n below min_samples ({', '.join(map(str, small))}): ours passed {passes} times "
        f"(target 0) {'OK' if passes == 0 else 'MISSED'}; Kayenta-style passed {kay_passes}"
    )
    return checks


def evaluation_speed(total: int, repeats: int = 5) -> str:
    rng = np.random.default_rng(42)
    per = total // 4  # LCP and INP, canary and baseline
    policy = default_policy().phases.canary

    def arm(scale: float) -> CohortData:
        return CohortData(
            vitals={
                "LCP": rng.lognormal(math.log(1000 * scale), 0.5, per),
                "INP": rng.lognormal(math.log(80 * scale), 0.6, per),
            },
            regions={
                "eu": Counters(3_000_000, 900, 2_850_000, 150_000),
                "us": Counters(2_000_000, 500, 1_900_000, 100_000),
            },
        )

    data = CohortPair(arm(1.02), arm(1.0))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        results = evaluate_canary(data, policy, WINDOW, NOW)
        times.append(time.perf_counter() - t)
    verdicts = ", ".join(f"{r.gate}={r.status.value}" for r in results)
    return (
        f"evaluate_canary over {total:,} samples ({per:,} per metric per arm, 4 gates, "
        f"10,000 resamples): best {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"(target < 2 s) [{verdicts}]"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--median-ms", type=float, default=1000.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="50 draws, for a smoke run")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument(
        "--model",
        choices=("scale", "shift"),
        default="scale",
        help="scale: the canary lognormal is stretched (default); shift: a constant Δ is added",
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = ap.parse_args(argv)
    draws = 50 if args.quick else args.draws
    t = time.perf_counter()
    checks = (
        [] if args.speed_only else decision_quality(draws, args.median_ms, args.workers, tuple(args.sizes), args.model)
    )
    print()
    for line in checks:
        print(line)
    print(evaluation_speed(1_000_000))
    print(evaluation_speed(2_000_000))
    print(f"bench time {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
