"""Run the Canary and Global analysis gates the policy turns on, over one observation window.

The caller (the bot's timer loop) fetches a :class:`~gates.metrics.CohortPair` for the window
from its metrics source and passes the clock in; this module only decides. A gate the policy
enables but no module implements is reported as inconclusive, never silently passed.
"""

from __future__ import annotations

from datetime import datetime

from gates.cache_hit import evaluate_cache_hit
from gates.durations import parse_duration
from gates.error_budget import evaluate_error_budget
from gates.metrics import CohortPair, Window
from gates.policy import CanaryPhase, GlobalPhase
from gates.regional import evaluate_regional
from gates.result import GateResult, Status
from gates.webvitals import DEFAULT_RESAMPLES, DEFAULT_SEED, GATE_METRIC, evaluate_p75

# Global gates judged elsewhere (brand runs on the images, not on traffic).
_NOT_TRAFFIC_GATES = frozenset({"brand"})


def _unimplemented(name: str) -> GateResult:
    return GateResult(
        gate=name, status=Status.INCONCLUSIVE, summary=f"{name} is enabled in the policy but has no implementation yet"
    )


def evaluate_canary(
    data: CohortPair,
    policy: CanaryPhase,
    window: Window,
    now: datetime,
    *,
    seed: int = DEFAULT_SEED,
    resamples: int = DEFAULT_RESAMPLES,
) -> list[GateResult]:
    """One result per enabled Canary gate, in policy order."""
    observe = parse_duration(policy.observe)
    canary_counts, baseline_counts = data.canary.counters, data.baseline.counters
    out: list[GateResult] = []
    for name, cfg in policy.gates:
        if cfg is None:
            continue
        if name in GATE_METRIC:
            metric = GATE_METRIC[name]
            out.append(
                evaluate_p75(
                    name,
                    data.canary.values(metric),
                    data.baseline.values(metric),
                    cfg,
                    min_samples=policy.min_samples,
                    observe=observe,
                    window=window,
                    now=now,
                    seed=seed,
                    resamples=resamples,
                    source=data.sources.get(metric, "rum"),
                )
            )
        elif name == "error_budget":
            out.append(
                evaluate_error_budget(
                    canary_counts, baseline_counts, cfg, min_requests=policy.min_samples, window=window
                )
            )
        elif name == "cache_hit":
            out.append(
                evaluate_cache_hit(canary_counts, baseline_counts, cfg, min_lookups=policy.min_samples, window=window)
            )
        else:
            out.append(_unimplemented(name))
    return out


def evaluate_global(
    data: CohortPair,
    policy: GlobalPhase,
    window: Window,
    now: datetime,
) -> list[GateResult]:
    """The traffic-based Global gates. ``data.canary`` is the traffic on the new images.

    ``now`` is accepted for symmetry with :func:`evaluate_canary` (the regional cap is judged on
    whatever the window holds, with no minimum observation time).
    """
    del now
    out: list[GateResult] = []
    for name, cfg in policy.gates:
        if cfg is None or name in _NOT_TRAFFIC_GATES:
            continue
        if name == "regional_error_rate":
            out.append(
                evaluate_regional(
                    data.canary.regions, cfg, window=window, baseline_regions=data.baseline.regions or None
                )
            )
        else:
            out.append(_unimplemented(name))
    return out
