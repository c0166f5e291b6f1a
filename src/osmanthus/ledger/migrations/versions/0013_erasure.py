"""Retention and erasure: redactable audit entries, and the one narrow path by which
the database lets personal columns of append-only rows be erased.

- ``audit_log`` gains the columns of format 2 (``salt``, ``sealed``) and of a redacted
  entry (``subject_digest``, ``detail_digest``): see :mod:`osmanthus.audit.chain`.
- The triggers that refuse UPDATE on the append-only tables are replaced by ones that
  allow exactly one kind of change, erasure (:mod:`osmanthus.ledger.guards`): a
  resident's row made a tombstone, a record's source reference, incident and reason
  erased (or the record moved to the tombstone that holds records past retention), a
  dispute step's reason, a notice's payload, an audit entry about a resident redacted.
  DELETE stays refused. On PostgreSQL the service's role is granted UPDATE on those
  columns only (:mod:`osmanthus.ledger.roles`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import (
    ERASABLE,
    append_only_triggers,
    drop_append_only_triggers,
    erasure_triggers,
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("salt", sa.String(32)))
        batch.add_column(sa.Column("sealed", sa.Text))
        batch.add_column(sa.Column("subject_digest", sa.String(71)))
        batch.add_column(sa.Column("detail_digest", sa.String(71)))
    dialect = op.get_bind().dialect.name
    for statement in drop_append_only_triggers(dialect, ERASABLE):
        op.execute(statement)
    for statement in erasure_triggers(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in drop_append_only_triggers(dialect, ERASABLE, erasure=True):
        op.execute(statement)
    for statement in append_only_triggers(dialect, ERASABLE):
        op.execute(statement)
    with op.batch_alter_table("audit_log") as batch:
        for name in ("detail_digest", "subject_digest", "sealed", "salt"):
            batch.drop_column(name)
