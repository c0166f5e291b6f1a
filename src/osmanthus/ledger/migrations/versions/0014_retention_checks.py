"""Retention checks: for each resident the retention pass scored, the first day a record
of theirs may be past retention (derived; the pass scores a resident again only when
that day comes, their rows changed, or the policy did).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retention_checks",
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("next_due", sa.Date),
        sa.Column("checked_at", UtcDateTime, nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("resident_id", name="pk_retention_checks"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_retention_checks_resident_id_residents"
        ),
    )


def downgrade() -> None:
    op.drop_table("retention_checks")
