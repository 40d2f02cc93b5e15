"""The Slack outbox: every Slack call the bot owes, persisted before it is attempted.

``enqueue`` takes the caller's ``AsyncSession`` so the message is written in the same transaction
as the state change that owes it: if the transaction rolls back nothing is owed, and if the process
dies after commit the row is still there for the next sender (``bot.slack.outbox``) to deliver.

Claiming leases a row by pushing ``next_attempt_at`` past now; a sender that dies mid-send simply
lets the lease run out. Rows that share an ``ordering_key`` (by default, the channel) are handed out
strictly one at a time in id order, so a thread's replies and a message's successive updates land
in the order they were enqueued, whichever replica sends them.

An argument may refer to the result of an earlier outbox row with ``ref_ts(key)`` /
``ref_channel(key)``, e.g. a thread reply enqueued in the same transaction as its root message:
``thread_ts=ref_ts("release:7:root")``. The sender fills it in once that row is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.models import OutboxMessage
from storage.types import OutboxState

__all__ = [
    "INTERRUPTED",
    "NOT_SENT",
    "REF_MARKER",
    "OutboxState",
    "OutboxStore",
    "enqueue",
    "ref_channel",
    "ref_ts",
    "refs_in",
]

# Error prefixes the sender relies on: a retry after NOT_SENT need not check whether the message
# landed; after anything else (a timeout, a 5xx, an interrupted sender) it must.
NOT_SENT = "not sent: "
INTERRUPTED = "interrupted: the attempt by "
REF_MARKER = "$outbox"
_DEFAULT = object()
_BULK = {"synchronize_session": False}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ref_ts(key: str) -> dict[str, str]:
    """Placeholder for the ``ts`` another outbox row's call returned (e.g. a root message to thread under)."""
    return {REF_MARKER: key, "field": "ts"}


def ref_channel(key: str) -> dict[str, str]:
    """Placeholder for the channel another outbox row landed in (e.g. the DM channel of a DM)."""
    return {REF_MARKER: key, "field": "channel"}


def refs_in(args: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Top-level arguments that are placeholders: name → (key, field)."""
    return {
        name: (str(value[REF_MARKER]), str(value.get("field", "ts")))
        for name, value in args.items()
        if isinstance(value, dict) and REF_MARKER in value
    }


def _default_ordering_key(args: Mapping[str, Any]) -> str | None:
    channel = args.get("channel")
    if isinstance(channel, str) and channel:
        return f"channel:{channel}"
    if isinstance(channel, dict) and REF_MARKER in channel:
        return f"ref:{channel[REF_MARKER]}"
    return None


async def enqueue(
    session: AsyncSession,
    key: str,
    method: str,
    args: Mapping[str, Any],
    release_id: int | None = None,
    *,
    now: datetime | None = None,
    not_before: datetime | None = None,
    ordering_key: Any = _DEFAULT,
) -> bool:
    """Owe Slack one call, inside the caller's transaction. False if ``key`` was already enqueued.

    The key is the message's identity: enqueueing it again (a retried handler, a second replica
    doing the same work) is a no-op, so pick keys that name the *fact* being announced, e.g.
    ``f"approval:{request_id}:post"``, not a random id.
    """
    now = now or _utcnow()
    values: dict[str, Any] = {
        "idempotency_key": key,
        "method": method,
        "args": dict(args),
        "ordering_key": _default_ordering_key(args) if ordering_key is _DEFAULT else ordering_key,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
        "release_id": release_id,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = (
            postgresql.insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        new_id = (await session.execute(pg.returning(col(OutboxMessage.id)))).scalar()
    elif dialect == "sqlite":
        lite = sqlite.insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
        new_id = (await session.execute(lite.returning(col(OutboxMessage.id)))).scalar()
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database {dialect!r}")
    return new_id is not None


class OutboxStore:
    """The sender's side of the outbox; each call is its own short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def enqueue(
        self,
        key: str,
        method: str,
        args: Mapping[str, Any],
        release_id: int | None = None,
        *,
        now: datetime | None = None,
        not_before: datetime | None = None,
        ordering_key: Any = _DEFAULT,
    ) -> bool:
        async with self.sessions.begin() as s:
            return await enqueue(
                s, key, method, args, release_id, now=now, not_before=not_before, ordering_key=ordering_key
            )

    async def claim(
        self, now: datetime, limit: int = 50, *, worker_id: str = "", lease: timedelta = timedelta(seconds=60)
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` sendable rows: due, and first in line for their ordering key.

        The lease must outlast one send attempt (client timeout included); after it a crashed
        sender's row is claimable again and the next sender checks Slack before re-posting.
        """
        o = aliased(OutboxMessage, name="o")
        earlier = aliased(OutboxMessage, name="earlier")
        blocked = (
            select(col(earlier.id))
            .where(
                col(earlier.ordering_key) == col(o.ordering_key),
                col(earlier.state) == OutboxState.PENDING,
                col(earlier.id) < col(o.id),
            )
            .exists()
        )
        ready = (
            select(col(o.id))
            .where(col(o.state) == OutboxState.PENDING, col(o.next_attempt_at) <= now, ~blocked)
            .order_by(col(o.id))
            .limit(limit)
            .with_for_update(skip_locked=True, of=o)
        )
        stmt = (
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ready.scalar_subquery()))
            .values(
                attempts=col(OutboxMessage.attempts) + 1,
                next_attempt_at=now + lease,
                claimed_by=worker_id or "?",
                # Every outcome clears claimed_by, so finding it set means the last sender died
                # mid-attempt: its call may have reached Slack, and the error says so.
                error=case(
                    (col(OutboxMessage.claimed_by).is_not(None), literal(INTERRUPTED) + col(OutboxMessage.claimed_by)),
                    else_=col(OutboxMessage.error),
                ),
            )
            .returning(OutboxMessage)
            .execution_options(**_BULK)
        )
        async with self.sessions.begin() as s:
            rows = list((await s.scalars(stmt)).all())
        rows.sort(key=lambda r: r.id or 0)
        return rows

    async def mark_sent(
        self, row_id: int, ts: str | None, channel: str | None = None, now: datetime | None = None
    ) -> bool:
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == OutboxState.PENDING)
                .values(
                    state=OutboxState.SENT, result_ts=ts, result_channel=channel, sent_at=now or _utcnow(), error=None
                )
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def mark_retry(self, row_id: int, error: str, next_at: datetime) -> bool:
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == OutboxState.PENDING)
                .values(error=error[:2000], next_attempt_at=next_at, claimed_by=None)
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def defer(self, row_id: int, next_at: datetime) -> bool:
        """Put a row back without counting the attempt (it waits on another row, it did not fail)."""
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == OutboxState.PENDING)
                .values(
                    # The error is left alone: it carries whether an earlier attempt may have landed.
                    next_attempt_at=next_at,
                    claimed_by=None,
                    attempts=func.max(col(OutboxMessage.attempts) - 1, 0)
                    if self.engine.dialect.name == "sqlite"
                    else func.greatest(col(OutboxMessage.attempts) - 1, 0),
                )
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def mark_failed(self, row_id: int, error: str) -> bool:
        """Give up on a row. It stays in the table (state ``failed``) for an operator to inspect or requeue."""
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.state) == OutboxState.PENDING)
                .values(state=OutboxState.FAILED, error=error[:2000], claimed_by=None)
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    async def requeue(self, key: str, now: datetime | None = None) -> bool:
        """Operator action: try a failed row again from scratch."""
        async with self.sessions.begin() as s:
            res = await s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.idempotency_key) == key, col(OutboxMessage.state) == OutboxState.FAILED)
                .values(state=OutboxState.PENDING, attempts=0, next_attempt_at=now or _utcnow())
                .execution_options(**_BULK)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    # -- lookups -------------------------------------------------------------------------------

    async def get(self, key: str) -> OutboxMessage | None:
        async with self.sessions() as s:
            q = select(OutboxMessage).where(col(OutboxMessage.idempotency_key) == key)
            return (await s.scalars(q)).first()

    async def by_keys(self, keys: Iterable[str]) -> dict[str, OutboxMessage]:
        keys = list(set(keys))
        if not keys:
            return {}
        async with self.sessions() as s:
            q = select(OutboxMessage).where(col(OutboxMessage.idempotency_key).in_(keys))
            return {r.idempotency_key: r for r in (await s.scalars(q)).all()}

    async def rows(self, state: str | None = None, release_id: int | None = None) -> list[OutboxMessage]:
        async with self.sessions() as s:
            q = select(OutboxMessage)
            if state is not None:
                q = q.where(col(OutboxMessage.state) == state)
            if release_id is not None:
                q = q.where(col(OutboxMessage.release_id) == release_id)
            return list((await s.scalars(q.order_by(col(OutboxMessage.id)))).all())

    async def counts(self) -> dict[str, int]:
        async with self.sessions() as s:
            q = select(col(OutboxMessage.state), func.count()).group_by(col(OutboxMessage.state))
            rows = (await s.execute(q)).all()
        return {str(state): int(n) for state, n in rows}
