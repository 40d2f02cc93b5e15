"""The Canary and Global ramp: one traffic step per evaluation, each pushed to the engines, then recorded."""

from __future__ import annotations

import logging

from bot.release.core import (
    BOT,
    bundle_facts,
    thread_note,
)
from bot.release.integrity import drift
from bot.release.rollback import Rollbacks
from bot.release.views import release_policy, snapshot
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from bot.traffic.protocol import Split
from gates.durations import parse_duration
from gates.phases import Phase
from gates.policy import CanaryPhase, GlobalPhase, Policy
from gates.ramp import position, region_split, settled
from gates.result import Status
from storage.models import PhaseRun, Release
from storage.repo import AuditNote, StateChange

log = logging.getLogger(__name__)


class Traffic(Rollbacks):
    def _traffic_config(self, policy: Policy, phase: Phase) -> CanaryPhase | GlobalPhase:
        cfg = policy.phase(phase)
        assert isinstance(cfg, CanaryPhase | GlobalPhase)
        return cfg

    async def _ramp(self, release: Release, run: PhaseRun, policy: Policy, status: Status) -> bool:
        """Move traffic to where the ramp should be; True when the phase is ready for a decision."""
        phase = Phase(release.phase)
        cfg = self._traffic_config(policy, phase)
        every = parse_duration(cfg.traffic.every)
        now = self.clock()
        steps = cfg.traffic.steps
        pos = position(steps, every, run.started_at, now)
        current = steps.index(release.traffic_percent) if release.traffic_percent in steps else -1
        # One step per evaluation: a late evaluation never skips a step that should be seen and audited.
        step = min(pos.step, current + 1)
        if steps[step] != release.traffic_percent:
            if steps[step] > release.traffic_percent and (d := await drift(release)) is not None:
                await self.stop_for_drift(release, d, f"before {phase.label} traffic step {step + 1}")
                return False
            moved = await self.set_traffic(release, steps[step], f"step {step + 1} of {len(steps)}")
            if not moved or step < len(steps) - 1:
                return False
        return status in (Status.PASS, Status.WARN) and settled(steps, every, run.started_at, now)

    async def set_traffic(self, release: Release, percent: float, reason: str, actor: str = BOT) -> bool:
        """Push the split to the traffic engine first, then record it; an engine error holds the ramp."""
        phase = Phase(release.phase)
        regions = (
            region_split(dict(self._traffic_config(release_policy(release), phase).traffic.regions))
            if phase is not Phase.PREVIEW
            else {}
        )
        split = Split(release.name, phase.value, percent, regions, reason, **bundle_facts(release))
        try:
            await self.traffic_for(release).apply(split)
        except Exception as exc:
            log.warning("traffic engine %s refused %s: %s", self.traffic_for(release).name, release.name, exc)
            if (release.id, percent) in self._held_notices:
                return False  # said once already; the ramp keeps retrying quietly
            self._held_notices.add((release.id, percent))
            await self.thread(
                release,
                "traffic step held",
                [
                    release_blocks.section(
                        f"⚠️ Could not move *{esc(release.name)}* to {percent:g}%: {esc(str(exc))}. "
                        "The ramp holds at the current split and retries."
                    )
                ],
            )
            return False
        snap = snapshot(release)
        now = self.clock()
        alloc = ", ".join(f"{k}: {v:g}" for k, v in regions.items()) or "all regions alike"
        text = f"{release.name} traffic {percent:g}%"
        blocks = [
            release_blocks.section(
                f"🚦 *{phase.label} traffic → {percent:g}%* ({esc(reason)}; regions {alloc}) "
                f"via {self.traffic_for(release).name}"
            )
        ]
        key = f"release:{release.id}:traffic:{phase.value}:{percent:g}:{int(now.timestamp() * 1000)}"
        note = thread_note(release, key, text, blocks)
        done = await self.store.transition(
            release.id or 0,
            StateChange(
                snap.phase.value,
                snap.state.value,
                snap.phase.value,
                snap.state.value,
                snap.paused_from.value if snap.paused_from else None,
            ),
            AuditNote(
                actor,
                "traffic.step",
                "ok",
                {"percent": percent, "regions": regions, "reason": reason, "engine": self.traffic_for(release).name},
            ),
            now,
            traffic_percent=percent,
            owed=[note] if note else [],
        )
        if done is None:
            return False
        fresh, _ = done
        release.traffic_percent = percent
        if note:
            self.outbox_kick()
        else:
            await self.thread(fresh, text, blocks)
        await self.changed(fresh)
        return True
