"""Severity classes on records, and profile facts that rules need (cycle anchors, residence).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("severity", sa.String(32)))
    op.create_table(
        "profile_facts",
        sa.Column("id", Key, nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.Column("value", sa.Date, nullable=False),
        sa.Column("department_id", sa.Integer, nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profile_facts"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_profile_facts_resident_id_residents"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name="fk_profile_facts_department_id_departments",
        ),
        sa.UniqueConstraint(
            "department_id", "source_ref", name="uq_profile_facts_department_id_source_ref"
        ),
    )
    op.create_index("ix_profile_facts_resident_id", "profile_facts", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_profile_facts_resident_id", table_name="profile_facts")
    op.drop_table("profile_facts")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("severity")
