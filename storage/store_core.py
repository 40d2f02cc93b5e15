"""What every part of the repository shares: sessions, the audit append, and the tail of a state change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from gates.phases import RequestState
from storage.audit import GENESIS, entry_body, entry_hash
from storage.events import remember
from storage.models import (
    ApprovalRequest,
    AuditEvent,
    Decision,
    PhaseRun,
    Release,
)
from storage.outbox import enqueue
from storage.timers import cancel_for, schedule

# Pausing keeps the open approval request: after resume the same buttons work again.
_KEEPS_REQUEST = ("awaiting", "blocked", "paused")

SLA_ESCALATE = "sla.escalate"
SLA_PAUSE = "sla.pause"
SLA_TIMERS = (SLA_ESCALATE, SLA_PAUSE)

# Any constant works; it only has to be the same for every replica.
_AUDIT_LOCK_KEY = 0x72656C67


class AlreadyActive(Exception):
    def __init__(self, existing: Release) -> None:
        super().__init__(f"release {existing.name} is already {existing.state}")
        self.existing = existing


@dataclass(frozen=True)
class StateChange:
    """From (phase, state) to (phase, state); the update only happens if ``from`` still holds."""

    from_phase: str
    from_state: str
    to_phase: str
    to_state: str
    paused_from: str | None = None


@dataclass(frozen=True)
class AuditNote:
    actor: str
    action: str
    outcome: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Owed:
    """A Slack call owed because of a state change, enqueued in the outbox in the same transaction."""

    key: str  # names the fact announced, so the same announcement is never owed twice
    method: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class DecideResult:
    decided: bool
    decision: Decision | None = None  # the winning decision, ours or the earlier one
    reason: str | None = None  # why ours did not count
    next_phase_run: PhaseRun | None = None


class StoreCore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def _append_audit(
        self, s: AsyncSession, note: AuditNote, now: datetime, release: Release | None
    ) -> AuditEvent:
        if self.engine.dialect.name == "postgresql":
            # One writer at a time across replicas keeps the sequence gapless and ordered.
            await s.execute(select(func.pg_advisory_xact_lock(_AUDIT_LOCK_KEY)))
        head_q = select(col(AuditEvent.seq), col(AuditEvent.hash)).order_by(desc(col(AuditEvent.seq))).limit(1)
        head = (await s.execute(head_q)).first()
        seq = (head[0] + 1) if head else 1
        prev = head[1] if head else GENESIS
        body = entry_body(
            seq=seq,
            at=now,
            actor=note.actor,
            action=note.action,
            release_id=release.id if release else None,
            release_name=release.name if release else None,
            phase=release.phase if release else None,
            outcome=note.outcome,
            detail=note.detail,
            prev_hash=prev,
        )
        event = AuditEvent(
            seq=seq,
            at=now,
            actor=note.actor,
            action=note.action,
            release_id=body["release_id"],
            release_name=body["release_name"],
            phase=body["phase"],
            outcome=note.outcome,
            detail=body["detail"],
            prev_hash=prev,
            hash=entry_hash(body),
        )
        s.add(event)
        await s.flush()
        remember(
            s.sync_session,
            {
                "release": event.release_name,
                "attempt": release.attempt if release else None,
                "phase": event.phase,
                "actor": event.actor,
                "action": event.action,
                "outcome": event.outcome,
            },
        )
        return event

    async def _record(
        self,
        s: AsyncSession,
        release_id: int,
        note: AuditNote,
        now: datetime,
        owed: Sequence[Owed],
        *,
        audited_phase: str | None = None,
    ) -> Release:
        """The tail every state change shares, inside its transaction: read the release as the change
        left it, append the audit entry, and enqueue what the change owes Slack.

        ``audited_phase`` names the phase the entry is about when it is not the one the release is now
        in (a decision records the phase decided, not the one it starts)."""
        release = await s.get(Release, release_id)
        assert release is not None
        await s.refresh(release)
        audited = (
            release
            if audited_phase is None
            else Release.model_validate(release.model_dump() | {"phase": audited_phase})
        )
        await self._append_audit(s, note, now, audited)
        for o in owed:
            await enqueue(s, o.key, o.method, o.args, release_id, now=now)
        return release

    async def audit(self, note: AuditNote, now: datetime, release: Release | None = None) -> None:
        async with self.sessions.begin() as s:
            await self._append_audit(s, note, now, release)

    async def audit_entries(self, release_name: str | None = None) -> list[dict[str, Any]]:
        """Entries exactly as hashed, plus ``hash``, in sequence order."""
        async with self.sessions() as s:
            q = select(AuditEvent).order_by(col(AuditEvent.seq))
            if release_name:
                q = q.where(col(AuditEvent.release_name) == release_name)
            rows = (await s.execute(q)).scalars().all()
        out = []
        for r in rows:
            body = entry_body(
                seq=r.seq,
                at=r.at,
                actor=r.actor,
                action=r.action,
                release_id=r.release_id,
                release_name=r.release_name,
                phase=r.phase,
                outcome=r.outcome,
                detail=r.detail,
                prev_hash=r.prev_hash,
            )
            body["hash"] = r.hash
            out.append(body)
        return out

    async def _cas_release(self, s: AsyncSession, release_id: int, change: StateChange, now: datetime) -> bool:
        res = await s.execute(
            update(Release)
            .where(
                col(Release.id) == release_id,
                col(Release.phase) == change.from_phase,
                col(Release.state) == change.from_state,
            )
            .values(phase=change.to_phase, state=change.to_state, paused_from=change.paused_from, updated_at=now)
        )
        return bool(res.rowcount)  # type: ignore[attr-defined]

    async def _finish_current_run(self, s: AsyncSession, release_id: int, outcome: str, now: datetime) -> None:
        run = (
            (
                await s.execute(
                    select(PhaseRun)
                    .where(col(PhaseRun.release_id) == release_id)
                    .order_by(desc(col(PhaseRun.id)))
                    .limit(1)
                )
            )
            .scalars()
            .first()
        )
        if run is not None:
            run.outcome = outcome
            run.finished_at = now
            s.add(run)

    async def _supersede_requests(self, s: AsyncSession, release_id: int) -> None:
        open_ids = (
            (
                await s.execute(
                    select(col(ApprovalRequest.id)).where(
                        col(ApprovalRequest.release_id) == release_id,
                        col(ApprovalRequest.state) == RequestState.AWAITING,
                    )
                )
            )
            .scalars()
            .all()
        )
        for request_id in open_ids:
            if request_id is not None:
                await cancel_for(s, request_id, SLA_TIMERS)
        await s.execute(
            update(ApprovalRequest)
            .where(col(ApprovalRequest.release_id) == release_id, col(ApprovalRequest.state) == RequestState.AWAITING)
            .values(state="superseded")
        )

    @staticmethod
    async def _open_request(s: AsyncSession, release_id: int) -> ApprovalRequest | None:
        q = (
            select(ApprovalRequest)
            .where(col(ApprovalRequest.release_id) == release_id, col(ApprovalRequest.state) == RequestState.AWAITING)
            .order_by(desc(col(ApprovalRequest.id)))
            .limit(1)
        )
        return (await s.execute(q)).scalars().first()

    async def _restart_sla(self, s: AsyncSession, request_id: int, due: datetime, now: datetime) -> bool:
        """After a resume: back to level 0 and a fresh SLA clock for the same open request."""
        res = await s.execute(
            update(ApprovalRequest)
            .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.state) == RequestState.AWAITING)
            .values(escalation_level=0)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            return False
        await cancel_for(s, request_id, SLA_TIMERS, now=now)
        await schedule(
            s,
            SLA_ESCALATE,
            request_id,
            due,
            {},
            key=f"{SLA_ESCALATE}:{request_id}:r{int(now.timestamp() * 1000)}",
            now=now,
        )
        return True
