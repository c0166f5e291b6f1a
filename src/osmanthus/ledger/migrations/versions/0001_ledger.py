"""The first ledger: residents, departments, append-only records, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "residents",
        sa.Column("id", Key, primary_key=True),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("birth_year", sa.SmallInteger, nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_residents"),
        sa.UniqueConstraint("pseudonym", name="uq_residents_pseudonym"),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_zh", sa.String(200)),
        sa.Column("registered_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_departments"),
        sa.UniqueConstraint("code", name="uq_departments_code"),
    )
    op.create_table(
        "records",
        sa.Column("id", Key, nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("department_id", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("act_date", sa.Date, nullable=False),
        sa.Column("decision_date", sa.Date, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("incident_ref", sa.String(128)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("supersedes_id", Key),
        sa.Column("reason", sa.Text),
        sa.Column("batch_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_records_resident_id_residents"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name="fk_records_department_id_departments"
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["records.id"], name="fk_records_supersedes_id_records"
        ),
        sa.UniqueConstraint(
            "department_id", "source_ref", name="uq_records_department_id_source_ref"
        ),
    )
    op.create_index("ix_records_resident_id", "records", ["resident_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", Key, autoincrement=False, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(64)),
        sa.Column("purpose", sa.String(256), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_records_resident_id", table_name="records")
    op.drop_table("records")
    op.drop_table("departments")
    op.drop_table("residents")
