"""Browser sessions recorded server-side: ``web_sessions`` (the SHA-256 of each session's
token, whose it is, when it opened and ended), so that signing out ends a session for
good and a copy of its cookie is refused. An erasure deletes a resident's sessions.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("ended_at", UtcDateTime),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
