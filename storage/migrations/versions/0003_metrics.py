"""Real-user and lab metric samples for the Canary and Global gates.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
HAS_SAMPLE_ID = sa.text("sample_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        # BIGINT on Postgres: a busy release can outgrow 2^31 rows; SQLite needs INTEGER for rowid aliasing.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("release", sa.String(63), nullable=False),
        sa.Column("cohort", sa.String(16), nullable=False),
        sa.Column("region", sa.String(256), nullable=False),
        sa.Column("page", sa.String(256), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("sample_id", sa.String(256), nullable=True),
        sa.Column("rating", sa.String(32), nullable=True),
        sa.Column("delta", sa.Float, nullable=True),
        sa.Column("navigation_type", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    # Partial, so counters (no sample_id) never conflict while vitals upsert by id.
    op.create_index(
        "uq_metric_samples_vital",
        "metric_samples",
        ["release", "name", "cohort", "sample_id"],
        unique=True,
        sqlite_where=HAS_SAMPLE_ID,
        postgresql_where=HAS_SAMPLE_ID,
    )
    # Covering for the window reads (see storage.models.MetricSampleRow).
    op.create_index(
        "ix_metric_samples_window", "metric_samples", ["release", "kind", "name", "cohort", "received_at", "value"]
    )


def downgrade() -> None:
    op.drop_table("metric_samples")
