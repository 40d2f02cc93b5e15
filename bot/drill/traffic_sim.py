"""Synthetic real-user traffic for the demo and tests: web-vitals samples and edge counters
for both cohorts, shaped like what a RUM collector posts to /api/v1/metrics."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np


def rum_batch(
    release: str,
    *,
    n_per_arm: int,
    lcp_shift: float = 1.0,
    error_rate: float = 0.001,
    regions: tuple[str, ...] = ("eu", "us"),
    seed: int = 0,
    page: str = "/summer",
    requests_per_region: int = 5000,
) -> list[dict[str, Any]]:
    """LCP/INP per page load for both cohorts, plus request/error/cache counters per region.

    ``lcp_shift`` multiplies the canary's LCP (1.25 = a 25% slower hero image). Counters are
    edge-log totals, so there are far more requests than RUM page loads.
    """
    rng = np.random.default_rng(seed)
    items: list[dict[str, Any]] = []
    for cohort in ("baseline", "canary"):
        shift = lcp_shift if cohort == "canary" else 1.0
        lcp = rng.lognormal(np.log(1800), 0.4, n_per_arm) * shift
        inp = rng.lognormal(np.log(120), 0.5, n_per_arm)
        for i in range(n_per_arm):
            region = regions[i % len(regions)]
            for name, value in (("LCP", lcp[i]), ("INP", inp[i])):
                items.append(
                    {
                        "name": name,
                        "value": round(float(value), 1),
                        "id": f"v5-{uuid.uuid4().hex[:16]}",
                        "rating": "good" if value < (2500 if name == "LCP" else 200) else "needs-improvement",
                        "delta": round(float(value), 1),
                        "navigationType": "navigate",
                        "release": release,
                        "cohort": cohort,
                        "region": region,
                        "page": page,
                    }
                )
        per_region = requests_per_region
        for region in regions:
            errors = int(rng.binomial(per_region, error_rate))
            hits = int(rng.binomial(per_region, 0.95))
            for name, value in (
                ("requests", per_region),
                ("errors", errors),
                ("cache_hit", hits),
                ("cache_miss", per_region - hits),
            ):
                items.append(
                    {"name": name, "value": value, "release": release, "cohort": cohort, "region": region, "page": page}
                )
    return items
