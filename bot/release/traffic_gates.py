"""Canary and Global gate evaluation from live metrics, and the charts shown beside the verdicts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.artifacts.charts import distributions_png, p75_over_time_png, regional_error_png
from bot.metrics.source import MetricsSource
from bot.release.flow import Artifact
from gates.canary import evaluate_canary, evaluate_global
from gates.metrics import Window
from gates.phases import Phase
from gates.policy import Policy, RegionalErrorConfig
from gates.result import GateResult
from storage.models import PhaseRun, Release

CHART_BUCKETS = 12


@dataclass
class TrafficGates:
    source: MetricsSource
    clock: Callable[[], datetime]

    async def canary(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        now = self.clock()
        window = Window(run.started_at, now)
        data = await self.source.cohorts(release.name, window)
        # Quantile bounds over up to millions of samples: CPU work, off the event loop.
        return await asyncio.to_thread(evaluate_canary, data, policy.phases.canary, window, now)

    async def global_(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        now = self.clock()
        window = Window(run.started_at, now)
        data = await self.source.cohorts(release.name, window)
        return await asyncio.to_thread(evaluate_global, data, policy.phases.global_, window, now)

    async def charts(self, release: Release, run: PhaseRun, policy: Policy) -> list[Artifact]:
        """p75 over time with the budget band, both arms' distributions, errors by region."""
        now = self.clock()
        window = Window(run.started_at, max(now, run.started_at))
        data = await self.source.cohorts(release.name, window)
        out: list[Artifact] = []
        if release.phase == Phase.CANARY:
            for gate, metric in (("lcp_p75", "LCP"), ("inp_p75", "INP")):
                cfg = getattr(policy.phases.canary.gates, gate)
                if cfg is None or data.canary.values(metric).size == 0:
                    continue
                if now > run.started_at:
                    series = await self.source.p75_series(release.name, metric, window, CHART_BUCKETS)
                    png = await asyncio.to_thread(
                        p75_over_time_png,
                        series.times,
                        series.canary_p75,
                        series.baseline_p75,
                        cfg.max_increase_ms,
                        metric=metric,
                        title=f"{metric} p75: canary vs baseline",
                    )
                    out.append(Artifact(f"{release.name}-{metric.lower()}-p75.png", f"{metric} p75 over time", png))
            if data.canary.values("LCP").size or data.canary.values("INP").size:
                png = await asyncio.to_thread(
                    distributions_png,
                    {m: data.canary.values(m) for m in ("LCP", "INP")},
                    {m: data.baseline.values(m) for m in ("LCP", "INP")},
                )
                out.append(Artifact(f"{release.name}-distributions.png", "LCP/INP distributions", png))
        regions = data.canary.regions
        if regions:
            cap = (policy.phases.global_.gates.regional_error_rate or RegionalErrorConfig()).max_rate
            png = await asyncio.to_thread(regional_error_png, regions, cap, baseline=data.baseline.regions or None)
            out.append(Artifact(f"{release.name}-errors-by-region.png", "Error rate by region", png))
        return out
