"""Gate results and phase runs: recording a phase's results moves the release on in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import desc, select, update
from sqlmodel import col

from gates.phases import Phase, State
from gates.result import GateResult
from storage.models import (
    ApprovalRequest,
    GateResultRow,
    PhaseRun,
    Release,
)
from storage.releases import ReleaseStore
from storage.store_core import (
    SLA_ESCALATE,
    AuditNote,
    Owed,
    StateChange,
)
from storage.timers import schedule


@dataclass(frozen=True)
class Recorded:
    """What recording a phase's results did: nothing (the release changed state meanwhile, so the
    results were dropped), or moved the release on, asking the owners when ``request`` is set."""

    recorded: bool
    request: ApprovalRequest | None = None


class ResultStore(ReleaseStore):
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
    ) -> Recorded:
        """Store a phase's gate results and move the release on (see ``Recorded``). ``owed`` (e.g. a
        rollback's explanation) is enqueued in the same transaction."""
        async with self.sessions.begin() as s:
            if not await self._cas_release(s, release_id, change, now):
                return Recorded(False)
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
            if change.to_state not in (State.AWAITING, State.BLOCKED):
                run.finished_at = now
            s.add(run)
            await self._supersede_requests(s, release_id)
            request: ApprovalRequest | None = None
            # A blocked phase gets a request too: Reject and "Re-run gates" still need a target.
            if change.to_state in (State.AWAITING, State.BLOCKED):
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
                if sla_due is not None and change.to_state == State.AWAITING and request.id is not None:
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
            return Recorded(True, request)

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
