"""Audit inspector: signed checkpoints and the content-addressed artifacts shown to approvers.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

# Registers these tables on SQLModel.metadata while migrating, so that comparing the migrated
# schema with the models (tests/test_storage.py) sees them even when nothing else imported them.
import storage.checkpoints
import storage.evidence  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", TS, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.UniqueConstraint("seq", "key_id", name="uq_audit_checkpoints_seq_key"),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"])
    op.create_table(
        "audit_artifacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.Integer, nullable=False),
        sa.Column("phase_run_id", sa.Integer, nullable=False),
        sa.Column("filename", sa.String, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_audit_artifacts_release_id", "audit_artifacts", ["release_id"])
    op.create_index("ix_audit_artifacts_phase_run_id", "audit_artifacts", ["phase_run_id"])
    # Checkpoints are history too: refuse rewriting them, as for audit_events.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_checkpoints_no_{verb.lower()} BEFORE {verb} ON audit_checkpoints "
                "BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_checkpoints is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()"
        )


def downgrade() -> None:
    for t in ("audit_artifacts", "audit_checkpoints"):
        op.drop_table(t)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS audit_checkpoints_append_only()")
