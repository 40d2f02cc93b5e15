"""Repository: every state change is one transaction that also appends its audit entry.

Decisions and state changes are compare-and-set on the expected state, so double clicks,
retries and two replicas racing each other change things once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, desc, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from gates.phases import TERMINAL_VALUES, DecisionKind, Phase, State
from gates.result import GateResult
from storage.audit import GENESIS, entry_body, entry_hash
from storage.events import remember
from storage.models import (
    ApprovalRequest,
    AuditEvent,
    BundleUpload,
    Decision,
    FindingAcceptance,
    GateResultRow,
    PhaseRun,
    Release,
    SeenEvent,
    UsedLoginLink,
)
from storage.outbox import enqueue
from storage.timers import cancel_for, schedule
from storage.uploads import STALE_UPLOAD, check_unchanged, current_version, lock, why_not_replaceable

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


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    # -- audit ---------------------------------------------------------------------------

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
        remember(s.sync_session, {"release": event.release_name, "attempt": release.attempt if release else None,
                                  "phase": event.phase, "actor": event.actor, "action": event.action,
                                  "outcome": event.outcome})
        return event

    async def _record(
        self, s: AsyncSession, release_id: int, note: AuditNote, now: datetime, owed: Sequence[Owed],
        *, audited_phase: str | None = None,
    ) -> Release:
        """The tail every state change shares, inside its transaction: read the release as the change
        left it, append the audit entry, and enqueue what the change owes Slack.

        ``audited_phase`` names the phase the entry is about when it is not the one the release is now
        in (a decision records the phase decided, not the one it starts)."""
        release = await s.get(Release, release_id)
        assert release is not None
        await s.refresh(release)
        audited = release if audited_phase is None else Release.model_validate(
            release.model_dump() | {"phase": audited_phase})
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

    # -- releases ------------------------------------------------------------------------

    async def create_release(
        self,
        *,
        name: str,
        title: str,
        channel_id: str,
        requested_by: str,
        bundle_dir: str,
        bundle: dict[str, Any],
        policy: dict[str, Any],
        phase: str,
        state: str,
        now: datetime,
        retry_of: int | None = None,
        actor: str | None = None,
        bundle_digest: str | None = None,
        bundle_manifest: list[dict[str, Any]] | None = None,
        bundle_version: int | None = None,
    ) -> tuple[Release, PhaseRun]:
        """``bundle_version`` is what ``bundle_version()`` said before the files were hashed: the
        release is created only if no upload replaced them since (``BundleBusy`` otherwise)."""
        try:
            async with self.sessions.begin() as s:
                if bundle_version is not None:
                    await check_unchanged(s, name, bundle_version, now)
                last = (await s.execute(select(func.max(Release.attempt)).where(col(Release.name) == name))).scalar()
                release = Release(
                    name=name,
                    attempt=(last or 0) + 1,
                    title=title,
                    channel_id=channel_id,
                    requested_by=requested_by,
                    phase=Phase(phase),
                    state=State(state),
                    bundle_dir=bundle_dir,
                    bundle=bundle,
                    policy=policy,
                    created_at=now,
                    updated_at=now,
                    bundle_digest=bundle_digest,
                    bundle_manifest=bundle_manifest or [],
                )
                s.add(release)
                await s.flush()
                run = PhaseRun(release_id=release.id or 0, phase=Phase(phase), started_at=now)
                s.add(run)
                await s.flush()
                await self._append_audit(
                    s,
                    AuditNote(
                        actor or requested_by,
                        "release.retry_canary" if retry_of else "release.start",
                        "ok",
                        {
                            "attempt": release.attempt,
                            "title": title,
                            "images": len(bundle["images"]),
                            "channel": channel_id,
                            "retry_of": retry_of,
                            "requested_by": requested_by,
                            "bundle_digest": bundle_digest,
                            "files": len(bundle_manifest or []),
                        },
                    ),
                    now,
                    release,
                )
                return release, run
        except IntegrityError:
            existing = await self.active_release(name)
            if existing is None:
                raise
            raise AlreadyActive(existing) from None

    # -- bundle uploads ------------------------------------------------------------------

    async def bundle_version(self, name: str) -> int:
        async with self.sessions() as s:
            return await current_version(s, name)

    async def begin_upload(self, name: str, by: str, now: datetime) -> str | None:
        """Claim ``name`` for an upload about to replace its files; the reason when refused (audited)."""
        async with self.sessions.begin() as s:
            await lock(s, name)
            why = await why_not_replaceable(s, name)
            row = await s.get(BundleUpload, name)
            if why is None and row is not None and row.state == "writing" and now - row.updated_at < STALE_UPLOAD:
                why = f"another upload of {name} is being written; try again when it has finished"
            if why is not None:
                await self._append_audit(s, AuditNote(by, "bundle.upload", "refused", {"name": name, "why": why}),
                                         now, None)
                return why
            if row is None:
                s.add(BundleUpload(name=name, state="writing", version=0, by=by, updated_at=now))
            else:
                row.state, row.by, row.updated_at = "writing", by, now
                s.add(row)
            return None

    async def finish_upload(self, name: str, by: str, now: datetime, detail: Mapping[str, Any] | None) -> None:
        """The files are in place (``detail`` says what: digest, files, bytes), or the upload gave up (None)."""
        async with self.sessions.begin() as s:
            await lock(s, name)
            row = await s.get(BundleUpload, name)
            if row is None:
                return
            row.state, row.updated_at = "ready", now
            if detail is not None:
                row.version += 1
                row.digest = str(detail.get("bundle_digest"))
                await self._append_audit(s, AuditNote(by, "bundle.upload", "ok", {"name": name, **detail}), now, None)
            s.add(row)

    async def active_release(self, name: str) -> Release | None:
        async with self.sessions() as s:
            q = select(Release).where(
                col(Release.name) == name, col(Release.state).not_in(TERMINAL_VALUES)
            )
            return (await s.execute(q)).scalars().first()

    async def latest_release(self, name: str) -> Release | None:
        async with self.sessions() as s:
            q = select(Release).where(col(Release.name) == name).order_by(desc(col(Release.attempt))).limit(1)
            return (await s.execute(q)).scalars().first()

    async def release(self, release_id: int) -> Release | None:
        async with self.sessions() as s:
            return await s.get(Release, release_id)

    async def list_releases(self, limit: int = 20) -> list[Release]:
        async with self.sessions() as s:
            q = select(Release).order_by(desc(col(Release.updated_at)), desc(col(Release.id))).limit(limit)
            return list((await s.execute(q)).scalars().all())

    async def set_root_ts(self, release_id: int, ts: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(Release).where(col(Release.id) == release_id).values(root_ts=ts))

    async def set_run_results(self, run_id: int, *, latest: Sequence[GateResult] | None = None,
                              brand: Sequence[GateResult] | None = None) -> None:
        """Keep a running phase's latest evaluation (and its brand results) with the run."""
        values: dict[str, Any] = {}
        if latest is not None:
            values["latest_results"] = [r.to_dict() for r in latest]
        if brand is not None:
            values["brand_results"] = [r.to_dict() for r in brand]
        if values:
            async with self.sessions.begin() as s:
                await s.execute(update(PhaseRun).where(col(PhaseRun.id) == run_id).values(**values))

    async def set_status_message(self, run_id: int, ts: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(PhaseRun).where(col(PhaseRun.id) == run_id).values(status_message_ts=ts))

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

    async def transition(
        self,
        release_id: int,
        change: StateChange,
        note: AuditNote,
        now: datetime,
        *,
        finish_run_as: str | None = None,
        start_run: bool = False,
        traffic_percent: float | None = None,
        owed: Sequence[Owed] = (),
        sla_due: datetime | None = None,
    ) -> tuple[Release, PhaseRun | None] | None:
        """Compare-and-set the release's state; None when someone else changed it first.

        ``owed`` is what the change owes Slack, enqueued in the same transaction. ``sla_due``
        (a resume) restarts the open approval request's SLA clock in it too, so a crash right after
        the resume cannot leave a request that never escalates."""
        async with self.sessions.begin() as s:
            if not await self._cas_release(s, release_id, change, now):
                return None
            if traffic_percent is not None:
                await s.execute(
                    update(Release).where(col(Release.id) == release_id).values(traffic_percent=traffic_percent)
                )
            if finish_run_as:
                await self._finish_current_run(s, release_id, finish_run_as, now)
            run = None
            if start_run:
                run = PhaseRun(release_id=release_id, phase=Phase(change.to_phase), started_at=now)
                s.add(run)
                await s.flush()
            if change.to_state not in _KEEPS_REQUEST:
                await self._supersede_requests(s, release_id)
            release = await self._record(s, release_id, note, now, owed)
            if sla_due is not None:
                request = await self._open_request(s, release_id)
                if request is not None and request.id is not None:
                    await self._restart_sla(s, request.id, sla_due, now)
            return release, run

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
                        col(ApprovalRequest.release_id) == release_id, col(ApprovalRequest.state) == "awaiting"
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
            .where(col(ApprovalRequest.release_id) == release_id, col(ApprovalRequest.state) == "awaiting")
            .values(state="superseded")
        )

    # -- gates ---------------------------------------------------------------------------

    async def record_gate_results(
        self,
        release_id: int,
        run_id: int,
        results: Sequence[GateResult],
        change: StateChange,
        note: AuditNote,
        now: datetime,
        *,
        run_outcome: str,
        owners: list[str],
        channel_id: str,
        traffic_percent: float | None = None,
        sla_due: datetime | None = None,
        owed: Sequence[Owed] = (),
    ) -> ApprovalRequest | bool | None:
        """Store a phase's gate results and move the release on.

        Returns False when the release changed state meanwhile (results are then dropped),
        the new approval request when the owners are now asked, else None. ``owed`` (e.g. a
        rollback's explanation) is enqueued in the same transaction.
        """
        async with self.sessions.begin() as s:
            if not await self._cas_release(s, release_id, change, now):
                return False
            for r in results:
                d = r.to_dict()
                s.add(
                    GateResultRow(
                        phase_run_id=run_id,
                        gate=r.gate,
                        image_id=r.image_id,
                        status=r.status.value,
                        summary=r.summary,
                        measured=r.measured,
                        threshold=r.threshold,
                        unit=r.unit,
                        values=d["values"],
                        evidence=d["evidence"],
                        findings=d["findings"],
                    )
                )
            if traffic_percent is not None:
                await s.execute(
                    update(Release).where(col(Release.id) == release_id).values(traffic_percent=traffic_percent)
                )
            run = await s.get(PhaseRun, run_id)
            assert run is not None
            run.outcome = run_outcome
            if change.to_state not in ("awaiting", "blocked"):
                run.finished_at = now
            s.add(run)
            await self._supersede_requests(s, release_id)
            request: ApprovalRequest | None = None
            # A blocked phase gets a request too: Reject and "Re-run gates" still need a target.
            if change.to_state in ("awaiting", "blocked"):
                request = ApprovalRequest(
                    release_id=release_id,
                    phase_run_id=run_id,
                    phase=Phase(change.to_phase),
                    channel_id=channel_id,
                    owners=owners,
                    gate_snapshot=[r.to_dict() for r in results],
                    created_at=now,
                )
                s.add(request)
                await s.flush()
                if sla_due is not None and change.to_state == "awaiting" and request.id is not None:
                    # The SLA clock starts in the same transaction that asks for the decision.
                    await schedule(
                        s,
                        SLA_ESCALATE,
                        request.id,
                        sla_due,
                        {"release_id": release_id},
                        key=f"{SLA_ESCALATE}:{request.id}:0",
                        now=now,
                    )
            await self._record(s, release_id, note, now, owed)
            return request

    async def gate_results(self, run_id: int) -> list[GateResult]:
        async with self.sessions() as s:
            rows = (
                (
                    await s.execute(
                        select(GateResultRow)
                        .where(col(GateResultRow.phase_run_id) == run_id)
                        .order_by(col(GateResultRow.id))
                    )
                )
                .scalars()
                .all()
            )
        return [
            GateResult.from_dict(
                {
                    "gate": r.gate,
                    "status": r.status,
                    "summary": r.summary,
                    "image_id": r.image_id,
                    "measured": r.measured,
                    "threshold": r.threshold,
                    "unit": r.unit,
                    "values": r.values,
                    "evidence": r.evidence,
                    "findings": r.findings,
                }
            )
            for r in rows
        ]

    async def phase_runs(self, release_id: int) -> list[PhaseRun]:
        async with self.sessions() as s:
            q = select(PhaseRun).where(col(PhaseRun.release_id) == release_id).order_by(col(PhaseRun.id))
            return list((await s.execute(q)).scalars().all())

    async def current_run(self, release_id: int) -> PhaseRun | None:
        async with self.sessions() as s:
            q = select(PhaseRun).where(col(PhaseRun.release_id) == release_id).order_by(desc(col(PhaseRun.id))).limit(1)
            return (await s.execute(q)).scalars().first()

    # -- approvals -----------------------------------------------------------------------

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
                .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.state) == "awaiting")
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
                    col(ApprovalRequest.state) == "awaiting",
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

    async def _restart_sla(self, s: AsyncSession, request_id: int, due: datetime, now: datetime) -> bool:
        """After a resume: back to level 0 and a fresh SLA clock for the same open request."""
        res = await s.execute(
            update(ApprovalRequest)
            .where(col(ApprovalRequest.id) == request_id, col(ApprovalRequest.state) == "awaiting")
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

    async def first_delivery(self, event_id: str, now: datetime) -> bool:
        """True the first time an Events API ``event_id`` is seen, on any replica; False for a retry."""
        try:
            async with self.sessions.begin() as s:
                s.add(SeenEvent(event_id=event_id[:64], received_at=now))
            return True
        except IntegrityError:
            return False

    async def use_login_link(self, digest: str, user: str, now: datetime, expires_at: datetime) -> bool:
        """True the first time a sign-in link is used, on any replica; False ever after.

        Rows of links that have expired anyway are pruned here: they could not be replayed."""
        try:
            async with self.sessions.begin() as s:
                await s.execute(delete(UsedLoginLink).where(col(UsedLoginLink.expires_at) < now))
                s.add(UsedLoginLink(digest=digest, user_id=user, used_at=now, expires_at=expires_at))
            return True
        except IntegrityError:
            return False

    async def schedule_timer(
        self, kind: str, target_id: int, due: datetime, *, key: str | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        async with self.sessions.begin() as s:
            await schedule(s, kind, target_id, due, payload or {}, key=key)

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

    @staticmethod
    async def _open_request(s: AsyncSession, release_id: int) -> ApprovalRequest | None:
        q = (
            select(ApprovalRequest)
            .where(col(ApprovalRequest.release_id) == release_id, col(ApprovalRequest.state) == "awaiting")
            .order_by(desc(col(ApprovalRequest.id)))
            .limit(1)
        )
        return (await s.execute(q)).scalars().first()

    async def decisions(self, release_id: int) -> list[Decision]:
        async with self.sessions() as s:
            q = select(Decision).where(col(Decision.release_id) == release_id).order_by(col(Decision.id))
            return list((await s.execute(q)).scalars().all())
