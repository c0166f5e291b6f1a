"""The resident portal: passwords (scrypt hashes only), disputes with their deadlines,
and an index on the audit subject (who read my data).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "resident_credentials",
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("resident_id", name="pk_resident_credentials"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_resident_credentials_resident_id_residents"
        ),
    )
    op.create_table(
        "disputes",
        sa.Column("id", Key, nullable=False),
        sa.Column("record_id", Key, nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("department_id", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filed_at", UtcDateTime, nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_disputes"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name="fk_disputes_record_id_records"
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_disputes_resident_id_residents"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name="fk_disputes_department_id_departments"
        ),
    )
    op.create_index("ix_disputes_resident_id", "disputes", ["resident_id"])
    op.create_index("ix_disputes_status_deadline", "disputes", ["status", "deadline"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_index("ix_disputes_status_deadline", table_name="disputes")
    op.drop_index("ix_disputes_resident_id", table_name="disputes")
    op.drop_table("disputes")
    op.drop_table("resident_credentials")
