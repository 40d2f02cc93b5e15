"""``error_budget``: does the canary fail more requests than the baseline, or more than the cap?

Two questions, both asked of the same window:

* Is the canary's error rate above the absolute cap ``max_rate``? Decided on the one-sided 95%
  Clopper-Pearson bounds of the canary rate, so that 3 errors in 300 requests is not yet proof and
  0 errors in 30 requests is not yet a clean bill of health.
* Is the canary worse than the concurrent baseline? A pooled two-proportion z-test, one-sided,
  at ``ALPHA``: a real increase that stays under the cap is reported (warn), not rolled back.

If both arms are over the cap and the canary is no worse, the errors are not the release's
doing (an outage behind both): that is inconclusive, for a human to look at, not a rollback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from scipy import special

from gates.metrics import Counters, Window
from gates.policy import ErrorBudgetConfig
from gates.result import GateResult, Status

ALPHA: Final = 0.01


def proportion_bounds(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """One-sided Clopper-Pearson bounds of a proportion: each holds with ``confidence`` on its own.

    Exact rather than Wilson because error counts are small: Wilson calls 1 error in 20 requests
    significantly above 1% when the binomial probability of that is 18%.
    """
    if trials <= 0:
        return 0.0, 1.0
    # Counts come from outside; more successes than trials must not crash a gate.
    x = min(max(successes, 0), trials)
    alpha = 1.0 - confidence
    lo = 0.0 if x == 0 else float(special.betaincinv(x, trials - x + 1, alpha))
    hi = 1.0 if x == trials else float(special.betaincinv(x + 1, trials - x, confidence))
    return lo, hi


@dataclass(frozen=True)
class TwoProportion:
    z: float
    p_greater: float  # one-sided: H1 the first rate is higher


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> TwoProportion:
    """Pooled two-proportion z-test of x1/n1 > x2/n2."""
    if n1 <= 0 or n2 <= 0:
        return TwoProportion(0.0, 1.0)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        # No errors anywhere (or errors everywhere): the rates cannot differ.
        return TwoProportion(0.0, 1.0 if x1 / n1 <= x2 / n2 else 0.0)
    z = (x1 / n1 - x2 / n2) / se
    return TwoProportion(z, float(special.ndtr(-z)))


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.3%}"


def evaluate_error_budget(
    canary: Counters,
    baseline: Counters,
    config: ErrorBudgetConfig,
    *,
    min_requests: int,
    window: Window,
    gate: str = "error_budget",
) -> GateResult:
    cap = float(config.max_rate)
    rate_c, rate_b = canary.error_rate, baseline.error_rate
    lo, hi = proportion_bounds(canary.errors, canary.requests)
    test = two_proportion_test(canary.errors, canary.requests, baseline.errors, baseline.requests)
    values: dict[str, Any] = {
        "error_rate_canary": rate_c,
        "error_rate_baseline": rate_b,
        "requests_canary": canary.requests,
        "requests_baseline": baseline.requests,
        "errors_canary": canary.errors,
        "errors_baseline": baseline.errors,
        "rate_lower": lo,
        "rate_upper": hi,
        "z": test.z,
        "p_worse_than_baseline": test.p_greater,
    }
    evidence: dict[str, Any] = {
        **values,
        "max_rate": cap,
        "alpha": ALPHA,
        "bounds": "Clopper-Pearson, one-sided 95%",
        "test": "pooled two-proportion z-test, one-sided",
        "min_requests": min_requests,
        "window": window.to_dict(),
    }

    def result(status: Status, summary: str) -> GateResult:
        return GateResult(
            gate=gate,
            status=status,
            summary=summary,
            measured=rate_c,
            threshold=cap,
            unit="ratio",
            values=values,
            evidence=evidence,
        )

    for arm, c in (("canary", canary), ("baseline", baseline)):
        if c.errors > c.requests:
            return result(
                Status.INCONCLUSIVE,
                f"{arm} reports more errors ({c.errors:,}) than requests ({c.requests:,}): check the metrics source",
            )
    short = [
        f"{arm} {c.requests:,}" for arm, c in (("canary", canary), ("baseline", baseline)) if c.requests < min_requests
    ]
    head = (
        f"canary error rate {_pct(rate_c)} ({canary.errors:,}/{canary.requests:,}) vs baseline "
        f"{_pct(rate_b)}, cap {_pct(cap)}"
    )
    if short:
        return result(Status.INCONCLUSIVE, f"too few requests ({', '.join(short)} < {min_requests:,}); {head}")
    assert rate_c is not None and rate_b is not None
    worse = test.p_greater < ALPHA
    over_cap = lo > cap
    if over_cap and not worse and rate_b > cap:
        return result(
            Status.INCONCLUSIVE,
            f"both arms are over the cap and the canary is no worse than the baseline "
            f"(p={test.p_greater:.3g}): likely not this release; {head}",
        )
    if over_cap:
        return result(Status.FAIL, f"over the error budget: {head}")
    if worse and rate_c > cap:
        return result(Status.FAIL, f"more errors than baseline (p={test.p_greater:.2g}) and over the cap: {head}")
    if worse:
        return result(Status.WARN, f"more errors than baseline (p={test.p_greater:.2g}) but within the cap: {head}")
    if hi <= cap:
        return result(Status.PASS, head)
    return result(
        Status.INCONCLUSIVE, f"cannot yet tell whether the rate is under the cap (upper bound {_pct(hi)}): {head}"
    )
