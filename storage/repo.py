"""Repository: every state change is one transaction that also appends its audit entry.

Decisions and state changes are compare-and-set on the expected state, so double clicks,
retries and two replicas racing each other change things once. ``Store`` is built up one concern
per module: ``store_core`` (sessions, audit, the shared tail) → ``releases`` → ``results`` →
``approvals``; this module adds the small rest and is what everyone imports.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.approvals import ApprovalStore
from storage.models import (
    InspectorSession,
    SeenEvent,
    UsedLoginLink,
)
from storage.store_core import (
    SLA_ESCALATE,
    SLA_PAUSE,
    SLA_TIMERS,
    AlreadyActive,
    AuditNote,
    DecideResult,
    Owed,
    StateChange,
)

__all__ = [
    "SLA_ESCALATE",
    "SLA_PAUSE",
    "SLA_TIMERS",
    "AlreadyActive",
    "AuditNote",
    "DecideResult",
    "Owed",
    "StateChange",
    "Store",
]


class Store(ApprovalStore):
    async def open_session(self, id_hash: str, user: str, now: datetime, expires_at: datetime) -> None:
        async with self.sessions.begin() as s:
            s.add(InspectorSession(id_hash=id_hash, user_id=user, created_at=now, expires_at=expires_at))

    async def session_user(self, id_hash: str, now: datetime) -> str | None:
        """Whose session this is, while it is neither expired nor ended."""
        async with self.sessions() as s:
            row = await s.get(InspectorSession, id_hash)
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        return row.user_id

    async def end_session(self, id_hash: str, now: datetime) -> None:
        async with self.sessions.begin() as s:
            row = await s.get(InspectorSession, id_hash)
            if row is not None and row.ended_at is None:
                row.ended_at = now
                s.add(row)

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
