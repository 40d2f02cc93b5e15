"""The repository against real SQLite and PostgreSQL: CAS decisions, audit chain, migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel

from gates.result import GateResult, Status
from storage.audit import verify_chain
from storage.repo import AlreadyActive, AuditNote, StateChange, Store

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def _new_release(store: Store, name: str = "summer-hero") -> tuple[int, int]:
    rel, run = await store.create_release(
        name=name,
        title="Summer",
        channel_id="C1",
        requested_by="U0REQ",
        bundle_dir="/tmp/x",
        bundle={"title": "Summer", "images": [{"id": "a"}]},
        policy={},
        phase="preview",
        state="running",
        now=NOW,
    )
    assert rel.id is not None and run.id is not None
    return rel.id, run.id


async def _to_awaiting(store: Store, rid: int, run_id: int) -> int:
    req = await store.record_gate_results(
        rid,
        run_id,
        [GateResult(gate="image_budget", status=Status.PASS, summary="ok", image_id="a", measured=1.0)],
        StateChange("preview", "running", "preview", "awaiting"),
        AuditNote("releasegate", "gates.evaluated", "pass", {}),
        NOW,
        run_outcome="passed",
        owners=["U0REVIEWER"],
        channel_id="C1",
    )
    assert req.recorded and req.request is not None and req.request.id is not None
    return req.request.id


async def test_one_active_release_per_name(store: Store) -> None:
    await _new_release(store)
    with pytest.raises(AlreadyActive) as exc:
        await _new_release(store)
    assert exc.value.existing.name == "summer-hero"


async def test_concurrent_approvals_decide_once(store: Store) -> None:
    rid, run_id = await _new_release(store)
    req_id = await _to_awaiting(store, rid, run_id)
    change = StateChange("preview", "awaiting", "canary", "running")

    async def click(user: str, decision: str):
        return await store.decide(
            req_id,
            decision=decision,
            by=user,
            comment=None,
            change=change if decision == "approve" else StateChange("preview", "awaiting", "preview", "rejected"),
            now=NOW,
            run_outcome=decision + "d",
            start_next_run=decision == "approve",
            note=AuditNote(user, f"decision.{decision}", decision, {}),
        )

    results = await asyncio.gather(click("U1", "approve"), click("U2", "approve"), click("U3", "reject"))
    winners = [r for r in results if r.decided]
    assert len(winners) == 1
    losers = [r for r in results if not r.decided]
    assert all(r.decision is not None and r.decision.by == winners[0].decision.by for r in losers)  # type: ignore[union-attr]
    assert len(await store.decisions(rid)) == 1
    entries = await store.audit_entries()
    assert [e["action"] for e in entries].count("decision.approve") + [e["action"] for e in entries].count(
        "decision.reject"
    ) == 1
    assert verify_chain(entries) is None


async def test_audit_table_refuses_update_and_delete(store: Store) -> None:
    await _new_release(store)
    for stmt in ("UPDATE audit_events SET actor = 'UEVIL'", "DELETE FROM audit_events"):
        with pytest.raises((IntegrityError, DBAPIError)):
            async with store.sessions.begin() as s:
                await s.execute(text(stmt))
    entries = await store.audit_entries()
    assert entries[0]["actor"] == "U0REQ"


async def test_stale_transition_is_refused(store: Store) -> None:
    rid, _ = await _new_release(store)
    note = AuditNote("U1", "release.pause", "ok", {})
    first = await store.transition(rid, StateChange("preview", "running", "preview", "paused", "running"), note, NOW)
    second = await store.transition(rid, StateChange("preview", "running", "preview", "paused", "running"), note, NOW)
    assert first is not None and first[0].state == "paused"
    assert second is None


async def test_resume_restarts_the_sla_and_owes_its_note_in_one_transaction(store: Store) -> None:
    from datetime import timedelta

    from storage.repo import Owed

    rid, run_id = await _new_release(store)
    req = await _to_awaiting(store, rid, run_id)
    pause = AuditNote("U1", "release.pause", "ok", {})
    assert await store.transition(rid, StateChange("preview", "awaiting", "preview", "paused", "awaiting"), pause, NOW)
    async with store.sessions.begin() as s:  # as after two SLAs: escalated, no clock left
        await s.execute(text("UPDATE approval_requests SET escalation_level = 2"))
        await s.execute(text("UPDATE timers SET state = 'done'"))
    note = Owed("release:1:resume:1", "chat.postMessage", {"channel": "C1", "text": "Resumed"})
    due = NOW + timedelta(minutes=15)
    done = await store.transition(
        rid,
        StateChange("preview", "paused", "preview", "awaiting"),
        AuditNote("U1", "release.resume", "ok", {}),
        NOW,
        owed=[note],
        sla_due=due,
    )
    assert done is not None and done[0].state == "awaiting"
    async with store.sessions() as s:
        level = (await s.execute(text(f"SELECT escalation_level FROM approval_requests WHERE id = {req}"))).scalar()
        timers = (await s.execute(text("SELECT kind, target_id FROM timers WHERE state = 'pending'"))).all()
        owed = (await s.execute(text("SELECT idempotency_key FROM outbox"))).scalars().all()
    assert level == 0 and [(k, t) for k, t in timers] == [("sla.escalate", req)]
    assert "release:1:resume:1" in owed


async def test_migrations_match_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async with store.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    # Only real differences count; index naming of unique columns differs harmlessly by backend.
    relevant = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("remove_index", "add_index"))]
    assert relevant == []
