"""Sign-in attempts per client address shared by every web worker: ``signin_attempts``
(a keyed hash of the address and the time of each attempt in the last 15 minutes;
operational state, :mod:`osmanthus.ledger.signin_attempts`).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signin_attempts",
        sa.Column("id", Key, nullable=False),
        sa.Column("address_key", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(53), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signin_attempts"),
    )
    op.create_index("ix_signin_attempts_address_key", "signin_attempts", ["address_key", "at"])
    op.create_index("ix_signin_attempts_at", "signin_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("signin_attempts")
