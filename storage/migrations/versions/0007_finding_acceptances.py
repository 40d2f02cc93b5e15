"""Findings accepted with a reason.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_acceptances",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False),
        sa.Column("finding_key", sa.String(64), nullable=False),
        sa.Column("severity", sa.String, nullable=False),
        sa.Column("by", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("release_id", "finding_key", "by", name="uq_finding_acceptance"),
    )
    op.create_index("ix_finding_acceptances_release_id", "finding_acceptances", ["release_id"])


def downgrade() -> None:
    op.drop_table("finding_acceptances")
