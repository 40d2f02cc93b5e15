"""Durable timers: rows that any replica may claim once they are due.

Scheduling and cancelling take the caller's ``AsyncSession`` so that a timer is created or
cancelled in the same transaction as the state change that wants it (an approval request that
starts an SLA clock, a decision that stops it). Claiming is one atomic statement:

    UPDATE timers SET state = 'claimed', … WHERE id IN (
        SELECT id FROM timers WHERE state = 'pending' AND due_at <= :now
        ORDER BY due_at LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING …

On Postgres ``SKIP LOCKED`` lets replicas claim disjoint batches without waiting on each other; on
SQLite the write lock (``BEGIN IMMEDIATE``, see ``storage.db``) serialises claimers instead.

Delivery is at-least-once. A claim whose worker died is handed out again by
``release_stale_claims``, and a handler that ran but crashed before ``complete`` will run again, so
every handler must be idempotent: re-check the target's state with a compare-and-set before acting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from storage.models import Timer
from storage.types import TimerState

__all__ = ["TimerState", "TimerStore", "cancel_for", "schedule"]


# The ORM would otherwise try to reconcile bulk updates with objects in the session; these
# statements are the source of truth and their RETURNING rows are what callers get.
_BULK = {"synchronize_session": False}


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def schedule(
    session: AsyncSession,
    kind: str,
    target_id: int,
    due_at: datetime,
    payload: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    now: datetime | None = None,
) -> int | None:
    """Add a pending timer inside the caller's transaction; returns its id.

    With ``key``, scheduling is idempotent: if a timer with that key already exists (in any state)
    nothing is added and None is returned. Use it when a retried handler may schedule its follow-up
    twice, e.g. ``key=f"sla.pause:{request_id}"``.
    """
    values: dict[str, Any] = {
        "kind": kind,
        "target_id": target_id,
        "key": key,
        "due_at": due_at,
        "state": TimerState.PENDING,
        "attempts": 0,
        "payload": dict(payload or {}),
        "created_at": now or _utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(Timer).values(**values).on_conflict_do_nothing(index_elements=["key"])
        new_id = (await session.execute(pg.returning(col(Timer.id)))).scalar()
    elif dialect == "sqlite":
        lite = sqlite.insert(Timer).values(**values).on_conflict_do_nothing(index_elements=["key"])
        new_id = (await session.execute(lite.returning(col(Timer.id)))).scalar()
    else:  # pragma: no cover - only the two supported backends reach here
        raise RuntimeError(f"unsupported database {dialect!r}")
    return int(new_id) if new_id is not None else None


async def cancel_for(
    session: AsyncSession, target_id: int, kinds: Iterable[str], *, now: datetime | None = None
) -> int:
    """Cancel every pending or claimed timer of these kinds for the target; returns how many.

    A claimed timer may already be running in some worker: cancelling cannot stop that, which is
    one more reason handlers re-check their target's state before acting.
    """
    kinds = list(kinds)
    if not kinds:
        return 0
    res = await session.execute(
        update(Timer)
        .where(
            col(Timer.target_id) == target_id,
            col(Timer.kind).in_(kinds),
            col(Timer.state).in_((TimerState.PENDING, TimerState.CLAIMED)),
        )
        .values(state=TimerState.CANCELLED, done_at=now or _utcnow())
        .execution_options(**_BULK)
    )
    return int(res.rowcount)  # type: ignore[attr-defined]


class TimerStore:
    """Timer operations that run in their own transaction (the scheduler loop's side)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def schedule(
        self,
        kind: str,
        target_id: int,
        due_at: datetime,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        now: datetime | None = None,
    ) -> int | None:
        async with self.sessions.begin() as s:
            return await schedule(s, kind, target_id, due_at, payload, key=key, now=now)

    async def cancel_for(self, target_id: int, kinds: Iterable[str], *, now: datetime | None = None) -> int:
        async with self.sessions.begin() as s:
            return await cancel_for(s, target_id, kinds, now=now)

    async def claim_due(self, now: datetime, worker_id: str, limit: int = 100) -> list[Timer]:
        """Atomically claim up to ``limit`` due timers, earliest first. Each row goes to one caller."""
        due = (
            select(col(Timer.id))
            .where(col(Timer.state) == TimerState.PENDING, col(Timer.due_at) <= now)
            .order_by(col(Timer.due_at), col(Timer.id))
            .limit(limit)
            .with_for_update(skip_locked=True)  # ignored by SQLite, whose write lock already serialises
        )
        stmt = (
            update(Timer)
            .where(col(Timer.id).in_(due.scalar_subquery()))
            .values(state=TimerState.CLAIMED, claimed_by=worker_id, claimed_at=now, attempts=col(Timer.attempts) + 1)
            .returning(Timer)
            .execution_options(**_BULK)
        )
        async with self.sessions.begin() as s:
            claimed = list((await s.scalars(stmt)).all())
        claimed.sort(key=lambda t: (t.due_at, t.id or 0))
        return claimed

    async def complete(self, timer_id: int, now: datetime | None = None, *, worker_id: str | None = None) -> bool:
        """Mark a claimed timer done. False if it was cancelled meanwhile or re-claimed by someone else."""
        conds = [col(Timer.id) == timer_id, col(Timer.state) == TimerState.CLAIMED]
        if worker_id is not None:
            conds.append(col(Timer.claimed_by) == worker_id)
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(Timer)
                .where(*conds)
                .values(state=TimerState.DONE, done_at=now or _utcnow())
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def complete_many(
        self, timer_ids: Iterable[int], now: datetime | None = None, *, worker_id: str | None = None
    ) -> set[int]:
        """``complete`` for a batch in one statement; returns the ids that were still ours to finish."""
        ids = list(timer_ids)
        if not ids:
            return set()
        conds = [col(Timer.id).in_(ids), col(Timer.state) == TimerState.CLAIMED]
        if worker_id is not None:
            conds.append(col(Timer.claimed_by) == worker_id)
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(Timer)
                .where(*conds)
                .values(state=TimerState.DONE, done_at=now or _utcnow())
                .returning(col(Timer.id))
                .execution_options(**_BULK)
            )
            return {int(i) for i in res.scalars().all() if i is not None}

    async def retry_later(
        self,
        timer_id: int,
        error: str,
        due_at: datetime,
        *,
        worker_id: str | None = None,
        give_up: bool = False,
        now: datetime | None = None,
    ) -> bool:
        """Put a failed claim back as pending at ``due_at``, or park it as ``failed`` with ``give_up``."""
        conds = [col(Timer.id) == timer_id, col(Timer.state) == TimerState.CLAIMED]
        if worker_id is not None:
            conds.append(col(Timer.claimed_by) == worker_id)
        values: dict[str, Any] = {"last_error": error[:2000], "claimed_by": None, "claimed_at": None}
        if give_up:
            values.update(state=TimerState.FAILED, done_at=now or _utcnow())
        else:
            values.update(state=TimerState.PENDING, due_at=due_at)
        async with self.sessions.begin() as s:
            res = await s.execute(update(Timer).where(*conds).values(**values).execution_options(**_BULK))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def release_stale_claims(self, older_than: datetime) -> int:
        """Make timers claimed before ``older_than`` claimable again (their worker is presumed dead).

        The attempt count is kept, so a timer whose handler keeps killing its worker still ends up
        failed instead of looping forever.
        """
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(Timer)
                .where(col(Timer.state) == TimerState.CLAIMED, col(Timer.claimed_at) < older_than)
                .values(state=TimerState.PENDING, claimed_by=None, claimed_at=None)
                .execution_options(**_BULK)
            )
            return int(res.rowcount)  # type: ignore[attr-defined]

    # -- inspection ----------------------------------------------------------------------------

    async def get(self, timer_id: int) -> Timer | None:
        async with self.sessions() as s:
            return await s.get(Timer, timer_id)

    async def for_target(self, target_id: int, kinds: Iterable[str] | None = None) -> list[Timer]:
        async with self.sessions() as s:
            q = select(Timer).where(col(Timer.target_id) == target_id)
            if kinds is not None:
                q = q.where(col(Timer.kind).in_(list(kinds)))
            return list((await s.scalars(q.order_by(col(Timer.id)))).all())

    async def counts(self) -> dict[str, int]:
        """Timers per state, for health checks and dashboards."""
        async with self.sessions() as s:
            rows = (await s.execute(select(col(Timer.state), func.count()).group_by(col(Timer.state)))).all()
        return {str(state): int(n) for state, n in rows}

    async def next_due(self) -> datetime | None:
        async with self.sessions() as s:
            q = select(func.min(col(Timer.due_at))).where(col(Timer.state) == TimerState.PENDING)
            value = (await s.execute(q)).scalar()
        # func.min bypasses the column type, so SQLite hands back a naive (UTC) value.
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if isinstance(value, datetime) else None
