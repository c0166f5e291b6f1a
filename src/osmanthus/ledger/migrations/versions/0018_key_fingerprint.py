"""The pseudonym key's fingerprint is found in one look-up: a partial index on the audit
entries of action ``ledger.pseudonym_key`` (osmanthus.ledger.key_fingerprint), which
``osmanthus init`` writes and every command checks.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_WHERE = sa.text("action = 'ledger.pseudonym_key'")


def upgrade() -> None:
    op.create_index(
        "ix_audit_log_pseudonym_key",
        "audit_log",
        ["seq"],
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_pseudonym_key", "audit_log")
