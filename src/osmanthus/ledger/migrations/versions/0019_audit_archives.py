"""Archiving closed months of the audit chain: ``audit_archives`` (append-only) records
each month exported to a file and detached from ``audit_log``, with a signed checkpoint
of its last entry (:mod:`osmanthus.ledger.archive`). DELETE on ``audit_log`` is allowed
for an entry an archive covers, and for no other (:mod:`osmanthus.ledger.guards`); on
PostgreSQL the service's role is granted DELETE on ``audit_log`` for that path only, and
the guards' functions run with the ledger's schema pinned on their search path.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import (
    append_only_triggers,
    archive_delete_triggers,
    drop_archive_delete_triggers,
)

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_archives",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("first_seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(128), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("month", name="pk_audit_archives"),
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    schema = (
        bind.execute(sa.text("SELECT current_schema()")).scalar()
        if dialect == "postgresql"
        else None
    )
    for statement in append_only_triggers(dialect, ["audit_archives"]):
        op.execute(statement)
    for statement in archive_delete_triggers(dialect, schema):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in drop_archive_delete_triggers(dialect):
        op.execute(statement)
    op.drop_table("audit_archives")
