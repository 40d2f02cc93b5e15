"""Evidence: what an approver was shown, kept under content-addressed names.

Artifacts (thumbnails, contact sheets, charts) and evidence packages are files named by the
SHA-256 of their bytes (``<artifacts_dir>/cas/<sha256>``). A name that is its own checksum
cannot be swapped for different bytes unnoticed, and the decision's audit entry records the
package hash, which in turn lists every artifact hash, so the hash chain covers all of it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from storage.canonical import canonical_json
from storage.models import Decision, PhaseRun, Release
from storage.types import UTCDateTime

PACKAGE_VERSION = "releasegate.evidence.v1"


class IntegrityProblem(Exception):
    """Stored bytes no longer match their name."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ContentStore:
    """Write-once files named by their SHA-256 under ``root/cas``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "cas"

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a SHA-256 hex digest")
        return self.dir / digest

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.exists():
            return digest
        self.dir.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees a half-written file under a valid name.
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if sha256_hex(data) != digest:
            raise IntegrityProblem(f"cas/{digest} does not hash to its name")
        return data

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()


def package_bytes(package: Mapping[str, Any]) -> bytes:
    """Canonical JSON (RFC 8785), so the package hash is reproducible from the parsed file."""
    return canonical_json(dict(package))


class ArtifactRecord(SQLModel, table=True):
    """One file shown to approvers for a phase run, by content hash."""

    __tablename__ = "audit_artifacts"

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(index=True)
    phase_run_id: int = Field(index=True)
    filename: str
    title: str
    sha256: str = Field(max_length=64)
    size: int
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


@dataclass(frozen=True)
class ReleaseHistory:
    """Every attempt of one release name with its runs and decisions (for reports and the inspector)."""

    attempts: list[Release]
    runs: dict[int, list[PhaseRun]]
    decisions: dict[int, list[Decision]]


class EvidenceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add_artifacts(
        self, release_id: int, phase_run_id: int, items: Sequence[tuple[str, str, str, int]], now: datetime
    ) -> None:
        """``items``: (filename, title, sha256, size)."""
        if not items:
            return
        async with self.sessions.begin() as s:
            for filename, title, digest, size in items:
                s.add(
                    ArtifactRecord(
                        release_id=release_id,
                        phase_run_id=phase_run_id,
                        filename=filename,
                        title=title,
                        sha256=digest,
                        size=size,
                        created_at=now,
                    )
                )

    async def artifacts(self, phase_run_id: int) -> list[ArtifactRecord]:
        async with self.sessions() as s:
            q = (
                select(ArtifactRecord)
                .where(col(ArtifactRecord.phase_run_id) == phase_run_id)
                .order_by(col(ArtifactRecord.id))
            )
            return list((await s.execute(q)).scalars().all())

    async def release_artifacts(self, release_id: int) -> list[ArtifactRecord]:
        async with self.sessions() as s:
            q = (
                select(ArtifactRecord)
                .where(col(ArtifactRecord.release_id) == release_id)
                .order_by(col(ArtifactRecord.id))
            )
            return list((await s.execute(q)).scalars().all())

    async def history(self, name: str) -> ReleaseHistory:
        async with self.sessions() as s:
            attempts = list(
                (await s.execute(select(Release).where(col(Release.name) == name).order_by(col(Release.attempt))))
                .scalars()
                .all()
            )
            ids = [a.id for a in attempts if a.id is not None]
            runs: dict[int, list[PhaseRun]] = {i: [] for i in ids}
            decisions: dict[int, list[Decision]] = {i: [] for i in ids}
            if ids:
                for r in (
                    (
                        await s.execute(
                            select(PhaseRun).where(col(PhaseRun.release_id).in_(ids)).order_by(col(PhaseRun.id))
                        )
                    )
                    .scalars()
                    .all()
                ):
                    runs[r.release_id].append(r)
                for d in (
                    (
                        await s.execute(
                            select(Decision).where(col(Decision.release_id).in_(ids)).order_by(col(Decision.id))
                        )
                    )
                    .scalars()
                    .all()
                ):
                    decisions[d.release_id].append(d)
        return ReleaseHistory(attempts, runs, decisions)

    async def release_names(self, limit: int = 200) -> list[Release]:
        """The newest attempt of each release name, most recently changed first."""
        async with self.sessions() as s:
            rows = (
                (await s.execute(select(Release).order_by(col(Release.updated_at).desc(), col(Release.id).desc())))
                .scalars()
                .all()
            )
        seen: dict[str, Release] = {}
        for r in rows:
            current = seen.get(r.name)
            if current is None or r.attempt > current.attempt:
                seen[r.name] = r
        return list(seen.values())[:limit]
