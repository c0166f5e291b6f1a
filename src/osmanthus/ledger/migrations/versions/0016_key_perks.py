"""Provider keys are bound to the perks they provide: ``api_keys.perks`` (the perk codes,
comma-separated; empty for other roles). A provider key issued before has none and is
refused every check until the operator issues a bound one. Every key row is claimed
again as it now is (a sealed column was added), one ``ledger.seal`` entry.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("perks", sa.String(1024)))
    from osmanthus.ledger.sealed import claim_current_rows

    claim_current_rows(op.get_bind(), "api_keys", "sealed column added to api_keys (0016)")


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("perks")
