"""The release lifecycle: start, run a phase's gates, decide, move on, and tell Slack.

Each step is: decide with ``gates.phases`` → record with ``storage`` (one transaction with its
audit entry) → tell Slack. Slack failures are logged and never undo a recorded decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError

from bot.artifacts.report import collect_report, review_template, write_report
from bot.preview.brand import check_brand
from bot.preview.bundle import fingerprint, load_bundle, precheck
from bot.preview.runner import PreviewReport, run_preview
from bot.release.integrity import Drift, drift, drift_text
from bot.release.views import decision_view, release_policy, release_view, snapshot
from bot.settings import Settings
from bot.slack.authz import is_owner
from bot.slack.blocks import gates as gate_blocks
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.release import DecisionView
from bot.slack.blocks.text import esc, markdown_to_mrkdwn, plain
from bot.slack.client import Slack
from bot.traffic.advice import AdviceOnly
from bot.traffic.protocol import Split, TrafficController
from gates.acceptance import Acceptance, apply_acceptances
from gates.bundle import Bundle, BundleError
from gates.durations import format_duration, parse_duration
from gates.phases import TERMINAL_VALUES, Event, Phase, Refused, State, Transition, apply
from gates.policy import CanaryPhase, GlobalPhase, ImageBudgetConfig, Policy
from gates.ramp import position, region_split, settled
from gates.result import GateResult, Status, worst
from storage.evidence import ContentStore
from storage.models import ApprovalRequest, PhaseRun, Release, Timer
from storage.outbox import ref_channel, ref_ts
from storage.repo import AlreadyActive, AuditNote, Owed, StateChange, Store
from storage.uploads import BundleBusy

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
BOT = "releasegate"
REVIEW_TIMER = "report.review"
REVIEW_AFTER = timedelta(hours=24)
TERMINAL_STATES = frozenset(TERMINAL_VALUES)
RECONCILE_TIMER = "traffic.reconcile"
OBSERVE_TIMER = "observe.sla"
RECONCILE_AFTER = timedelta(seconds=15)


@dataclass(frozen=True)
class Artifact:
    """A file shown to the approver (thumbnail, contact sheet, chart), uploaded into the thread."""

    filename: str
    title: str
    content: bytes


class ChartMaker(Protocol):
    async def __call__(self, release: Release, run: PhaseRun, policy: Policy) -> list[Artifact]: ...


class PhaseEvaluator(Protocol):
    """Produces a phase's gate results for a release (Canary and Global read live metrics)."""

    async def __call__(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]: ...


async def _no_metrics_gates(release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
    return []


@dataclass
class Lifecycle:
    store: Store
    slack: Slack
    policy: Policy
    releases_dir: Path
    clock: Clock
    evaluators: dict[Phase, PhaseEvaluator] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    traffic: TrafficController = field(default_factory=AdviceOnly)
    # Where Preview writes diff thumbnails and contact sheets (one folder per phase run).
    artifacts_dir: Path = field(default_factory=lambda: Path("artifacts"))
    workers: int = 1
    charts: ChartMaker | None = None
    # Image diffs posted inline per phase; the rest are in the contact sheet and the report.
    max_inline_thumbnails: int = 5
    _pending_artifacts: dict[int, list[Artifact]] = field(default_factory=dict)
    _held_notices: set[tuple[int | None, float]] = field(default_factory=set)
    _brand_results: dict[int, list[GateResult]] = field(default_factory=dict)
    _last_results: dict[int, list[GateResult]] = field(default_factory=dict)
    # How many Slack requests the HTTP server is still answering (set by the app); see _after_acks.
    requests_in_flight: Callable[[], int] = field(default=lambda: 0)
    # Wakes the outbox sender after a transaction that enqueued messages (set by the app).
    outbox_kick: Callable[[], None] = field(default=lambda: None)
    max_ack_deferral: float = 1.0
    # The running settings (public URL, inspector secret); None in unit tests that build a bare lifecycle.
    settings: Settings | None = None
    # Upper bound on how long a Canary/Global phase waits between two evaluations.
    max_observe_interval: float = 30.0
    # Called after every recorded state change (the traffic controller and timers hook in here).
    on_change: list[Callable[[Release], Awaitable[None]]] = field(default_factory=list)

    # -- plumbing ------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._after_acks(coro), name=what)
        self.tasks.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", what, exc_info=t.exception())

        task.add_done_callback(_done)
        return task

    async def _after_acks(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Background work starts once the requests being answered right now have their acks.

        Slack gives every request 3 seconds; under a burst, database and CPU work started by the
        first requests would otherwise queue in front of the acks of the later ones.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_ack_deferral
        while self.requests_in_flight() > 0 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        return await coro

    async def drain(self, timeout: float = 30) -> None:
        """Wait for background work (tests and shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self.tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time()))

    async def _safe(self, what: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except SlackApiError as exc:
            log.error("Slack call failed while %s: %s", what, exc.response.get("error"))
        except Exception:
            log.exception("failed while %s", what)
        return None

    async def _changed(self, release: Release, *, root: bool = True) -> None:
        if root:
            await self._refresh_root(release)
        for hook in self.on_change:
            await self._safe(f"notifying change of {release.name}", hook(release))

    async def stop_for_drift(self, release: Release, d: Drift, why: str) -> None:
        """The files changed under the release: pause it where it stands (traffic does not move) and say
        which files changed, in one transaction with the audit entry."""
        text = drift_text(release, d)
        blocks = [release_blocks.section(text)]
        detail = {"when": why, **d.to_detail()}
        t = apply(snapshot(release), Event.PAUSE)
        if isinstance(t, Refused):  # already paused or ended: record and tell, change nothing
            await self.store.audit(AuditNote(BOT, "bundle.mismatch", "noted", detail), self.clock(), release)
            await self._thread(release, f"{release.name}: bundle changed", blocks)
            return
        owed = thread_note(release, f"release:{release.id}:bundle_mismatch:{d.found}",
                           f"{release.name}: bundle changed", blocks)
        done = await self.store.transition(release.id or 0, state_change(t),
                                           AuditNote(BOT, "bundle.mismatch", "paused", detail), self.clock(),
                                           owed=[owed] if owed else [])
        if done is None:
            return
        fresh, _ = done
        if owed:
            self.outbox_kick()
        else:
            await self._thread(fresh, f"{release.name}: bundle changed", blocks)
        await self._changed(fresh)

    async def _refresh_root(self, release: Release) -> None:
        if not release.root_ts:
            return
        view = release_view(release)
        await self._safe(
            f"updating root message of {release.name}",
            self.slack.update(
                release.channel_id, release.root_ts, release_blocks.root_text(view), release_blocks.root_blocks(view)
            ),
        )

    async def _thread(
        self, release: Release, text: str, blocks: list[dict[str, Any]] | None = None, *, key: str | None = None
    ) -> str | None:
        result: str | None = await self._safe(
            f"posting to the thread of {release.name}",
            self.slack.post(release.channel_id, text, blocks, thread_ts=release.root_ts, key=key),
        )
        return result

    # -- start ---------------------------------------------------------------------------

    async def start(self, name: str, channel: str, user: str) -> None:
        """Runs after the slash command was acked; every problem goes back to the user privately."""
        existing = await self.store.active_release(name)
        if existing is not None:
            # Before any decoding: a repeated start of a running release costs nothing.
            await self._already_active(name, channel, user, existing)
            return
        version = await self.store.bundle_version(name)
        try:
            loaded = load_bundle(self.releases_dir, name)
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
        await self._post_root(release)
        await self._begin_phase(release, run)

    async def _already_active(self, name: str, channel: str, user: str, existing: Release) -> None:
        view = release_view(existing)
        await self.slack.ephemeral(
            channel,
            user,
            f"*{esc(name)}* is already in progress ({view.phase.label}, {release_blocks.state_words(view.state)}). "
            f"See `/release status {name}`.",
        )

    async def _post_root(self, release: Release) -> None:
        """The release's root message; its fixed outbox key makes a repeat after a crash a no-op."""
        view = release_view(release)
        root_ts = await self._safe(
            f"posting root message of {release.name}",
            self.slack.post(
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

    async def _begin_phase(self, release: Release, run: PhaseRun, *, announce: bool = True) -> None:
        policy = release_policy(release)
        phase = Phase(release.phase)
        cfg = policy.phase(phase)
        view = release_view(release)
        if announce:  # otherwise the decision that started this phase already owes the announcement
            ts = await self._thread(
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
        self.spawn(self.run_gates(release.id or 0, run.id or 0), f"gates:{release.name}:{phase.value}")

    # -- gates ---------------------------------------------------------------------------

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
        evaluator = self.evaluators.get(phase, _no_metrics_gates)
        results = await evaluator(release, run, policy)
        brand = policy.phases.global_.gates.brand
        if phase is Phase.GLOBAL and brand is not None and (brand.colors or _declares_logo(release)):
            if run.id not in self._brand_results:
                bundle = Bundle.model_validate(release.bundle)
                self._brand_results[run.id or 0] = await asyncio.to_thread(
                    check_brand, Path(release.bundle_dir), bundle, brand
                )
            results = [*results, *self._brand_results[run.id or 0]]
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
        self._last_results[run.id or 0] = list(results)
        if Phase(release.phase) is not Phase.PREVIEW and status is not Status.FAIL:
            ready = await self._ramp(release, run, policy, status)
            if not ready:
                self._observe_again(release, run, policy)
                return
        await self.record_results(release, run, policy, results, status)

    # -- traffic ramp (Canary, Global) ---------------------------------------------------

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
            await self.traffic.apply(split)
        except Exception as exc:
            log.warning("traffic engine %s refused %s: %s", self.traffic.name, release.name, exc)
            if (release.id, percent) in self._held_notices:
                return False  # said once already; the ramp keeps retrying quietly
            self._held_notices.add((release.id, percent))
            await self._thread(
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
                f"🚦 *{phase.label} traffic → {percent:g}%* ({esc(reason)}; regions {alloc}) via {self.traffic.name}"
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
                {"percent": percent, "regions": regions, "reason": reason, "engine": self.traffic.name},
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
            await self._thread(fresh, text, blocks)
        await self._changed(fresh)
        return True

    def _observe_again(self, release: Release, run: PhaseRun, policy: Policy) -> None:
        every = parse_duration(self._traffic_config(policy, Phase(release.phase)).traffic.every).total_seconds()
        delay = min(max(every / 4, 0.2), self.max_observe_interval)

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.run_gates(release.id or 0, run.id or 0)

        self.spawn(later(), f"observe:{release.name}")

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
        if outcome is False:
            return
        fresh = await self.store.release(release.id or 0)
        assert fresh is not None
        request = outcome if isinstance(outcome, ApprovalRequest) else None
        if t.after.state is State.ROLLED_BACK:
            await self._zero_traffic(fresh, "gate failed: " + ", ".join(failed_gates))
            await self._announce_rollback(fresh, results, reason=None, owed=rollback is not None)
            await self._upload_artifacts(fresh, run, policy)
        else:
            await self._post_results(fresh, run, results, request, policy)
        await self._changed(fresh)

    async def _post_results(
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
        ts = await self._thread(release, text, blocks, key=f"request:{request.id}:post" if request else None)
        if ts and request and request.id:
            await self.store.set_approval_message(request.id, ts)
        await self._upload_artifacts(release, run, policy)

    async def _upload_artifacts(self, release: Release, run: PhaseRun, policy: Policy) -> None:
        artifacts = self._pending_artifacts.pop(run.id or 0, [])
        if self.charts is not None and Phase(release.phase) is not Phase.PREVIEW:
            made = await self._safe(f"drawing charts for {release.name}", self.charts(release, run, policy))
            artifacts.extend(made or [])
        # -- audit inspector hook (bot/artifacts/evidence.py): keep what approvers see, content-addressed --
        from bot.artifacts.evidence import store_artifacts

        await self._safe(
            f"storing artifacts of {release.name}",
            store_artifacts(self.store, self.artifacts_dir, release, run.id or 0, artifacts, self.clock()),
        )
        # -- end audit inspector hook --
        for a in artifacts:
            await self._safe(
                f"uploading {a.filename} for {release.name}",
                self.slack.upload(release.channel_id, release.root_ts, a.filename, a.content, a.title),
            )

    async def _zero_traffic(self, release: Release, reason: str, actor: str = BOT) -> None:
        """The engines get 0 % (the database already says so); the move is an audit entry of its own."""
        outcome, error = "ok", None
        try:
            await self.traffic.apply(Split(release.name, release.phase, 0.0, {}, reason, **bundle_facts(release)))
        except Exception as exc:
            # The database already says 0%; a durable timer keeps pushing that to the engine.
            log.exception("traffic engine %s failed to roll back %s; retrying", self.traffic.name, release.name)
            outcome, error = "retrying", f"{type(exc).__name__}: {exc}"[:300]
            await self.store.schedule_timer(
                RECONCILE_TIMER,
                release.id or 0,
                self.clock() + RECONCILE_AFTER,
                key=f"{RECONCILE_TIMER}:{release.id}:{int(self.clock().timestamp())}",
            )
        await self._safe(
            f"auditing the rollback traffic of {release.name}",
            self.store.audit(
                AuditNote(actor, "traffic.rollback", outcome,
                          {"percent": 0.0, "reason": reason, "engine": self.traffic.name, "error": error}),
                self.clock(),
                release,
            ),
        )

    async def on_reconcile_traffic(self, timer: Timer) -> None:
        """Push the recorded split to the engines again; raising makes the timer loop retry with backoff."""
        release = await self.store.release(timer.target_id)
        if release is None:
            return
        await self.traffic.apply(
            Split(release.name, release.phase, release.traffic_percent, {}, "reconcile", **bundle_facts(release))
        )
        log.info("traffic for %s reconciled at %g%%", release.name, release.traffic_percent)

    def rollback_note(
        self, release: Release, results: Sequence[GateResult], reason: str | None, by: str | None = None
    ) -> Owed | None:
        """The rollback's explanation, owed in the rollback's own transaction (None before a root)."""
        key = f"release:{release.id}:rolled_back:{release.phase}"
        return thread_note(
            release, key, f"{release.name} rolled back", self._rollback_blocks(release, results, reason, by)
        )

    async def _announce_rollback(
        self,
        release: Release,
        results: Sequence[GateResult],
        reason: str | None,
        by: str | None = None,
        *,
        owed: bool = False,
    ) -> None:
        """Say why the release rolled back (unless that was owed with the rollback) and sum it up."""
        if owed:
            self.outbox_kick()
        else:
            blocks = self._rollback_blocks(release, results, reason, by)
            await self._thread(release, f"{release.name} rolled back", blocks)
        await self._final_summary(release)

    def _rollback_blocks(
        self, release: Release, results: Sequence[GateResult], reason: str | None, by: str | None
    ) -> list[dict[str, Any]]:
        policy = release_policy(release)
        owners = policy.owners(Phase(release.phase)).primary
        failing = [r for r in results if r.status is Status.FAIL]
        lines = [f"↩️ *{Phase(release.phase).label} rolled back* — traffic to the candidate is now 0%."]
        for r in failing[:10]:
            lines.append(
                f"• *{esc(r.gate)}*: measured {gate_blocks.fmt_value(r.measured, r.unit)}, "
                f"threshold {gate_blocks.fmt_value(r.threshold, r.unit)} — {esc(r.summary)}"
            )
        if by:
            # The mention is ours; only the free-text reason came from a user and is escaped.
            lines.append(f"Requested by <@{by}>" + (f": {esc(reason)}" if reason else ""))
        elif reason:
            lines.append(f"Reason: {esc(reason)}")
        blocks: list[dict[str, Any]] = []
        if Phase(release.phase) is Phase.CANARY:
            lines.append(
                f"{release_blocks.mentions(owners)}: retry the Canary once the cause is fixed, "
                f"or start over with `/release start {release.name}`."
            )
            blocks = [
                release_blocks.section("\n".join(lines)),
                {
                    "type": "actions",
                    "block_id": f"retry:{release.id}",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "retry_canary",
                            "text": plain("Retry Canary"),
                            "value": json.dumps({"release": release.id}),
                        }
                    ],
                },
            ]
        else:
            lines.append(
                f"{release_blocks.mentions(owners)}: fix and start it again with `/release start {release.name}`."
            )
            blocks = [release_blocks.section("\n".join(lines))]
        return blocks

    # -- decisions -----------------------------------------------------------------------

    async def decide(
        self, request_id: int, user: str, decision: str, comment: str | None, reply: Callable[[str], Awaitable[None]]
    ) -> None:
        request = await self.store.approval_request(request_id)
        release = await self.store.release(request.release_id) if request else None
        if request is None or release is None:
            await reply("This approval request no longer exists.")
            return
        policy = release_policy(release)
        phase = Phase(request.phase)
        owners = policy.owners(phase)
        now = self.clock()
        if not await is_owner(self.slack, user, owners.primary + owners.backup):
            await self.store.audit(
                AuditNote(user, f"decision.{decision}", "refused", {"request": request_id, "why": "not an owner"}),
                now,
                release,
            )
            await reply(
                f"Only the {phase.label} owners ({release_blocks.mentions(owners.primary)}) can decide this phase."
                " Your attempt was recorded."
            )
            return
        if request.state != "awaiting":
            await reply(await self._already_decided_text(request))
            return
        if decision == "approve" and user == release.requested_by and not policy.allow_self_approval:
            await self.store.audit(
                AuditNote(user, "decision.approve", "refused", {"request": request_id, "why": "four-eyes"}),
                now,
                release,
            )
            await reply(f"You started this release, so someone else must approve its {phase.label} (four-eyes rule).")
            return
        t = apply(snapshot(release), Event.APPROVE if decision == "approve" else Event.REJECT)
        if isinstance(t, Refused):
            await reply(f"Cannot {decision}: {t.reason}.")
            return
        if decision == "approve" and (d := await drift(release)) is not None:
            # An approval covers the bytes the reviewer judged; these are not those bytes any more.
            await self.stop_for_drift(release, d, f"approval of {phase.label} by {user}")
            await reply(f"Not approved: {d.headline(release)}. The release is paused; see its thread.")
            return
        # -- audit inspector hook (bot/artifacts/evidence.py): the decision's audit entry carries the package hash --
        from bot.artifacts.evidence import build_evidence

        evidence = await self._safe(
            f"building the evidence package of {release.name}",
            build_evidence(
                self.store,
                self.slack,
                self.artifacts_dir,
                request=request,
                release=release,
                user=user,
                decision=decision,
                comment=comment,
                now=now,
            ),
        )
        # -- end audit inspector hook --
        owed = await self._decision_messages(request, release, t, decision, user, now, comment)
        result = await self.store.decide(
            request_id,
            decision=decision,
            by=user,
            comment=comment,
            change=state_change(t),
            now=now,
            run_outcome="approved" if decision == "approve" else "rejected",
            start_next_run=t.after.state is State.RUNNING,
            note=AuditNote(
                user,
                f"decision.{decision}",
                decision,
                {
                    "request": request_id,
                    "comment": comment,
                    "gates": _snapshot_digest(request),
                    "evidence": evidence[0] if evidence else None,
                    "bundle_digest": release.bundle_digest,
                },
            ),
            owed=owed,
            bundle_digest=release.bundle_digest,
        )
        if not result.decided:
            if result.decision is not None:
                await reply(await self._already_decided_text(request))
            else:
                await reply(f"Not recorded: {result.reason}.")
            return
        fresh = await self.store.release(release.id or 0)
        assert fresh is not None and result.decision is not None
        if owed:
            self.outbox_kick()  # what the decision owes Slack was committed with it
        else:
            await self._rewrite_request(request, fresh, result.decision.decision, user, now, comment)
            if decision == "approve":
                await self._thread(
                    fresh,
                    f"{phase.label} finished",
                    [release_blocks.section(release_blocks.phase_finished_text(phase, user, now))],
                )
        await self._changed(fresh, root=not owed)
        if t.after.state is State.RUNNING and result.next_phase_run is not None:
            await self._begin_phase(fresh, result.next_phase_run, announce=not owed)
        elif fresh.state == State.COMPLETED.value and owed:
            await self._safe(f"writing the report of {fresh.name}", self._post_report(fresh))
        elif fresh.state in (State.COMPLETED.value, State.REJECTED.value):
            await self._final_summary(fresh)

    async def _decision_messages(
        self,
        request: ApprovalRequest,
        release: Release,
        t: Transition,
        decision: str,
        user: str,
        at: datetime,
        comment: str | None,
    ) -> list[Owed]:
        """Everything a decision owes Slack, built before it is recorded so that it is enqueued in the
        same transaction: a crash right after the commit still delivers all of it, exactly once."""
        if not release.root_ts or request.id is None:
            return []  # the thread is not there yet; fall back to sending after the commit
        rid, channel, root = request.id, release.channel_id, release.root_ts
        phase = Phase(request.phase)
        verb = "approved" if decision == "approve" else "rejected"
        blocks = self._decided_blocks(request, release, decision, user, at, comment)
        # A click can land between Slack showing the approval message and us recording its ts (or
        # right after a restart, before recovery did); the rewrite then waits for that post's outbox row.
        where: dict[str, Any] = (
            {"channel": request.channel_id, "ts": request.message_ts}
            if request.message_ts
            else {"channel": request.channel_id, "ts": ref_ts(f"request:{rid}:post")}
        )
        owed = [
            Owed(
                f"decision:{rid}:rewrite",
                "chat.update",
                {**where, "text": f"{phase.label} {verb} by {user}", "blocks": blocks},
            )
        ]
        owed += [
            Owed(
                f"decision:{rid}:dm:{i}",
                "chat.update",
                {**_dm_target(dm), "text": f"{phase.label} {verb} by {user}", "blocks": blocks},
            )
            for i, dm in enumerate(request.dm_messages)
        ]

        def post(suffix: str, text: str, blks: list[dict[str, Any]]) -> Owed:
            note = thread_note(release, f"decision:{rid}:{suffix}", text, blks)
            assert note is not None  # root_ts was checked above
            return note

        if decision == "approve":
            owed.append(
                post(
                    "finished",
                    f"{phase.label} finished",
                    [release_blocks.section(release_blocks.phase_finished_text(phase, user, at))],
                )
            )
        after = replace(release_view(release), phase=t.after.phase, state=t.after.state)
        owed.append(
            Owed(
                f"decision:{rid}:root",
                "chat.update",
                {
                    "channel": channel,
                    "ts": root,
                    "text": release_blocks.root_text(after),
                    "blocks": release_blocks.root_blocks(after),
                },
            )
        )
        if t.after.state is State.RUNNING:
            cfg = release_policy(release).phase(t.after.phase)
            owed.append(
                post(
                    "started",
                    f"{t.after.phase.label} started for {release.name}",
                    release_blocks.phase_started_blocks(
                        after, cfg.owners.primary, format_duration(cfg.sla_delta), self._scope(release, t.after.phase)
                    ),
                )
            )
        elif t.after.state in (State.COMPLETED, State.REJECTED):
            decisions = [decision_view(d) for d in await self.store.decisions(release.id or 0)]
            decisions.append(DecisionView(phase=phase.value, decision=decision, by=user, at=at, comment=comment))
            owed.append(
                post(
                    "summary",
                    f"{release.name}: {release_blocks.state_words(t.after.state)}",
                    release_blocks.final_summary_blocks(after, decisions),
                )
            )
        return owed

    def _decided_blocks(
        self, request: ApprovalRequest, release: Release, decision: str, user: str, at: datetime, comment: str | None
    ) -> list[dict[str, object]]:
        policy = release_policy(release)
        phase = Phase(request.phase)
        return gate_blocks.results_blocks(
            release_name=release.name,
            phase=phase,
            results=[GateResult.from_dict(d) for d in request.gate_snapshot],
            owners=policy.owners(phase).primary,
            request_id=None,
            run_id=request.phase_run_id,
            sla_text=format_duration(policy.phase(phase).sla_delta),
            decided_line=gate_blocks.decided_line(decision, user, at, comment),
        )

    async def _rewrite_request(
        self, request: ApprovalRequest, release: Release, decision: str, user: str, at: datetime, comment: str | None
    ) -> None:
        if not request.message_ts:
            return
        phase = Phase(request.phase)
        blocks = self._decided_blocks(request, release, decision, user, at, comment)
        verb = "approved" if decision == "approve" else "rejected"
        await self._safe(
            "rewriting the approval message",
            self.slack.update(request.channel_id, request.message_ts, f"{phase.label} {verb} by {user}", blocks),
        )
        for dm in request.dm_messages:
            where = await self._dm_landed(dm)
            if where is not None:
                await self._safe(
                    "rewriting an escalation DM",
                    self.slack.update(where[0], where[1], f"{phase.label} {verb} by {user}", blocks),
                )

    async def _dm_landed(self, dm: dict[str, Any]) -> tuple[str, str] | None:
        if "key" not in dm:
            return str(dm["channel"]), str(dm["ts"])
        if self.slack.outbox is None:
            return None
        row = await self._safe("finding an escalation DM", self.slack.outbox.wait_sent(dm["key"], timeout=10))
        return (str(row.result_channel), str(row.result_ts)) if row is not None else None

    async def _already_decided_text(self, request: ApprovalRequest) -> str:
        d = await self.store.decision_for(request.id or 0)
        if d is None:
            return "This request was superseded (the gates were re-run or the release moved on)."
        verb = "approved" if d.decision == "approve" else "rejected"
        return f"Already {verb} by <@{d.by}> at {d.at:%Y-%m-%d %H:%M UTC}; nothing changed."

    async def _final_summary(self, release: Release) -> None:
        decisions = [decision_view(d) for d in await self.store.decisions(release.id or 0)]
        view = release_view(release)
        if release.state == State.COMPLETED.value:
            await self._safe(f"writing the report of {release.name}", self._post_report(release))
        await self._thread(
            release,
            f"{release.name}: {release_blocks.state_words(view.state)}",
            release_blocks.final_summary_blocks(view, decisions),
        )

    async def _post_report(self, release: Release) -> None:
        """The final report: Markdown summary in the thread, the self-contained HTML as a file,
        and the 24-hour review scheduled as a durable timer."""
        digest, markdown = await write_report(self.store, self.artifacts_dir, release.name, self.clock())
        html = ContentStore(self.artifacts_dir).path(digest).read_bytes()
        await self._thread(
            release, f"{release.name} report", [release_blocks.section(markdown_to_mrkdwn(markdown)[:2900])]
        )
        await self.slack.upload(
            release.channel_id, release.root_ts, f"{release.name}-report.html", html, f"Release report ({digest[:12]})"
        )
        due = self.clock() + REVIEW_AFTER
        await self.store.schedule_timer(REVIEW_TIMER, release.id or 0, due, key=f"{REVIEW_TIMER}:{release.id}")

    async def on_review_due(self, timer: Timer) -> None:
        """A day after completion: ask the team for the post-release review, in the thread."""
        release = await self.store.release(timer.target_id)
        if release is None:
            return
        data = await collect_report(self.store, self.artifacts_dir, release.name, self.clock(), embed=False)
        text = review_template(data, self.clock())
        blocks = [release_blocks.section(markdown_to_mrkdwn(text))]
        await self._thread(release, f"{release.name}: 24-hour review", blocks)


def thread_note(release: Release, key: str, text: str, blocks: list[dict[str, Any]]) -> Owed | None:
    """A thread message owed in the same transaction as the change it announces; None before the
    release has a root message to thread under (the caller then posts after its commit)."""
    if not release.root_ts:
        return None
    return Owed(
        key,
        "chat.postMessage",
        {
            "channel": release.channel_id,
            "thread_ts": release.root_ts,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        },
    )


def bundle_facts(release: Release) -> dict[str, Any]:
    """What a traffic engine passes on so a deployer can check it serves the approved bytes."""
    if not release.bundle_digest:
        return {}
    files = {m["path"]: m["sha256"] for m in release.bundle_manifest}
    images = {img["id"]: files.get(img["candidate"], "") for img in release.bundle.get("images", [])}
    return {"bundle_digest": release.bundle_digest, "images": images}


def _dm_target(dm: dict[str, Any]) -> dict[str, Any]:
    """Where an escalation DM landed: known ids, or references the outbox fills in once it is sent."""
    if "key" in dm:
        return {"channel": ref_channel(dm["key"]), "ts": ref_ts(dm["key"])}
    return {"channel": dm["channel"], "ts": dm["ts"]}


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


def state_change(t: Transition) -> StateChange:
    """A state-machine transition as the compare-and-set the store applies (from → to)."""
    return StateChange(
        from_phase=t.before.phase.value,
        from_state=t.before.state.value,
        to_phase=t.after.phase.value,
        to_state=t.after.state.value,
        paused_from=t.after.paused_from.value if t.after.paused_from else None,
    )


def _snapshot_digest(request: ApprovalRequest) -> list[dict[str, Any]]:
    """What the approver saw, compactly: gate, image, status, headline number."""
    return [
        {
            "gate": d["gate"],
            "image": d.get("image_id"),
            "status": d["status"],
            "measured": d.get("measured"),
            "threshold": d.get("threshold"),
        }
        for d in request.gate_snapshot
    ]
