"""The window index also keys on source, so real-user and lab samples are read apart.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD = ["release", "kind", "name", "cohort", "received_at", "value"]
_NEW = ["release", "kind", "name", "cohort", "source", "received_at", "value"]


def upgrade() -> None:
    op.drop_index("ix_metric_samples_window", table_name="metric_samples")
    op.create_index("ix_metric_samples_window", "metric_samples", _NEW)


def downgrade() -> None:
    op.drop_index("ix_metric_samples_window", table_name="metric_samples")
    op.create_index("ix_metric_samples_window", "metric_samples", _OLD)
