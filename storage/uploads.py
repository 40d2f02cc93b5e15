"""Serialising bundle uploads against ``/release start`` on the same name.

Both take a per-name lock inside their transaction (an advisory lock on Postgres; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), so an upload that finishes its body while a
start is creating the release sees that release, and a start that hashed the files before an
upload replaced them sees the upload's new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gates.phases import TERMINAL_VALUES, Phase, State
from storage.models import BundleUpload, Release

# An upload that has been "writing" this long died between its claim and its rename.
STALE_UPLOAD = timedelta(minutes=10)


class BundleBusy(Exception):
    """The name is taken by an upload in progress, or the files changed since they were hashed."""


@dataclass(frozen=True)
class UploadSlot:
    name: str
    version: int


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(b"releasegate.bundle\x00" + name.encode()).digest()[:8], "big", signed=True)


async def lock(s: AsyncSession, name: str) -> None:
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(select(func.pg_advisory_xact_lock(_lock_key(name))))


async def why_not_replaceable(s: AsyncSession, name: str) -> str | None:
    """Why an upload may not replace ``name``'s files now, or None.

    A release that can still move (running, awaiting, blocked, paused) or a rolled-back Canary that
    can still be retried would otherwise go on with bytes nobody judged.
    """
    q = select(Release).where(col(Release.name) == name).order_by(desc(col(Release.attempt))).limit(1)
    latest = (await s.execute(q)).scalars().first()
    if latest is None:
        return None
    if latest.state not in TERMINAL_VALUES:
        return (
            f"{name} is {latest.phase} {latest.state}: its bundle cannot change until it ends "
            f"(completed, rejected or rolled back)"
        )
    if latest.state == State.ROLLED_BACK and latest.phase == Phase.CANARY:
        return (
            f"{name}'s Canary was rolled back and can still be retried on the bytes its Preview approved; "
            "upload the new images under a new release name, which starts at Preview"
        )
    return None


async def current_version(s: AsyncSession, name: str) -> int:
    row = await s.get(BundleUpload, name)
    return row.version if row is not None else 0


async def check_unchanged(s: AsyncSession, name: str, version: int, now: datetime) -> None:
    """Inside the start's transaction: refuse if an upload is writing or finished since ``version``."""
    await lock(s, name)
    row = await s.get(BundleUpload, name)
    if row is None:
        if version != 0:
            raise BundleBusy(f"the bundle of {name} changed while it was being checked; run the command again")
        return
    if row.state == "writing" and now - row.updated_at < STALE_UPLOAD:
        raise BundleBusy(f"an upload of {name} is being written right now; try again when it has finished")
    if row.version != version:
        raise BundleBusy(f"the bundle of {name} was replaced while it was being checked; run the command again")
