"""``cache_hit``: the canary's CDN hit rate must reach ``min_rate``.

New image URLs start cold, so a low rate early in the window is expected: a rate below the
minimum fails only when its one-sided 95% Clopper-Pearson upper bound is below it too; below the
minimum without that proof is inconclusive and the bot keeps watching.
"""

from __future__ import annotations

from typing import Any

from gates.error_budget import proportion_bounds
from gates.metrics import Counters, Window
from gates.policy import CacheHitConfig
from gates.result import GateResult, Status


def evaluate_cache_hit(
    canary: Counters,
    baseline: Counters,
    config: CacheHitConfig,
    *,
    min_lookups: int,
    window: Window,
    gate: str = "cache_hit",
) -> GateResult:
    floor = float(config.min_rate)
    rate = canary.hit_rate
    lo, hi = proportion_bounds(canary.cache_hit, canary.lookups)
    values: dict[str, Any] = {
        "hit_rate_canary": rate,
        "hit_rate_baseline": baseline.hit_rate,
        "hits_canary": canary.cache_hit,
        "misses_canary": canary.cache_miss,
        "rate_lower": lo,
        "rate_upper": hi,
    }
    evidence: dict[str, Any] = {
        **values,
        "min_rate": floor,
        "min_lookups": min_lookups,
        "bounds": "Clopper-Pearson, one-sided 95%",
        "window": window.to_dict(),
    }

    def result(status: Status, summary: str) -> GateResult:
        return GateResult(
            gate=gate,
            status=status,
            summary=summary,
            measured=rate,
            threshold=floor,
            unit="ratio",
            values=values,
            evidence=evidence,
        )

    base = "n/a" if baseline.hit_rate is None else f"{baseline.hit_rate:.1%}"
    head = (
        f"CDN hit rate {'n/a' if rate is None else f'{rate:.1%}'} "
        f"({canary.cache_hit:,}/{canary.lookups:,}), baseline {base}, minimum {floor:.1%}"
    )
    if canary.lookups < min_lookups:
        return result(Status.INCONCLUSIVE, f"too few cache lookups ({canary.lookups:,} < {min_lookups:,}); {head}")
    assert rate is not None
    if rate >= floor:
        return result(Status.PASS, head)
    if hi < floor:
        return result(Status.FAIL, f"cache hit rate too low: {head}")
    return result(Status.INCONCLUSIVE, f"below the minimum but not yet significantly: {head}")
