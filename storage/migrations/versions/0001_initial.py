"""Initial schema: releases, phase runs, gate results, approvals, decisions, audit events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ACTIVE = sa.text("state NOT IN ('completed', 'rejected', 'rolled_back')")


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("channel_id", sa.String, nullable=False),
        sa.Column("root_ts", sa.String, nullable=True),
        sa.Column("requested_by", sa.String, nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("paused_from", sa.String, nullable=True),
        sa.Column("bundle_dir", sa.String, nullable=False),
        sa.Column("bundle", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("traffic_percent", sa.Float, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("name", "attempt", name="uq_releases_name_attempt"),
    )
    op.create_index("ix_releases_name", "releases", ["name"])
    op.create_index(
        "uq_releases_active_name",
        "releases",
        ["name"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "phase_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("status_message_ts", sa.String, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_phase_runs_release_id", "phase_runs", ["release_id"])
    op.create_table(
        "gate_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phase_run_id", sa.Integer, sa.ForeignKey("phase_runs.id"), nullable=False),
        sa.Column("gate", sa.String, nullable=False),
        sa.Column("image_id", sa.String, nullable=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("summary", sa.String, nullable=False),
        sa.Column("measured", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("unit", sa.String, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
    )
    op.create_index("ix_gate_results_phase_run_id", "gate_results", ["phase_run_id"])
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("phase_run_id", sa.Integer, sa.ForeignKey("phase_runs.id"), nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("channel_id", sa.String, nullable=False),
        sa.Column("message_ts", sa.String, nullable=True),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("owners", sa.JSON, nullable=False),
        sa.Column("gate_snapshot", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_approval_requests_release_id", "approval_requests", ["release_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "approval_request_id", sa.Integer, sa.ForeignKey("approval_requests.id"), nullable=False, unique=True
        ),
        sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("decision", sa.String, nullable=False),
        sa.Column("by", sa.String, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("comment", sa.String, nullable=True),
        sa.Column("gate_snapshot", sa.JSON, nullable=False),
    )
    op.create_index("ix_decisions_release_id", "decisions", ["release_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("release_id", sa.Integer, nullable=True),
        sa.Column("release_name", sa.String, nullable=True),
        sa.Column("phase", sa.String, nullable=True),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String, nullable=False),
        sa.Column("hash", sa.String, nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_release_id", "audit_events", ["release_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    # The audit table refuses UPDATE and DELETE at the database level, so no code path
    # (ours or an admin's ad-hoc SQL) can quietly rewrite history.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    for t in ("audit_events", "decisions", "approval_requests", "gate_results", "phase_runs", "releases"):
        op.drop_table(t)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
