"""Scoped API keys: only a SHA-256 of each key is stored; creating and revoking are audited.

A key reads ``rgk_<id>_<secret>``: the id lets a request be checked with one primary-key read,
and the 256-bit random secret makes the stored hash useless to anyone who reads the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, select, update
from sqlmodel import Field, SQLModel, col

from gates.access import KEY_PREFIX, KeyState, key_state, split_token
from storage.repo import AuditNote, Store
from storage.types import UTCDateTime

# last_used_at is written at most this often per key, so a busy collector costs no write per call.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    # SHA-256 (hex) of the whole key as handed out; the key itself is never stored.
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    origins: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_by: str | None = Field(default=None, max_length=64)
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))

    def state(self, now: datetime) -> KeyState:
        return key_state(self.revoked_at, self.expires_at, now)

    def audit_detail(self) -> dict[str, Any]:
        """What the audit log keeps about a key: never the secret, nor its hash."""
        return {
            "key": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "origins": list(self.origins),
            "expires": self.expires_at.isoformat() if self.expires_at else None,
        }


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    token: str  # shown once, to whoever created it


@dataclass(frozen=True)
class KeyLookup:
    """A presented key: ``row`` is None when no stored key matches it (unknown or wrong secret)."""

    row: ApiKey | None
    state: KeyState | None


class KeyStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.sessions = store.sessions

    async def create(
        self,
        *,
        name: str | None,
        scopes: frozenset[str],
        origins: tuple[str, ...],
        expires_at: datetime | None,
        actor: str,
        now: datetime,
    ) -> CreatedKey:
        """Stores the key's hash and appends ``key.create`` to the audit log in one transaction."""
        secret = secrets.token_urlsafe(32)
        async with self.sessions.begin() as s:
            row = ApiKey(
                name=name or "pending",
                secret_hash="0" * 64,
                scopes=sorted(scopes),
                origins=list(origins),
                created_by=actor[:64],
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            await s.flush()
            assert row.id is not None
            token = f"{KEY_PREFIX}{row.id}_{secret}"
            row.secret_hash = hash_key(token)
            if not name:
                row.name = f"key-{row.id}"
            await s.flush()
            await self.store._append_audit(s, AuditNote(actor, "key.create", "created", row.audit_detail()), now, None)
        return CreatedKey(row, token)

    async def all(self) -> list[ApiKey]:
        async with self.sessions() as s:
            return list((await s.execute(select(ApiKey).order_by(col(ApiKey.id)))).scalars())

    async def get(self, key_id: int) -> ApiKey | None:
        async with self.sessions() as s:
            return await s.get(ApiKey, key_id)

    async def revoke(self, key_id: int, *, actor: str, now: datetime) -> ApiKey | None:
        """The key as revoked now, or as it was if already revoked; None if there is no such key.
        Only the revocation that changes the row is audited."""
        async with self.sessions.begin() as s:
            changed = await s.execute(
                update(ApiKey)
                .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=now, revoked_by=actor[:64])
            )
            row = await s.get(ApiKey, key_id)
            if row is None:
                return None
            await s.refresh(row)
            if changed.rowcount:  # type: ignore[attr-defined]
                await self.store._append_audit(
                    s, AuditNote(actor, "key.revoke", "revoked", row.audit_detail()), now, None
                )
        return row

    async def lookup(self, token: str, now: datetime) -> KeyLookup:
        """The stored key a presented token is, compared in constant time, and its state now."""
        key_id = split_token(token)
        if key_id is None:
            return KeyLookup(None, None)
        row = await self.get(key_id)
        if row is None or not hmac.compare_digest(row.secret_hash, hash_key(token)):
            return KeyLookup(None, None)
        state = row.state(now)
        if state == "active" and (row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY):
            async with self.sessions.begin() as s:
                await s.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=now))
        return KeyLookup(row, state)
