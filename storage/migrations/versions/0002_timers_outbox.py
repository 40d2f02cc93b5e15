"""Durable timers and the Slack outbox.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("target_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=True, unique=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("claimed_by", sa.String, nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String, nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
    )
    # Claiming scans pending rows by due time; cancelling looks rows up by target.
    op.create_index("ix_timers_state_due_at", "timers", ["state", "due_at"])
    op.create_index("ix_timers_target_id", "timers", ["target_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("ordering_key", sa.String(200), nullable=True),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String, nullable=True),
        sa.Column("result_ts", sa.String, nullable=True),
        sa.Column("result_channel", sa.String, nullable=True),
        sa.Column("error", sa.String, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("release_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_ordering_key", "outbox", ["ordering_key"])
    op.create_index("ix_outbox_release_id", "outbox", ["release_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("timers")
