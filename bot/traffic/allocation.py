"""From an overall percentage and per-region ratios to the percentage each region runs.

The policy's ``regions: {eu: 1, us: 1}`` become ratios (``{eu: 0.5, us: 0.5}``, see
``gates.ramp.region_split``): each region's share of the candidate's traffic. Engines need a
percentage per region instead. Regions are treated as equally large (the bot does not know real
traffic volumes), so a region's percentage is proportional to its ratio and the regions average
to the overall percentage. No region can exceed 100%: what a capped region cannot take is spread
over the others, so that 100% overall always means 100% everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping


def region_percents(percent: float, ratios: Mapping[str, float]) -> dict[str, float]:
    """Percent per region averaging to ``percent`` (empty ratios stay empty)."""
    live = {k: float(v) for k, v in ratios.items() if v > 0}
    if not live:
        return {}
    if percent <= 0:
        return {k: 0.0 for k in sorted(live)}
    if percent >= 100:
        return {k: 100.0 for k in sorted(live)}
    n = len(live)
    capped: set[str] = set()
    # Water-filling: at most one pass per region, because every pass caps at least one more.
    while True:
        free = {k: v for k, v in live.items() if k not in capped}
        budget = percent * n - 100.0 * len(capped)
        scale = budget / sum(free.values())
        newly = {k for k, v in free.items() if v * scale > 100.0}
        if not newly:
            break
        capped |= newly
    out = {k: (100.0 if k in capped else round(min(100.0, live[k] * scale), 2)) for k in sorted(live)}
    return out
