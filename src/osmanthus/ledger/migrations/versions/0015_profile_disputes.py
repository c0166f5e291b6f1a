"""Profile corrections: a dispute may be of a profile fact a rule uses (a licence date,
the date residence began) instead of a record: ``disputes.profile_fact_id``, and
``record_id`` may be empty. Every dispute row is claimed again as it now is (a sealed
column was added), one ``ledger.seal`` entry each.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:  # on SQLite a rebuild of disputes: see ledger.database.migrate
    with op.batch_alter_table("disputes") as batch:
        batch.alter_column("record_id", existing_type=Key, nullable=True)
        batch.add_column(sa.Column("profile_fact_id", Key))
        batch.create_foreign_key(
            "fk_disputes_profile_fact_id_profile_facts",
            "profile_facts",
            ["profile_fact_id"],
            ["id"],
        )
    from osmanthus.ledger.sealed import claim_current_rows

    claim_current_rows(op.get_bind(), "disputes", "sealed column added to disputes (0015)")


def downgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_constraint("fk_disputes_profile_fact_id_profile_facts", type_="foreignkey")
        batch.drop_column("profile_fact_id")
        batch.alter_column("record_id", existing_type=Key, nullable=False)
