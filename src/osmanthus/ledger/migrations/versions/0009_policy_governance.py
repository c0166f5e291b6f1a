"""Policy governance: proposals of policy bundles and the decisions on them, append-only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import append_only_triggers
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
    for statement in append_only_triggers(op.get_bind().dialect.name, TABLES):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("policy_decisions")
    op.drop_table("policy_proposals")
