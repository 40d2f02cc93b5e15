"""Starting a release (cheap checks first, then the bundle and its digest) and beginning each phase."""

from __future__ import annotations

import asyncio

from bot.preview.bundle import fingerprint, load_bundle, precheck
from bot.release.core import (
    OBSERVE_TIMER,
)
from bot.release.evaluation import Evaluation
from bot.release.views import release_policy, release_view
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from gates.bundle import BundleError
from gates.durations import format_duration
from gates.phases import Phase, State
from gates.policy import ImageBudgetConfig
from storage.models import PhaseRun, Release
from storage.repo import AlreadyActive
from storage.uploads import BundleBusy


class Starting(Evaluation):
    async def start(self, name: str, channel: str, user: str) -> None:
        """Runs after the slash command was acked; every problem goes back to the user privately."""
        existing = await self.store.active_release(name)
        if existing is not None:
            # Before any decoding: a repeated start of a running release costs nothing.
            await self._already_active(name, channel, user, existing)
            return
        version = await self.store.bundle_version(name)
        try:
            # Reading and parsing a release.yml of up to 1 MB takes seconds: never on the event loop.
            loaded = await asyncio.to_thread(load_bundle, self.releases_dir, name)
        except BundleError as exc:
            await self.slack.ephemeral(channel, user, f"⚠️ Cannot start *{esc(name)}*: {esc(str(exc))}")
            return
        limit = (self.policy.phases.preview.gates.image_budget or ImageBudgetConfig()).max_pixels
        problems = await asyncio.to_thread(precheck, loaded, limit)
        if problems:
            shown = "\n".join(f"• {esc(p)}" for p in problems[:15])
            more = f"\n…and {len(problems) - 15} more" if len(problems) > 15 else ""
            await self.slack.ephemeral(
                channel, user, f"⚠️ Cannot start *{esc(name)}*: fix these files in the bundle first.\n{shown}{more}"
            )
            return
        fp = await asyncio.to_thread(fingerprint, loaded.root, loaded.bundle)
        now = self.clock()
        try:
            release, run = await self.store.create_release(
                name=name,
                title=loaded.bundle.title,
                channel_id=channel,
                requested_by=user,
                bundle_dir=str(loaded.root),
                bundle=loaded.bundle.to_dict(),
                policy=self.policy.to_dict(),
                phase=Phase.PREVIEW.value,
                state=State.RUNNING.value,
                now=now,
                bundle_digest=fp.digest,
                bundle_manifest=fp.to_manifest(),
                bundle_version=version,
            )
        except AlreadyActive as exc:
            await self._already_active(name, channel, user, exc.existing)
            return
        except BundleBusy as exc:
            await self.slack.ephemeral(channel, user, f"⚠️ Cannot start *{esc(name)}*: {esc(str(exc))}.")
            return
        await self.post_root(release)
        await self.begin_phase(release, run)

    async def _already_active(self, name: str, channel: str, user: str, existing: Release) -> None:
        view = release_view(existing)
        await self.slack.ephemeral(
            channel,
            user,
            f"*{esc(name)}* is already in progress ({view.phase.label}, {release_blocks.state_words(view.state)}). "
            f"See `/release status {name}`.",
        )

    async def post_root(self, release: Release) -> None:
        """The release's root message; its fixed outbox key makes a repeat after a crash a no-op."""
        view = release_view(release)
        root_ts = await self.safe(
            f"posting root message of {release.name}",
            self.slack_for(release).post(
                release.channel_id,
                release_blocks.root_text(view),
                release_blocks.root_blocks(view),
                key=f"release:{release.id}:root",
            ),
        )
        if root_ts:
            await self.store.set_root_ts(release.id or 0, root_ts)
            release.root_ts = root_ts

    def _scope(self, release: Release, phase: Phase) -> str:
        scope = f"{len(release.bundle.get('images', []))} image(s)"
        traffic = getattr(release_policy(release).phase(phase), "traffic", None)
        if phase is not Phase.PREVIEW and traffic is not None:
            scope += f", traffic steps {', '.join(f'{s:g}%' for s in traffic.steps)}"
        if release.bundle_digest:
            # People compare this with what their deploy shipped (webhook / flagd metadata).
            scope += f", bundle {release.bundle_digest[:12]} ({len(release.bundle_manifest)} files)"
        return scope

    async def begin_phase(self, release: Release, run: PhaseRun, *, announce: bool = True) -> None:
        policy = release_policy(release)
        phase = Phase(release.phase)
        cfg = policy.phase(phase)
        view = release_view(release)
        if announce:  # otherwise the decision that started this phase already owes the announcement
            ts = await self.thread(
                release,
                f"{phase.label} started for {release.name}",
                release_blocks.phase_started_blocks(
                    view, cfg.owners.primary, format_duration(cfg.sla_delta), self._scope(release, phase)
                ),
            )
            if ts and run.id:
                await self.store.set_status_message(run.id, ts)
        if phase is not Phase.PREVIEW:
            # Still observing (inconclusive) when the SLA runs out: the owners are asked what to do.
            await self.store.schedule_timer(
                OBSERVE_TIMER,
                release.id or 0,
                self.clock() + cfg.sla_delta,
                key=f"{OBSERVE_TIMER}:{run.id}:0",
                payload={"run": run.id},
            )
        self.spawn(
            self.run_gates(release.id or 0, run.id or 0), f"gates:{release.name}:{phase.value}", release=release.name
        )
