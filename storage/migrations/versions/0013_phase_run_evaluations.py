"""Phase runs keep their latest evaluation and their brand results (no longer process memory).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phase_runs") as b:
        b.add_column(sa.Column("latest_results", sa.JSON(), nullable=False, server_default="[]"))
        b.add_column(sa.Column("brand_results", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("phase_runs") as b:
        b.drop_column("brand_results")
        b.drop_column("latest_results")
