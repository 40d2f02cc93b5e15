"""Game-day drill results, kept so that drills can be compared quarter to quarter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, desc, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from storage.types import UTCDateTime


class DrillRun(SQLModel, table=True):
    """One drill: who ran it, what happened, and the three timings it exists to measure.

    Timings are seconds and ``None`` when the drill never got that far (approvers did not answer,
    so no Canary ran): a missing number must not read as a fast one.
    """

    __tablename__ = "drills"

    id: int | None = Field(default=None, primary_key=True)
    release_name: str = Field(max_length=63, index=True)
    release_id: int | None = None
    channel_id: str = Field(max_length=32)
    started_by: str = Field(max_length=32)
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # passed | no_response | rejected | rollback_not_seen | error
    outcome: str = Field(max_length=32)
    approver: str | None = Field(default=None, max_length=32)
    approver_response_s: float | None = None
    escalated: bool = False
    slack_calls: int = 0
    slack_failures: int = 0
    slack_p50_s: float | None = None
    slack_p95_s: float | None = None
    slack_max_s: float | None = None
    # Failure visible → failing verdict, and failure visible → the engine confirmed 0%.
    rollback_detect_s: float | None = None
    rollback_engine_s: float | None = None
    engine: str = Field(default="advice", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DrillStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add(self, run: DrillRun) -> DrillRun:
        async with self.sessions.begin() as s:
            s.add(run)
        return run

    async def recent(self, limit: int = 12) -> list[DrillRun]:
        """Newest first."""
        async with self.sessions() as s:
            rows = await s.execute(select(DrillRun).order_by(desc(col(DrillRun.started_at))).limit(limit))
            return list(rows.scalars())

    async def get(self, drill_id: int) -> DrillRun | None:
        async with self.sessions() as s:
            return await s.get(DrillRun, drill_id)
