"""SQLModel tables. Changing one means a new Alembic revision in storage/migrations/versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from gates.phases import TERMINAL_VALUES, DecisionKind, Phase, RequestState, State
from storage.types import EnumText, OutboxState, TimerState, UTCDateTime

# The partial index lives in SQL, so the terminal set (gates.phases) is spelled out as SQL here.
_ACTIVE = text("state NOT IN (" + ", ".join(f"'{s}'" for s in TERMINAL_VALUES) + ")")


class Release(SQLModel, table=True):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("name", "attempt", name="uq_releases_name_attempt"),
        # At most one live release per name: two `/release start` racing each other create one.
        Index("uq_releases_active_name", "name", unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=63)
    attempt: int = 1
    title: str
    channel_id: str
    root_ts: str | None = None
    requested_by: str
    phase: Phase = Field(sa_column=Column(EnumText(Phase), nullable=False))
    state: State = Field(sa_column=Column(EnumText(State), nullable=False))
    paused_from: State | None = Field(default=None, sa_column=Column(EnumText(State), nullable=True))
    bundle_dir: str
    bundle: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    policy: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    traffic_percent: float = 0.0
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # SHA-256 over the canonical manifest of release.yml and every referenced file, taken at start;
    # every later phase checks the bytes on disk against it. None for releases started before 0012.
    bundle_digest: str | None = Field(default=None, max_length=64)
    # [{"path", "size", "sha256"}], so a mismatch can say which files changed.
    bundle_manifest: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class PhaseRun(SQLModel, table=True):
    __tablename__ = "phase_runs"

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    phase: Phase = Field(sa_column=Column(EnumText(Phase), nullable=False))
    # running → passed | failed → approved | rejected | rolled_back | superseded
    outcome: str = "running"
    status_message_ts: str | None = None
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The latest evaluation of a phase still observing (Canary/Global), so whichever replica fires its
    # SLA timer can say which gates are still open; final results go to gate_results as before.
    latest_results: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Brand checks decode images once per Global run; kept here so a restart or another replica reuses them.
    brand_results: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class GateResultRow(SQLModel, table=True):
    __tablename__ = "gate_results"

    id: int | None = Field(default=None, primary_key=True)
    phase_run_id: int = Field(foreign_key="phase_runs.id", index=True)
    gate: str
    image_id: str | None = None
    status: str
    summary: str
    measured: float | None = None
    threshold: float | None = None
    unit: str = ""
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    findings: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


class ApprovalRequest(SQLModel, table=True):
    __tablename__ = "approval_requests"

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    phase_run_id: int = Field(foreign_key="phase_runs.id")
    phase: Phase = Field(sa_column=Column(EnumText(Phase), nullable=False))
    channel_id: str
    message_ts: str | None = None
    # awaiting → decided | superseded. Deciding is a compare-and-set on AWAITING.
    state: RequestState = Field(default=RequestState.AWAITING, sa_column=Column(EnumText(RequestState), nullable=False))
    owners: list[str] = Field(sa_column=Column(JSON, nullable=False))
    gate_snapshot: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # 0 asked the primary owners; 1 the backups were DMed; 2 the rollout was paused for want of a decision.
    escalation_level: int = 0
    # Copies of the request sent by DM ({"channel", "ts", "user"}), rewritten with the thread after a decision.
    dm_messages: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    approval_request_id: int = Field(foreign_key="approval_requests.id", unique=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    phase: Phase = Field(sa_column=Column(EnumText(Phase), nullable=False))
    decision: DecisionKind = Field(sa_column=Column(EnumText(DecisionKind), nullable=False))
    by: str
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    comment: str | None = None
    gate_snapshot: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    # The bundle digest the approver's decision covers (checked against the disk just before).
    bundle_digest: str | None = Field(default=None, max_length=64)


class AuditEvent(SQLModel, table=True):
    """Append-only. ``hash`` chains every entry to the one before it."""

    __tablename__ = "audit_events"

    seq: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str
    action: str = Field(index=True)
    release_id: int | None = Field(default=None, index=True)
    release_name: str | None = None
    phase: str | None = None
    outcome: str
    detail: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str
    hash: str = Field(unique=True)


class Timer(SQLModel, table=True):
    """A durable timer: a row, not process memory, so it survives restarts and is shared by replicas.

    pending → claimed → done; pending | claimed → cancelled; claimed → pending (retry or stale
    claim) → … → failed after too many attempts. Firing is at-least-once: handlers must be idempotent.
    """

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_state_due_at", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    target_id: int = Field(index=True)
    # Optional de-duplication key: scheduling the same key twice keeps the first timer.
    key: str | None = Field(default=None, unique=True, max_length=200)
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state: TimerState = Field(default=TimerState.PENDING, sa_column=Column(EnumText(TimerState), nullable=False))
    claimed_by: str | None = None
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    attempts: int = 0
    last_error: str | None = None
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class OutboxMessage(SQLModel, table=True):
    """A Slack call the bot owes, written in the same transaction as the state change that owes it.

    pending → sent | failed. A pending row is leased by pushing ``next_attempt_at`` forward when a
    sender claims it, so a sender that dies mid-send lets another pick the row up after the lease.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    method: str = Field(max_length=64)
    args: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Rows sharing an ordering key go out strictly in id order (by default: one channel).
    ordering_key: str | None = Field(default=None, index=True, max_length=200)
    state: OutboxState = Field(default=OutboxState.PENDING, sa_column=Column(EnumText(OutboxState), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    claimed_by: str | None = None
    result_ts: str | None = None
    result_channel: str | None = None
    error: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    release_id: int | None = Field(default=None, index=True)


# Only web-vitals rows carry an id; counters are increments and must never collapse into one row.
_HAS_SAMPLE_ID = text("sample_id IS NOT NULL")


class MetricSampleRow(SQLModel, table=True):
    """One ingested real-user (or lab) measurement: a web-vitals value or a counter increment.

    Re-reports of the same web-vitals id upsert onto one row (the library re-sends an id as the
    value grows), which the partial unique index makes a single ``ON CONFLICT`` on both backends.
    """

    __tablename__ = "metric_samples"
    __table_args__ = (
        Index(
            "uq_metric_samples_vital",
            "release",
            "name",
            "cohort",
            "sample_id",
            unique=True,
            sqlite_where=_HAS_SAMPLE_ID,
            postgresql_where=_HAS_SAMPLE_ID,
        ),
        # Every read is "this release, this metric, arm and source, over this window". Carrying value
        # makes it covering, so SQLite loads a million-sample window from the index alone (~4x faster
        # than (release, received_at) plus a table lookup per row, measured in bench/ingest.py).
        Index("ix_metric_samples_window", "release", "kind", "name", "cohort", "source", "received_at", "value"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    release: str = Field(max_length=63)
    cohort: str = Field(max_length=16)
    region: str = Field(max_length=256)
    page: str | None = Field(default=None, max_length=256)
    kind: str = Field(max_length=8)  # vital | counter
    name: str = Field(max_length=16)
    value: float
    sample_id: str | None = Field(default=None, max_length=256)
    rating: str | None = Field(default=None, max_length=32)
    delta: float | None = None
    navigation_type: str | None = Field(default=None, max_length=32)
    source: str = Field(default="rum", max_length=16)  # rum | lab
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class FindingAcceptance(SQLModel, table=True):
    """An owner accepting one finding of a release, with the reason (critical ones need two people)."""

    __tablename__ = "finding_acceptances"
    __table_args__ = (UniqueConstraint("release_id", "finding_key", "by", name="uq_finding_acceptance"),)

    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="releases.id", index=True)
    finding_key: str = Field(max_length=64)
    severity: str
    by: str
    reason: str
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class SeenEvent(SQLModel, table=True):
    """Slack Events API deliveries already handled, so that Slack's retries are not handled twice."""

    __tablename__ = "slack_events_seen"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class InspectorSession(SQLModel, table=True):
    """A signed-in inspector session, kept server-side so that signing out ends it everywhere at once.

    Only the SHA-256 of the session id is stored: a database reader cannot take over a session."""

    __tablename__ = "inspector_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class UsedLoginLink(SQLModel, table=True):
    """Inspector sign-in links already used: each works once, on any replica."""

    __tablename__ = "inspector_links_used"

    digest: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=64)
    used_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class BundleUpload(SQLModel, table=True):
    """One row per release name: serialises CI uploads against ``/release start`` on that name.

    An upload marks the row ``writing`` (refused while a release of the name can still move), renames
    its files into place, then marks it ``ready`` with ``version`` + 1. A start remembers the version it
    hashed and creates its release only if the row still says ``ready`` at that version, so exactly
    one of the two wins and a release never covers files swapped underneath it.
    """

    __tablename__ = "bundle_uploads"

    name: str = Field(primary_key=True, max_length=63)
    state: str = Field(default="ready", max_length=16)  # writing | ready
    version: int = 0
    digest: str | None = Field(default=None, max_length=64)
    by: str = Field(default="", max_length=200)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
