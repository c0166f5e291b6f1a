"""Intake batches and their row-level reports; an index for incidents reported twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", Key, nullable=False),
        sa.Column("department_id", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(256), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("partial", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("refused", sa.BigInteger, nullable=False),
        sa.Column("flagged", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name="fk_batches_department_id_departments"
        ),
        sa.UniqueConstraint(
            "department_id",
            "batch_id",
            "file_sha256",
            name="uq_batches_department_id_batch_id_file_sha256",
        ),
    )
    op.create_table(
        "batch_problems",
        sa.Column("id", Key, nullable=False),
        sa.Column("batch", Key, nullable=False),
        sa.Column("row", sa.BigInteger, nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch_problems"),
        sa.ForeignKeyConstraint(["batch"], ["batches.id"], name="fk_batch_problems_batch_batches"),
    )
    op.create_index("ix_batch_problems_batch", "batch_problems", ["batch"])
    op.create_index(
        "ix_records_incident_ref",
        "records",
        ["incident_ref"],
        sqlite_where=sa.text("incident_ref IS NOT NULL"),
        postgresql_where=sa.text("incident_ref IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_records_incident_ref", table_name="records")
    op.drop_index("ix_batch_problems_batch", table_name="batch_problems")
    op.drop_table("batch_problems")
    op.drop_table("batches")
