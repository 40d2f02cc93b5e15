"""An owner's decision: who may decide, four-eyes, the bytes it covers, the compare-and-set, what Slack is owed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.release.core import (
    state_change,
    thread_note,
)
from bot.release.integrity import drift
from bot.release.start import Starting
from bot.release.views import decision_view, release_policy, release_view, snapshot
from bot.slack.blocks import gates as gate_blocks
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.release import DecisionView
from gates.durations import format_duration
from gates.phases import DecisionKind, Event, Phase, Refused, RequestState, State, Transition, apply
from gates.result import GateResult
from storage.models import ApprovalRequest, Release
from storage.outbox import ref_channel, ref_ts
from storage.repo import AuditNote, Owed


class Decisions(Starting):
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
        now = self.clock()
        if not await self.owner_or_refuse(
            release, phase, user, f"decision.{decision}", "decide this phase", reply, detail={"request": request_id}
        ):
            return
        if request.state != RequestState.AWAITING:
            await reply(await self._already_decided_text(request))
            return
        if decision == DecisionKind.APPROVE and user == release.requested_by and not policy.allow_self_approval:
            await self.store.audit(
                AuditNote(user, "decision.approve", "refused", {"request": request_id, "why": "four-eyes"}),
                now,
                release,
            )
            await reply(f"You started this release, so someone else must approve its {phase.label} (four-eyes rule).")
            return
        t = apply(snapshot(release), Event.APPROVE if decision == DecisionKind.APPROVE else Event.REJECT)
        if isinstance(t, Refused):
            await reply(f"Cannot {decision}: {t.reason}.")
            return
        if decision == DecisionKind.APPROVE and (d := await drift(release)) is not None:
            # An approval covers the bytes the reviewer judged; these are not those bytes any more.
            await self.stop_for_drift(release, d, f"approval of {phase.label} by {user}")
            await reply(f"Not approved: {d.headline(release)}. The release is paused; see its thread.")
            return
        # -- audit inspector hook (bot/artifacts/evidence.py): the decision's audit entry carries the package hash --
        from bot.artifacts.evidence import build_evidence

        evidence = await self.safe(
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
            run_outcome="approved" if decision == DecisionKind.APPROVE else "rejected",
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
            if decision == DecisionKind.APPROVE:
                await self.thread(
                    fresh,
                    f"{phase.label} finished",
                    [release_blocks.section(release_blocks.phase_finished_text(phase, user, now))],
                )
        await self.changed(fresh, root=not owed)
        if t.after.state is State.RUNNING and result.next_phase_run is not None:
            await self.begin_phase(fresh, result.next_phase_run, announce=not owed)
        elif fresh.state == State.COMPLETED.value and owed:
            await self.safe(f"writing the report of {fresh.name}", self._post_report(fresh))
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
        verb = "approved" if decision == DecisionKind.APPROVE else "rejected"
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

        if decision == DecisionKind.APPROVE:
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
        verb = "approved" if decision == DecisionKind.APPROVE else "rejected"
        await self.safe(
            "rewriting the approval message",
            self.slack_for(release).update(
                request.channel_id, request.message_ts, f"{phase.label} {verb} by {user}", blocks
            ),
        )
        for dm in request.dm_messages:
            where = await self._dm_landed(dm)
            if where is not None:
                await self.safe(
                    "rewriting an escalation DM",
                    self.slack_for(release).update(where[0], where[1], f"{phase.label} {verb} by {user}", blocks),
                )

    async def _dm_landed(self, dm: dict[str, Any]) -> tuple[str, str] | None:
        if "key" not in dm:
            return str(dm["channel"]), str(dm["ts"])
        if self.slack.outbox is None:
            return None
        row = await self.safe("finding an escalation DM", self.slack.outbox.wait_sent(dm["key"], timeout=10))
        return (str(row.result_channel), str(row.result_ts)) if row is not None else None

    async def _already_decided_text(self, request: ApprovalRequest) -> str:
        d = await self.store.decision_for(request.id or 0)
        if d is None:
            return "This request was superseded (the gates were re-run or the release moved on)."
        verb = "approved" if d.decision == DecisionKind.APPROVE else "rejected"
        return f"Already {verb} by <@{d.by}> at {d.at:%Y-%m-%d %H:%M UTC}; nothing changed."


def _dm_target(dm: dict[str, Any]) -> dict[str, Any]:
    """Where an escalation DM landed: known ids, or references the outbox fills in once it is sent."""
    if "key" in dm:
        return {"channel": ref_channel(dm["key"]), "ts": ref_ts(dm["key"])}
    return {"channel": dm["channel"], "ts": dm["ts"]}


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
