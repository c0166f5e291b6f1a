"""Remedies: a dispute row is a dispute of a record or an application for its early
repair (``kind``, with the application's ``evidence_ref``); a granted repair is a record
row of kind ``repair`` (no new column: ``records.kind`` is free text).

Sealed columns were added: migration 0015, which adds another, claims every dispute row
again as it then is (the code's sealed columns are those of the newest revision).

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


def downgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_column("evidence_ref")
        batch.drop_column("kind")
