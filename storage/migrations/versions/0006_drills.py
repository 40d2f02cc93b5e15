"""Game-day drill results.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

# Registers the table on SQLModel.metadata while migrating, so that comparing the migrated
# schema with the models (tests/test_storage.py) sees it even when nothing else imported it.
import storage.drills  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_name", sa.String(63), nullable=False),
        sa.Column("release_id", sa.Integer, nullable=True),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("started_by", sa.String(32), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("approver", sa.String(32), nullable=True),
        sa.Column("approver_response_s", sa.Float, nullable=True),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("slack_calls", sa.Integer, nullable=False),
        sa.Column("slack_failures", sa.Integer, nullable=False),
        sa.Column("slack_p50_s", sa.Float, nullable=True),
        sa.Column("slack_p95_s", sa.Float, nullable=True),
        sa.Column("slack_max_s", sa.Float, nullable=True),
        sa.Column("rollback_detect_s", sa.Float, nullable=True),
        sa.Column("rollback_engine_s", sa.Float, nullable=True),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_drills_release_name", "drills", ["release_name"])
    op.create_index("ix_drills_started_at", "drills", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_drills_started_at", table_name="drills")
    op.drop_index("ix_drills_release_name", table_name="drills")
    op.drop_table("drills")
