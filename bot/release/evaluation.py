"""Running a phase's gates, recording the results (or the rollback they cause), and posting them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from bot.preview.brand import check_brand
from bot.preview.runner import PreviewReport, run_preview
from bot.release.core import (
    BOT,
    Artifact,
    state_change,
)
from bot.release.traffic import Traffic
from bot.release.views import release_policy, snapshot
from bot.slack.blocks import gates as gate_blocks
from gates.acceptance import Acceptance, apply_acceptances
from gates.bundle import Bundle
from gates.durations import format_duration, parse_duration
from gates.phases import Event, Phase, Refused, State, apply
from gates.policy import Policy
from gates.result import GateResult, Status, worst
from storage.models import ApprovalRequest, PhaseRun, Release
from storage.repo import AuditNote

log = logging.getLogger(__name__)


class Evaluation(Traffic):
    async def _evaluate(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        phase = Phase(release.phase)
        if phase is Phase.PREVIEW:
            bundle = Bundle.model_validate(release.bundle)
            thumbs = self.artifacts_dir / release.name / f"run-{run.id}"
            report = await asyncio.to_thread(
                run_preview,
                Path(release.bundle_dir),
                bundle,
                policy.phases.preview.gates,
                workers=self.workers,
                thumbs_dir=thumbs,
            )
            self._pending_artifacts[run.id or 0] = _preview_artifacts(report, self.max_inline_thumbnails)
            accepted = [
                Acceptance(a.finding_key, a.by, a.reason) for a in await self.store.acceptances(release.id or 0)
            ]
            return apply_acceptances(report.results, accepted)
        evaluator = self.evaluator_for(release, phase)
        results = await evaluator(release, run, policy)
        brand = policy.phases.global_.gates.brand
        if phase is Phase.GLOBAL and brand is not None and (brand.colors or _declares_logo(release)):
            if run.brand_results is None:
                bundle = Bundle.model_validate(release.bundle)
                checked = await asyncio.to_thread(check_brand, Path(release.bundle_dir), bundle, brand)
                await self.store.set_run_results(run.id or 0, brand=checked)
                run.brand_results = [r.to_dict() for r in checked]
            results = [*results, *(GateResult.from_dict(d) for d in run.brand_results)]
        return results

    async def run_gates(self, release_id: int, run_id: int) -> None:
        release = await self.store.release(release_id)
        run = await self.store.current_run(release_id)
        if release is None or run is None or run.id != run_id or release.state != State.RUNNING.value:
            return
        policy = release_policy(release)
        try:
            results = await self._evaluate(release, run, policy)
        except Exception as exc:
            log.exception("gates of %s crashed", release.name)
            results = [
                GateResult(
                    gate="gate_runner",
                    status=Status.FAIL,
                    summary=f"the gates could not run: {type(exc).__name__}: {exc}",
                )
            ]
        status = worst(r.status for r in results) if results else Status.PASS
        if Phase(release.phase) is not Phase.PREVIEW:
            await self.store.set_run_results(run.id or 0, latest=results)
        if Phase(release.phase) is not Phase.PREVIEW and status is not Status.FAIL:
            ready = await self._ramp(release, run, policy, status)
            if not ready:
                self._observe_again(release, run, policy)
                return
        await self.record_results(release, run, policy, results, status)

    def _observe_again(self, release: Release, run: PhaseRun, policy: Policy) -> None:
        every = parse_duration(self._traffic_config(policy, Phase(release.phase)).traffic.every).total_seconds()
        delay = min(max(every / 4, 0.2), self.max_observe_interval)

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.run_gates(release.id or 0, run.id or 0)

        self.spawn(later(), f"observe:{release.name}", release=release.name)

    async def record_results(
        self, release: Release, run: PhaseRun, policy: Policy, results: Sequence[GateResult], status: Status
    ) -> None:
        phase = Phase(release.phase)
        passed = status in (Status.PASS, Status.WARN)
        event = Event.GATES_PASSED if passed else Event.GATES_FAILED
        t = apply(snapshot(release), event)
        if isinstance(t, Refused):
            log.info("gate results for %s dropped: %s", release.name, t.reason)
            return
        owners = policy.owners(phase).primary
        failed_gates = sorted({r.gate for r in results if r.status in (Status.FAIL, Status.INCONCLUSIVE)})
        rollback = self.rollback_note(release, results, None) if t.after.state is State.ROLLED_BACK else None
        outcome = await self.store.record_gate_results(
            release.id or 0,
            run.id or 0,
            results,
            state_change(t),
            AuditNote(
                BOT,
                "gates.evaluated",
                status.value,
                {"run": run.id, "results": len(results), "failed_gates": failed_gates},
            ),
            self.clock(),
            run_outcome="passed" if passed else "failed",
            owners=owners + policy.owners(phase).backup,
            channel_id=release.channel_id,
            traffic_percent=0.0 if t.after.state is State.ROLLED_BACK else None,
            sla_due=self.clock() + policy.phase(phase).sla_delta,
            owed=[rollback] if rollback else [],
        )
        if not outcome.recorded:
            return
        fresh = await self.store.release(release.id or 0)
        assert fresh is not None
        request = outcome.request
        if t.after.state is State.ROLLED_BACK:
            await self.zero_traffic(fresh, "gate failed: " + ", ".join(failed_gates))
            await self.announce_rollback(fresh, results, reason=None, owed=rollback is not None)
            await self._upload_artifacts(fresh, run, policy)
        else:
            await self.post_results(fresh, run, results, request, policy)
        await self.changed(fresh)

    async def post_results(
        self,
        release: Release,
        run: PhaseRun,
        results: Sequence[GateResult],
        request: ApprovalRequest | None,
        policy: Policy,
    ) -> None:
        phase = Phase(release.phase)
        cfg = policy.phase(phase)
        blocks = gate_blocks.results_blocks(
            release_name=release.name,
            phase=phase,
            results=results,
            owners=cfg.owners.primary,
            request_id=request.id if request else None,
            run_id=run.id or 0,
            sla_text=format_duration(cfg.sla_delta),
        )
        text = f"{phase.label} gates for {release.name}: {gate_blocks.summary_text(results)}"
        ts = await self.thread(release, text, blocks, key=f"request:{request.id}:post" if request else None)
        if ts and request and request.id:
            await self.store.set_approval_message(request.id, ts)
        await self._upload_artifacts(release, run, policy)

    async def _upload_artifacts(self, release: Release, run: PhaseRun, policy: Policy) -> None:
        artifacts = self._pending_artifacts.pop(run.id or 0, [])
        if self.charts is not None and Phase(release.phase) is not Phase.PREVIEW:
            made = await self.safe(f"drawing charts for {release.name}", self.charts(release, run, policy))
            artifacts.extend(made or [])
        # -- audit inspector hook (bot/artifacts/evidence.py): keep what approvers see, content-addressed --
        from bot.artifacts.evidence import store_artifacts

        await self.safe(
            f"storing artifacts of {release.name}",
            store_artifacts(self.store, self.artifacts_dir, release, run.id or 0, artifacts, self.clock()),
        )
        # -- end audit inspector hook --
        for a in artifacts:
            await self.safe(
                f"uploading {a.filename} for {release.name}",
                self.slack_for(release).upload(release.channel_id, release.root_ts, a.filename, a.content, a.title),
            )


def _declares_logo(release: Release) -> bool:
    return any(img.get("logo") for img in release.bundle.get("images", []))


def _preview_artifacts(report: PreviewReport, max_inline: int) -> list[Artifact]:
    """The contact sheet, plus the diff thumbnails of images whose visual gate did not pass."""
    out: list[Artifact] = []
    if report.contact_sheet is not None and report.contact_sheet.exists():
        out.append(
            Artifact("contact-sheet.png", "Visual diff contact sheet (worst first)", report.contact_sheet.read_bytes())
        )
    major = [
        r.image_id for r in report.results if r.gate == "visual_diff" and r.image_id and r.status is not Status.PASS
    ]
    for image_id in major[:max_inline]:
        path = report.thumbnails.get(image_id)
        if path is not None and path.exists():
            out.append(
                Artifact(
                    f"{image_id}.diff.png", f"Diff: {image_id} (baseline | candidate | changes)", path.read_bytes()
                )
            )
    return out
