"""``regional_error_rate`` (Global): every region's error rate must stay under the cap.

A global average hides a broken edge: one region at 5% errors among ten healthy ones averages
out under 1%. So each region is judged on its own, and every region over the cap is named.
A region counts as over the cap when the one-sided 95% Clopper-Pearson lower bound of its rate is above
it (a region with 1 error in 3 requests is watched, not rolled back); a region over the cap
without that proof makes the gate inconclusive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gates.error_budget import proportion_bounds
from gates.metrics import Counters, Window
from gates.policy import RegionalErrorConfig
from gates.result import GateResult, Status


def evaluate_regional(
    regions: Mapping[str, Counters],
    config: RegionalErrorConfig,
    *,
    window: Window,
    baseline_regions: Mapping[str, Counters] | None = None,
    gate: str = "regional_error_rate",
) -> GateResult:
    cap = float(config.max_rate)
    per_region: dict[str, dict[str, Any]] = {}
    over: list[str] = []
    watch: list[str] = []
    for name in sorted(regions):
        c = regions[name]
        lo, hi = proportion_bounds(c.errors, c.requests)
        rate = c.error_rate
        row: dict[str, Any] = {
            "requests": c.requests,
            "errors": c.errors,
            "error_rate": rate,
            "rate_lower": lo,
            "rate_upper": hi,
        }
        if baseline_regions is not None and name in baseline_regions:
            row["baseline_error_rate"] = baseline_regions[name].error_rate
        per_region[name] = row
        if rate is not None and rate > cap:
            (over if lo > cap else watch).append(name)
    worst_rate = max((r["error_rate"] for r in per_region.values() if r["error_rate"] is not None), default=None)
    values: dict[str, Any] = {"regions": per_region, "over_cap": over, "watch": watch, "worst_error_rate": worst_rate}
    evidence: dict[str, Any] = {
        **values,
        "max_rate": cap,
        "bounds": "Clopper-Pearson, one-sided 95%",
        "window": window.to_dict(),
    }

    def result(status: Status, summary: str) -> GateResult:
        return GateResult(
            gate=gate,
            status=status,
            summary=summary,
            measured=worst_rate,
            threshold=cap,
            unit="ratio",
            values=values,
            evidence=evidence,
        )

    def describe(names: list[str]) -> str:
        return ", ".join(
            f"{n} {per_region[n]['error_rate']:.2%} ({per_region[n]['errors']:,}/{per_region[n]['requests']:,})"
            for n in names
        )

    total = sum(c.requests for c in regions.values())
    if total == 0:
        return result(Status.INCONCLUSIVE, "no requests reported by any region yet")
    if over:
        return result(Status.FAIL, f"over the {cap:.2%} error cap: {describe(over)}")
    if watch:
        return result(Status.INCONCLUSIVE, f"above the {cap:.2%} cap but not yet significantly: {describe(watch)}")
    quiet = [n for n, c in regions.items() if c.requests == 0]
    note = f" (no traffic yet: {', '.join(sorted(quiet))})" if quiet else ""
    return result(
        Status.PASS, f"all {len(regions) - len(quiet)} regions under the {cap:.2%} cap, worst {worst_rate:.2%}{note}"
    )
