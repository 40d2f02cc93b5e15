"""Approval requests and decisions: the compare-and-set decision, escalation, finding acceptances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from gates.phases import DecisionKind, Phase, RequestState
from storage.models import (
    ApprovalRequest,
    Decision,
    FindingAcceptance,
    PhaseRun,
    Release,
)
from storage.results import ResultStore
from storage.store_core import (
    SLA_TIMERS,
    AuditNote,
    DecideResult,
    Owed,
    StateChange,
)
from storage.timers import cancel_for, schedule


class ApprovalStore(ResultStore):
    async def approval_request(self, request_id: int) -> ApprovalRequest | None:
        async with self.sessions() as s:
            return await s.get(ApprovalRequest, request_id)

    async def set_approval_message(self, request_id: int, ts: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == request_id).values(message_ts=ts))

    async def decision_for(self, request_id: int) -> Decision | None:
        async with self.sessions() as s:
            q = select(Decision).where(col(Decision.approval_request_id) == request_id)
            return (await s.execute(q)).scalars().first()

    async def decide(
        self,
        request_id: int,
        *,
        decision: str,
        by: str,
        comment: str | None,
        change: StateChange,
        now: datetime,
        run_outcome: str,
        start_next_run: bool,
        note: AuditNote,
        owed: Sequence[Owed] = (),
        bundle_digest: str | None = None,
    ) -> DecideResult:
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(ApprovalRequest)
                .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.state) == RequestState.AWAITING)
                .values(state="decided")
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                earlier = (
                    (await s.execute(select(Decision).where(col(Decision.approval_request_id) == request_id)))
                    .scalars()
                    .first()
                )
                return DecideResult(False, earlier, "already decided" if earlier else "this request is no longer open")
            await cancel_for(s, request_id, SLA_TIMERS, now=now)
            request = await s.get(ApprovalRequest, request_id)
            assert request is not None
            if not await self._cas_release(s, request.release_id, change, now):
                await s.rollback()
                return DecideResult(False, None, "the release changed state meanwhile")
            row = Decision(
                approval_request_id=request_id,
                release_id=request.release_id,
                phase=request.phase,
                decision=DecisionKind(decision),
                by=by,
                at=now,
                comment=comment,
                gate_snapshot=request.gate_snapshot,
                bundle_digest=bundle_digest,
            )
            s.add(row)
            await self._finish_current_run(s, request.release_id, run_outcome, now)
            next_run = None
            if start_next_run:
                next_run = PhaseRun(release_id=request.release_id, phase=Phase(change.to_phase), started_at=now)
                s.add(next_run)
            await s.flush()
            # The audit entry records the phase that was decided, not the one that starts now.
            await self._record(s, request.release_id, note, now, owed, audited_phase=request.phase)
            return DecideResult(True, row, None, next_run)

    async def escalate(
        self,
        request_id: int,
        *,
        from_level: int,
        to_level: int,
        note: AuditNote,
        now: datetime,
        next_timer: tuple[str, datetime] | None,
        change: StateChange | None = None,
        owed: Sequence[Owed] = (),
        dm_messages: list[dict[str, Any]] | None = None,
    ) -> tuple[ApprovalRequest, Release] | None:
        """Move an open request up one escalation level, exactly once (compare-and-set on the level).

        With ``change`` the release moves too (the second SLA pauses it) in the same transaction.
        """
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(ApprovalRequest)
                .where(
                    col(ApprovalRequest.id) == request_id,
                    col(ApprovalRequest.state) == RequestState.AWAITING,
                    col(ApprovalRequest.escalation_level) == from_level,
                )
                .values(escalation_level=to_level)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                return None
            request = await s.get(ApprovalRequest, request_id)
            assert request is not None
            if change is not None and not await self._cas_release(s, request.release_id, change, now):
                await s.rollback()
                return None
            if next_timer is not None:
                kind, due = next_timer
                await schedule(
                    s,
                    kind,
                    request_id,
                    due,
                    {"release_id": request.release_id},
                    key=f"{kind}:{request_id}:{to_level}:{int(due.timestamp())}",
                    now=now,
                )
            if dm_messages is not None:
                request.dm_messages = [*request.dm_messages, *dm_messages]
                s.add(request)
            release = await self._record(s, request.release_id, note, now, owed)
            await s.refresh(request)
            return request, release

    async def accept_finding(
        self, release: Release, *, finding_key: str, severity: str, by: str, reason: str, now: datetime
    ) -> bool:
        """Record one owner's acceptance (with its audit entry); False if they had already accepted it."""
        try:
            async with self.sessions.begin() as s:
                s.add(
                    FindingAcceptance(
                        release_id=release.id or 0,
                        finding_key=finding_key,
                        severity=severity,
                        by=by,
                        reason=reason,
                        at=now,
                    )
                )
                await s.flush()
                await self._append_audit(
                    s,
                    AuditNote(
                        by, "finding.accept", "ok", {"finding": finding_key, "severity": severity, "reason": reason}
                    ),
                    now,
                    release,
                )
            return True
        except IntegrityError:
            return False

    async def acceptances(self, release_id: int) -> list[FindingAcceptance]:
        async with self.sessions() as s:
            q = select(FindingAcceptance).where(col(FindingAcceptance.release_id) == release_id)
            return list((await s.execute(q.order_by(col(FindingAcceptance.id)))).scalars().all())

    async def add_dm_message(self, request_id: int, channel: str, ts: str, user: str) -> None:
        async with self.sessions.begin() as s:
            request = await s.get(ApprovalRequest, request_id)
            if request is None:
                return
            request.dm_messages = [*request.dm_messages, {"channel": channel, "ts": ts, "user": user}]
            s.add(request)

    async def open_request(self, release_id: int) -> ApprovalRequest | None:
        async with self.sessions() as s:
            return await self._open_request(s, release_id)

    async def decisions(self, release_id: int) -> list[Decision]:
        async with self.sessions() as s:
            q = select(Decision).where(col(Decision.release_id) == release_id).order_by(col(Decision.id))
            return list((await s.execute(q)).scalars().all())

    async def schedule_timer(
        self, kind: str, target_id: int, due: datetime, *, key: str | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        async with self.sessions.begin() as s:
            await schedule(s, kind, target_id, due, payload or {}, key=key)
