"""Audit entries found by subject through a table filled after they are written, in bulk,
instead of an index on ``audit_log.subject`` that every append had to write
(osmanthus.ledger.audit_subjects). The entries already stored are indexed here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.audit_subjects import subject_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BATCH = 50_000


def upgrade() -> None:
    op.create_table(
        "audit_subjects",
        sa.Column("subject_key", sa.BigInteger, nullable=False),
        sa.Column("seq", Key, nullable=False),
        sa.PrimaryKeyConstraint("subject_key", "seq", name="pk_audit_subjects"),
        sqlite_with_rowid=False,
    )
    indexed = op.create_table(
        "audit_indexed",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("upto", Key, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_indexed"),
    )
    subjects = sa.table("audit_subjects", sa.column("subject_key"), sa.column("seq"))
    log = sa.table("audit_log", sa.column("seq"), sa.column("subject"))
    conn = op.get_bind()
    upto = 0
    while rows := conn.execute(
        sa.select(log.c.seq, log.c.subject)
        .where(log.c.seq > upto)
        .order_by(log.c.seq)
        .limit(_BATCH)
    ).all():
        keys = sorted((subject_key(s), q) for q, s in rows if s is not None)
        if keys:
            conn.execute(sa.insert(subjects), [{"subject_key": k, "seq": q} for k, q in keys])
        upto = rows[-1].seq
    op.bulk_insert(indexed, [{"id": 1, "upto": upto}])
    op.drop_index("ix_audit_log_subject", table_name="audit_log")


def downgrade() -> None:
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    op.drop_table("audit_indexed")
    op.drop_table("audit_subjects")
