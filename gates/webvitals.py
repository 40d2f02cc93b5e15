"""``lcp_p75`` / ``inp_p75``: is the canary's 75th percentile worse than the baseline's by more
than the policy allows?

Verdict
    Δ = p75(canary) − p75(baseline), with a one-sided 95% bootstrap bound on each side
    (the 5th and 95th percentiles of the bootstrap distribution of Δ).
    upper bound < ``max_increase_ms`` → pass; lower bound > ``max_increase_ms`` → fail;
    otherwise inconclusive. Fewer than ``min_samples`` per arm, or an observation shorter than
    ``observe``, is inconclusive whatever the numbers say: early data is never a pass.

p75 estimator
    The order statistic x₍ₘ₎ with m = ⌈0.75·n⌉ (the inverse of the empirical CDF, numpy's
    ``inverted_cdf``). It is what the bootstrap below resamples, so point estimate and interval
    agree; it differs from an interpolated p75 by less than one gap between neighbouring values.

Why not a plain resampling bootstrap
    Resampling n values B times costs O(B·n): 10,000 resamples of 500,000 samples per arm is
    minutes. But for a quantile we do not need the resamples themselves. In a resample of size n
    drawn from the sorted sample x₍₁₎ ≤ … ≤ x₍ₙ₎, the number of draws at or below x₍ⱼ₎ is
    Binomial(n, j/n), so the resample's m-th order statistic is x₍ⱼ₎ with
        P(J ≤ j) = P(Binomial(n, j/n) ≥ m) = I_{j/n}(m, n − m + 1)   (regularised incomplete beta).
    We evaluate that CDF for the j within ±(8√n + 8) of m (the mass outside is below 1e-12), draw
    B uniforms from a seeded generator, and invert. Each arm costs one sort (O(n log n)) plus
    O(√n + B log n); 1,000,000 values and 10,000 resamples take well under a second.

Error of the method
    The draws follow *exactly* the distribution a plain bootstrap's resampled p75 follows (no
    binning, no normal approximation), so the only error beyond the bootstrap's own is Monte Carlo:
    with B resamples the reported 5%/95% bound is an empirical percentile whose tail probability
    has standard deviation √(0.05·0.95/B) — 0.22 percentage points at the default B = 10,000, i.e.
    the "95%" bound is a 94.6–95.4% bound at ±2 SD. The window truncation drops < 1e-12 of the
    mass. The bootstrap itself is asymptotic: with few samples the resampled p75 takes only a
    handful of distinct values, one more reason small arms are inconclusive.

Second opinion
    A Mann-Whitney U test (normal approximation with tie and continuity correction), one-sided
    "canary is slower", is reported in ``values`` with the probability that a random canary sample
    is slower than a random baseline sample. It tests a shift of the whole distribution, not the
    p75 against a budget, so it informs the reviewer but does not decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import special

from gates.durations import format_duration
from gates.metrics import FloatArray, Window
from gates.policy import P75Config
from gates.result import GateResult, Status

QUANTILE: Final = 0.75
CONFIDENCE: Final = 0.95
DEFAULT_RESAMPLES: Final = 10_000
DEFAULT_SEED: Final = 0
METHOD: Final = "exact order-statistic bootstrap (percentile, one-sided 95%)"

# Which web-vitals metric each gate judges.
GATE_METRIC: Final[dict[str, str]] = {"lcp_p75": "LCP", "inp_p75": "INP"}


def finite(values: NDArray[Any]) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    return a[np.isfinite(a)]


def order_index(n: int, q: float = QUANTILE) -> int:
    """1-based rank m of the order statistic used as the q-quantile of n values."""
    return max(1, math.ceil(q * n))


def p75(sorted_values: FloatArray) -> float:
    return float(sorted_values[order_index(len(sorted_values)) - 1])


def resample_quantile(
    sorted_values: FloatArray, rng: np.random.Generator, resamples: int, q: float = QUANTILE
) -> FloatArray:
    """``resamples`` draws of the bootstrap distribution of the q-quantile (see module docstring)."""
    n = len(sorted_values)
    m = order_index(n, q)
    half = int(8 * math.sqrt(n)) + 8
    j = np.arange(max(1, m - half), min(n, m + half) + 1)
    cdf = np.asarray(special.betainc(m, n - m + 1, j / n), dtype=np.float64)
    # The window's top may stop short of j = n; the mass beyond it is negligible but the
    # inversion needs a CDF that reaches 1.
    cdf[-1] = 1.0
    u = rng.random(resamples)
    idx = j[np.searchsorted(cdf, u, side="left")] - 1
    return sorted_values[idx]


@dataclass(frozen=True)
class DiffInterval:
    p75_canary: float
    p75_baseline: float
    diff: float
    lower: float  # one-sided 95% lower bound of the difference
    upper: float  # one-sided 95% upper bound


def p75_difference(
    canary_sorted: FloatArray, baseline_sorted: FloatArray, *, seed: int, resamples: int
) -> DiffInterval:
    """p75(canary) − p75(baseline) with its one-sided 95% bounds; both inputs sorted, non-empty."""
    # Both arms come from one seeded generator, in a fixed order, so a re-run reproduces the
    # interval bit for bit.
    rng = np.random.default_rng(seed)
    c = resample_quantile(canary_sorted, rng, resamples)
    b = resample_quantile(baseline_sorted, rng, resamples)
    d = c - b
    lo, hi = np.quantile(d, [1 - CONFIDENCE, CONFIDENCE])
    pc, pb = p75(canary_sorted), p75(baseline_sorted)
    return DiffInterval(pc, pb, pc - pb, float(lo), float(hi))


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U statistic of the canary arm
    p_greater: float  # one-sided p-value, H1: canary tends to be larger (slower)
    prob_canary_slower: float  # U / (n1·n2), ties counted half


def mann_whitney(canary: FloatArray, baseline: FloatArray) -> MannWhitney:
    """Mann-Whitney U with the normal approximation, tie correction and continuity correction."""
    n1, n2 = len(canary), len(baseline)
    both = np.concatenate([canary, baseline])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    # Average rank of each distinct value: ranks before it, plus the middle of its own run.
    starts = np.cumsum(counts) - counts
    avg_rank = starts + (counts + 1) / 2.0
    r1 = float(avg_rank[inverse[:n1]].sum())
    u1 = r1 - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    n = n1 + n2
    tie = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    var = n1 * n2 / 12.0 * ((n + 1) - tie / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        # Every value identical: no evidence either way.
        return MannWhitney(u1, 0.5, 0.5)
    z = (u1 - mean - 0.5) / math.sqrt(var)
    p = float(special.ndtr(-z))
    return MannWhitney(u1, p, u1 / (n1 * n2))


def _fmt(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}".strip() if unit == "ms" else f"{v:.3g}"


def evaluate_p75(
    gate: str,
    canary: NDArray[Any],
    baseline: NDArray[Any],
    config: P75Config,
    *,
    min_samples: int,
    observe: timedelta,
    window: Window,
    now: datetime,
    seed: int = DEFAULT_SEED,
    resamples: int = DEFAULT_RESAMPLES,
    source: str = "rum",
) -> GateResult:
    """Judge one p75 gate (``lcp_p75`` or ``inp_p75``); values in milliseconds, any order.

    ``source`` says whether the values are real-user ("rum") or Lighthouse ("lab") samples; a lab
    verdict says so in its summary, because a lab run is one emulated device, not the audience."""
    metric = GATE_METRIC.get(gate, gate.removesuffix("_p75").upper())
    unit = "ms"
    threshold = float(config.max_increase_ms)
    raw_c, raw_b = np.asarray(canary), np.asarray(baseline)
    c, b = np.sort(finite(raw_c)), np.sort(finite(raw_b))
    observed = window.observed(now)
    evidence: dict[str, Any] = {
        "metric": metric,
        "method": METHOD,
        "quantile": QUANTILE,
        "confidence": CONFIDENCE,
        "seed": seed,
        "resamples": resamples,
        "n_canary": len(c),
        "n_baseline": len(b),
        "dropped_non_finite": int(raw_c.size - c.size + raw_b.size - b.size),
        "min_samples": min_samples,
        "threshold_ms": threshold,
        "window": window.to_dict(),
        "now": now.isoformat(),
        "observed_s": observed.total_seconds(),
        "observe_s": observe.total_seconds(),
        "source": source,
    }
    values: dict[str, Any] = {"n_canary": len(c), "n_baseline": len(b)}
    label = "" if source == "rum" else f"{source} samples: "

    def result(status: Status, summary: str, measured: float | None = None) -> GateResult:
        return GateResult(
            gate=gate,
            status=status,
            summary=label + summary,
            measured=measured,
            threshold=threshold,
            unit=unit,
            values=values,
            evidence=evidence,
        )

    if len(c) == 0 or len(b) == 0:
        missing = " and ".join(arm for arm, a in (("canary", c), ("baseline", b)) if len(a) == 0)
        return result(Status.INCONCLUSIVE, f"no {metric} samples from the {missing} yet")

    iv = p75_difference(c, b, seed=seed, resamples=resamples)
    mw = mann_whitney(c, b)
    stats = {
        "p75_canary": iv.p75_canary,
        "p75_baseline": iv.p75_baseline,
        "diff": iv.diff,
        "diff_lower": iv.lower,
        "diff_upper": iv.upper,
        "mann_whitney_u": mw.u,
        "mann_whitney_p": mw.p_greater,
        "prob_canary_slower": mw.prob_canary_slower,
    }
    values.update(stats)
    evidence.update(stats)
    interval = f"95% bounds {_fmt(iv.lower, unit)} … {_fmt(iv.upper, unit)}"
    head = (
        f"{metric} p75 {_fmt(iv.p75_canary, unit)} vs baseline {_fmt(iv.p75_baseline, unit)}: "
        f"{iv.diff:+,.0f} ms ({interval}; budget +{threshold:,.0f} ms)"
    )

    short = [arm for arm, a in (("canary", c), ("baseline", b)) if len(a) < min_samples]
    if short:
        counts = ", ".join(f"{arm} {len(c) if arm == 'canary' else len(b):,}" for arm in short)
        return result(Status.INCONCLUSIVE, f"too few samples ({counts} < {min_samples:,} per arm); {head}", iv.diff)
    if observed < observe:
        return result(
            Status.INCONCLUSIVE,
            f"observed {format_duration(observed) if observed.total_seconds() >= 1 else '0s'} "
            f"of {format_duration(observe)}; {head}",
            iv.diff,
        )
    if iv.upper < threshold:
        return result(Status.PASS, head, iv.diff)
    if iv.lower > threshold:
        return result(Status.FAIL, f"regression: {head}", iv.diff)
    return result(Status.INCONCLUSIVE, f"not yet distinguishable from the budget: {head}", iv.diff)
