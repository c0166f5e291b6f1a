"""The ledger's rows under the audit chain: append-only tables guarded by the database,
stored audit checkpoints, and the rows already written sealed by one audited entry.

- SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers abort on each append-only table.
- PostgreSQL: a statement trigger refuses UPDATE, DELETE and TRUNCATE on each; the
  service's role gets INSERT and SELECT only (``osmanthus init`` grants them,
  :mod:`osmanthus.ledger.roles`).
- A ledger that already holds rows gets one ``ledger.seal`` entry claiming every row of
  every sealed table as it is now (:mod:`osmanthus.ledger.sealed`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import append_only_triggers

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: The append-only tables as of this revision.
APPEND_ONLY = (
    "departments",
    "residents",
    "records",
    "profile_facts",
    "batches",
    "batch_problems",
    "audit_log",
    "audit_checkpoints",
)

#: The sealed tables as of this revision (later revisions add their own; ``disputes``
#: gained sealed columns in 0012, which claims its rows then, and ``api_keys`` in 0016,
#: which claims its rows then: a migration reads them with today's sealed columns).
SEALED_HERE = (
    "departments",
    "residents",
    "records",
    "profile_facts",
    "batches",
    "batch_problems",
    "resident_credentials",
)

_PG_FUNCTION = """
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'osmanthus: % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", Key, nullable=False, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
    for statement in append_only_triggers(bind.dialect.name, APPEND_ONLY):
        op.execute(statement)
    from osmanthus.ledger.sealed import seal_existing

    seal_existing(bind, SEALED_HERE)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_change()")
    else:
        for table in APPEND_ONLY:
            for change in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{change}")
    op.drop_table("audit_checkpoints")
