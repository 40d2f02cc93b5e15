"""Canary and Global gate evaluation from live metrics (the lifecycle's phase evaluators)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gates.canary import evaluate_canary, evaluate_global
from gates.metrics import CohortPair, Window
from gates.policy import Policy
from gates.result import GateResult
from storage.models import PhaseRun, Release


class CohortSource(Protocol):
    async def cohorts(self, release: str, window: Window) -> CohortPair: ...


@dataclass
class TrafficGates:
    source: CohortSource
    clock: Callable[[], datetime]

    async def canary(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        now = self.clock()
        window = Window(run.started_at, now)
        data = await self.source.cohorts(release.name, window)
        # Bootstrap over up to millions of samples: CPU work, off the event loop.
        return await asyncio.to_thread(evaluate_canary, data, policy.phases.canary, window, now)

    async def global_(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        now = self.clock()
        window = Window(run.started_at, now)
        data = await self.source.cohorts(release.name, window)
        return await asyncio.to_thread(evaluate_global, data, policy.phases.global_, window, now)
