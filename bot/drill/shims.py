"""Timing shims a drill wraps around its own release: Slack calls, the traffic engine, a synthetic Canary."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.drill.traffic_sim import rum_batch
from bot.release.flow import PhaseEvaluator
from bot.slack.notifier import Blocks, Notifier
from bot.traffic.protocol import Split, TrafficController
from gates.canary import evaluate_canary
from gates.metrics import CohortPair, Window, validate_batch
from gates.policy import CanaryGates, P75Config, Policy
from gates.result import GateResult, Status
from storage.models import PhaseRun, Release

log = logging.getLogger(__name__)

T = TypeVar("T")
LCP_SHIFT = 1.4

# -- timing shims ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackCall:
    method: str
    channel: str
    seconds: float
    ok: bool


class TimedSlack:
    """Times the calls the lifecycle makes for the drill's release; behaviour is the wrapped notifier's."""

    def __init__(self, inner: Notifier, calls: list[SlackCall]) -> None:
        self.inner = inner
        self.outbox = inner.outbox
        self.calls = calls

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.inner.open_view(trigger_id, view)

    async def usergroup_members(self, group_id: str) -> list[str]:
        return await self.inner.usergroup_members(group_id)

    async def permalink(self, channel: str, ts: str, *, timeout: float = 1.0) -> str | None:
        return await self.inner.permalink(channel, ts, timeout=timeout)

    async def _timed(self, method: str, channel: str, coro: Awaitable[T]) -> T:
        started = time.perf_counter()
        ok = False
        try:
            result = await coro
            ok = True
            return result
        finally:
            self.calls.append(SlackCall(method, channel, time.perf_counter() - started, ok))

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        *,
        key: str | None = None,
    ) -> str:
        return await self._timed(
            "chat.postMessage", channel, self.inner.post(channel, text, blocks, thread_ts, key=key)
        )

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        await self._timed("chat.update", channel, self.inner.update(channel, ts, text, blocks))

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None) -> None:
        await self._timed("chat.postEphemeral", channel, self.inner.ephemeral(channel, user, text, blocks))

    async def dm(self, user: str, text: str, blocks: Blocks | None = None, *, secret: bool = False) -> tuple[str, str]:
        return await self._timed("dm", user, self.inner.dm(user, text, blocks, secret=secret))

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None:
        await self._timed("files.upload", channel, self.inner.upload(channel, thread_ts, filename, content, title))


class TimedTraffic:
    """Notes when the engine *confirmed* each split of the drill release (after ``apply`` returned)."""

    def __init__(self, inner: TrafficController, release: str, clock: Callable[[], datetime]) -> None:
        self.inner = inner
        self.name = inner.name
        self.release = release
        self.clock = clock
        self.confirmed: list[tuple[datetime, float]] = []
        self.changed = asyncio.Event()

    async def apply(self, split: Split) -> None:
        await self.inner.apply(split)
        if split.release == self.release:
            self.confirmed.append((self.clock(), split.percent))
            self.changed.set()

    def first(self, pred: Callable[[float], bool], after: datetime | None = None) -> datetime | None:
        return next((at for at, pct in self.confirmed if pred(pct) and (after is None or at >= after)), None)


async def _no_gates(release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
    return []


def synthetic_canary(
    release: str, policy: Policy, started_at: datetime, now: datetime, n_per_arm: int, seed: int = 7
) -> list[GateResult]:
    """The real Canary gates on synthetic RUM with a 40% slower LCP (CPU work: call in a thread).

    Synthetic data is complete the moment it exists, so the observation window and the sample
    minimum are set to what was generated; the LCP gate is on even if the policy turned it off,
    because a drill without a failing gate would measure nothing.
    """
    batch = validate_batch(rum_batch(release, n_per_arm=n_per_arm, lcp_shift=LCP_SHIFT, seed=seed))
    data = CohortPair.from_samples(batch.accepted)
    canary = policy.phases.canary
    lcp = canary.gates.lcp_p75 or P75Config(max_increase_ms=150)
    cfg = canary.model_copy(
        update={
            "observe": "0.001s",
            "min_samples": n_per_arm,
            "gates": canary.gates.model_copy(update={"lcp_p75": lcp}),
        }
    )
    assert isinstance(cfg.gates, CanaryGates)
    return evaluate_canary(data, cfg, Window(started_at, max(now, started_at + timedelta(milliseconds=1))), now)


class SyntheticCanary:
    """Canary evaluator for the drill release; every other release goes to the normal one."""

    def __init__(self, release: str, fallback: PhaseEvaluator, clock: Callable[[], datetime], n_per_arm: int) -> None:
        self.release = release
        self.fallback = fallback
        self.clock = clock
        self.n_per_arm = n_per_arm
        self.failure_visible_at: datetime | None = None
        self.detected_at: datetime | None = None
        self.results: list[GateResult] = []

    def make_failure_visible(self) -> None:
        self.failure_visible_at = self.clock()

    async def __call__(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        if release.name != self.release:
            return await self.fallback(release, run, policy)
        if self.failure_visible_at is None:
            # Inconclusive holds the phase open (neither approved nor rolled back) until the drill acts.
            return [
                GateResult(
                    gate="drill",
                    status=Status.INCONCLUSIVE,
                    summary="game-day drill: waiting for the synthetic traffic",
                )
            ]
        results = await asyncio.to_thread(
            synthetic_canary, release.name, policy, run.started_at, self.clock(), self.n_per_arm
        )
        if self.detected_at is None and any(r.status is Status.FAIL for r in results):
            self.detected_at = self.clock()
            self.results = results
        return results
