"""Releases and decisions record the bundle digest they cover; uploads are serialised per name.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as b:
        b.add_column(sa.Column("bundle_digest", sa.String(64), nullable=True))
        b.add_column(sa.Column("bundle_manifest", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("decisions") as b:
        b.add_column(sa.Column("bundle_digest", sa.String(64), nullable=True))
    op.create_table(
        "bundle_uploads",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bundle_uploads")
    with op.batch_alter_table("decisions") as b:
        b.drop_column("bundle_digest")
    with op.batch_alter_table("releases") as b:
        b.drop_column("bundle_manifest")
        b.drop_column("bundle_digest")
