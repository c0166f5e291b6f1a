"""Policy governance: proposals of policy bundles and the decisions on them, append-only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("policy_proposals", "policy_decisions")


def upgrade() -> None:
    op.create_table(
        "policy_proposals",
        sa.Column("id", Key, nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("base_hash", sa.String(64)),
        sa.Column("bundle", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", UtcDateTime, nullable=False),
        sa.Column("validation", sa.Text, nullable=False),
        sa.Column("impact", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_policy_proposals"),
    )
    op.create_index("ix_policy_proposals_policy", "policy_proposals", ["policy"])
    op.create_table(
        "policy_decisions",
        sa.Column("id", Key, nullable=False),
        sa.Column("proposal_id", Key, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_policy_decisions"),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["policy_proposals.id"],
            name="fk_policy_decisions_proposal_id_policy_proposals",
        ),
    )
    op.create_index("ix_policy_decisions_proposal_id", "policy_decisions", ["proposal_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:  # refuse_change() is migration 0008's
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
            )
    else:
        for table in TABLES:
            for change in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{change.lower()} BEFORE {change} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'osmanthus: {table} is append-only: "
                    f"{change} refused'); END"
                )


def downgrade() -> None:
    op.drop_table("policy_decisions")
    op.drop_table("policy_proposals")
