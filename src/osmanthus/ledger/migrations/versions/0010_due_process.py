"""Due process: every step of a dispute (append-only), suspensions of records whose
dispute was not answered in time (append-only).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import append_only_triggers
from osmanthus.ledger.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("dispute_events", "suspensions")


def upgrade() -> None:
    op.create_table(
        "dispute_events",
        sa.Column("id", Key, nullable=False),
        sa.Column("dispute_id", Key, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("due", sa.Date),
        sa.Column("record_id", Key),
        sa.PrimaryKeyConstraint("id", name="pk_dispute_events"),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name="fk_dispute_events_dispute_id_disputes"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name="fk_dispute_events_record_id_records"
        ),
    )
    op.create_index("ix_dispute_events_dispute_id", "dispute_events", ["dispute_id"])
    op.create_table(
        "suspensions",
        sa.Column("id", Key, nullable=False),
        sa.Column("record_id", Key, nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("dispute_id", Key, nullable=False),
        sa.Column("starts", sa.Date, nullable=False),
        sa.Column("lifted", sa.Boolean, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suspensions"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name="fk_suspensions_record_id_records"
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_suspensions_resident_id_residents"
        ),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name="fk_suspensions_dispute_id_disputes"
        ),
    )
    op.create_index("ix_suspensions_resident_id", "suspensions", ["resident_id"])
    for statement in append_only_triggers(op.get_bind().dialect.name, TABLES):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("suspensions")
    op.drop_table("dispute_events")
