"""Remedies: a dispute row is a dispute of a record or an application for its early
repair (``kind``, with the application's ``evidence_ref``); a granted repair is a record
row of kind ``repair`` (no new column: ``records.kind`` is free text).

Every dispute row is claimed again as it now is (sealed columns were added), one
``ledger.seal`` entry each.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="record"))
        batch.add_column(sa.Column("evidence_ref", sa.String(200)))
    from osmanthus.ledger.sealed import claim_current_rows

    claim_current_rows(op.get_bind(), "disputes", "sealed columns added to disputes (0012)")


def downgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_column("evidence_ref")
        batch.drop_column("kind")
