"""The release flow's shared plumbing: collaborators, background tasks, the thread and the root message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError

from bot.release.integrity import Drift, drift_text
from bot.release.views import release_policy, release_view, snapshot
from bot.settings import Settings
from bot.slack.authz import is_owner
from bot.slack.blocks import release as release_blocks
from bot.slack.notifier import Notifier
from bot.traffic.advice import AdviceOnly
from bot.traffic.protocol import TrafficController
from gates.phases import TERMINAL_VALUES, Event, Phase, Refused, Transition, apply
from gates.policy import Policy
from gates.result import GateResult
from storage.models import PhaseRun, Release
from storage.repo import AuditNote, Owed, StateChange, Store

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
class ReleaseHooks:
    """Collaborators one release uses instead of the shared ones (a game-day drill times its own
    Slack calls and traffic and feeds its own Canary), so nothing shared is swapped while others run."""

    slack: Notifier | None = None
    traffic: TrafficController | None = None
    evaluators: dict[Phase, PhaseEvaluator] = field(default_factory=dict)


@dataclass
class FlowCore:
    store: Store
    slack: Notifier
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
    # Per release name: collaborators that replace the shared ones for that release only.
    release_hooks: dict[str, ReleaseHooks] = field(default_factory=dict)

    def slack_for(self, release: Release) -> Notifier:
        hooks = self.release_hooks.get(release.name)
        return hooks.slack if hooks is not None and hooks.slack is not None else self.slack

    def traffic_for(self, release: Release) -> TrafficController:
        hooks = self.release_hooks.get(release.name)
        return hooks.traffic if hooks is not None and hooks.traffic is not None else self.traffic

    def evaluator_for(self, release: Release, phase: Phase) -> PhaseEvaluator:
        hooks = self.release_hooks.get(release.name)
        if hooks is not None and phase in hooks.evaluators:
            return hooks.evaluators[phase]
        return self.evaluators.get(phase, _no_metrics_gates)

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        what: str,
        *,
        release: str | None = None,
        request: int | None = None,
        actor: str | None = None,
    ) -> asyncio.Task[Any]:
        """Run after the acks; a failure is logged with the release, request and person it was for."""
        task = asyncio.get_running_loop().create_task(self._after_acks(coro), name=what)
        self.tasks.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error(
                    "background task %s failed (release %s, request %s, for %s)",
                    what,
                    release or "-",
                    request if request is not None else "-",
                    actor or "-",
                    exc_info=t.exception(),
                    extra={"task": what, "release": release, "request": request, "actor": actor},
                )

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

    async def safe(self, what: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except SlackApiError as exc:
            log.error("Slack call failed while %s: %s", what, exc.response.get("error"))
        except Exception:
            log.exception("failed while %s", what)
        return None

    async def changed(self, release: Release, *, root: bool = True) -> None:
        if root:
            await self._refresh_root(release)
        for hook in self.on_change:
            await self.safe(f"notifying change of {release.name}", hook(release))

    async def stop_for_drift(self, release: Release, d: Drift, why: str) -> None:
        """The files changed under the release: pause it where it stands (traffic does not move) and say
        which files changed, in one transaction with the audit entry."""
        text = drift_text(release, d)
        blocks = [release_blocks.section(text)]
        detail = {"when": why, **d.to_detail()}
        t = apply(snapshot(release), Event.PAUSE)
        if isinstance(t, Refused):  # already paused or ended: record and tell, change nothing
            await self.store.audit(AuditNote(BOT, "bundle.mismatch", "noted", detail), self.clock(), release)
            await self.thread(release, f"{release.name}: bundle changed", blocks)
            return
        owed = thread_note(
            release, f"release:{release.id}:bundle_mismatch:{d.found}", f"{release.name}: bundle changed", blocks
        )
        done = await self.store.transition(
            release.id or 0,
            state_change(t),
            AuditNote(BOT, "bundle.mismatch", "paused", detail),
            self.clock(),
            owed=[owed] if owed else [],
        )
        if done is None:
            return
        fresh, _ = done
        if owed:
            self.outbox_kick()
        else:
            await self.thread(fresh, f"{release.name}: bundle changed", blocks)
        await self.changed(fresh)

    async def _refresh_root(self, release: Release) -> None:
        if not release.root_ts:
            return
        view = release_view(release)
        await self.safe(
            f"updating root message of {release.name}",
            self.slack_for(release).update(
                release.channel_id, release.root_ts, release_blocks.root_text(view), release_blocks.root_blocks(view)
            ),
        )

    async def owner_or_refuse(
        self,
        release: Release,
        phase: Phase,
        user: str,
        action: str,
        what: str,
        reply: Callable[[str], Awaitable[None]],
        *,
        detail: dict[str, Any] | None = None,
        label: str | None = None,
        name_owners: bool = True,
        requester_too: bool = False,
    ) -> bool:
        """True when ``user`` may act for ``phase`` (an owner, primary or backup, directly or through a user
        group; or the requester, when ``requester_too``). Otherwise the refusal is audited, the person is
        told who can, and the answer is False: one rule and one wording for every owner-only action."""
        owners = release_policy(release).owners(phase)
        if requester_too and user == release.requested_by:
            return True
        if await is_owner(self.slack, user, owners.primary + owners.backup):
            return True
        await self.store.audit(
            AuditNote(user, action, "refused", {**(detail or {}), "why": "not an owner"}), self.clock(), release
        )
        who = f"the {label or phase.label} owners" + (" or the requester" if requester_too else "")
        named = f" ({release_blocks.mentions(owners.primary)})" if name_owners else ""
        await reply(f"Only {who}{named} can {what}. Your attempt was recorded.")
        return False

    async def thread(
        self, release: Release, text: str, blocks: list[dict[str, Any]] | None = None, *, key: str | None = None
    ) -> str | None:
        result: str | None = await self.safe(
            f"posting to the thread of {release.name}",
            self.slack_for(release).post(release.channel_id, text, blocks, thread_ts=release.root_ts, key=key),
        )
        return result


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


def state_change(t: Transition) -> StateChange:
    """A state-machine transition as the compare-and-set the store applies (from → to)."""
    return StateChange(
        from_phase=t.before.phase.value,
        from_state=t.before.state.value,
        to_phase=t.after.phase.value,
        to_state=t.after.state.value,
        paused_from=t.after.paused_from.value if t.after.paused_from else None,
    )
