"""Notices and re-decisions: residents' contact addresses (current-state), notices
(append-only), the e-mail outbox and the relay's cursor (operational); providers'
rechecks (derived), issued eligibility proofs and their revocations (append-only).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from osmanthus.ledger.guards import append_only_triggers
from osmanthus.ledger.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("notices", "issued_proofs", "proof_revocations")


def upgrade() -> None:
    op.create_table(
        "resident_contacts",
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("resident_id", name="pk_resident_contacts"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_resident_contacts_resident_id_residents"
        ),
    )
    op.create_table(
        "notices",
        sa.Column("id", Key, nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("not_before", sa.Date),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.UniqueConstraint("key", name="uq_notices_key"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_notices_resident_id_residents"
        ),
    )
    op.create_index("ix_notices_resident_id", "notices", ["resident_id"])
    op.create_table(
        "notice_deliveries",
        sa.Column("notice_id", Key, nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("last_error", sa.String(256)),
        sa.PrimaryKeyConstraint("notice_id", name="pk_notice_deliveries"),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name="fk_notice_deliveries_notice_id_notices"
        ),
    )
    op.create_index(
        "ix_notice_deliveries_status_next_attempt_at",
        "notice_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "notice_cursors",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("upto", Key, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_notice_cursors"),
    )
    # a ledger that already holds records: they are history, not news (the relay starts
    # after them); a new ledger starts at 0
    op.execute(
        "INSERT INTO notice_cursors (name, upto) "
        "SELECT 'records', COALESCE(MAX(id), 0) FROM records"
    )
    op.create_table(
        "rechecks",
        sa.Column("id", Key, nullable=False),
        sa.Column("provider", sa.String(128), nullable=False),
        sa.Column("check_seq", Key, nullable=False),
        sa.Column("perk", sa.String(64)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rechecks"),
    )
    op.create_index("ix_rechecks_provider_id", "rechecks", ["provider", "id"])
    op.create_table(
        "issued_proofs",
        sa.Column("id", Key, nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("resident_id", Key, nullable=False),
        sa.Column("perk", sa.String(64), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_issued_proofs"),
        sa.UniqueConstraint("salt", name="uq_issued_proofs_salt"),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name="fk_issued_proofs_resident_id_residents"
        ),
    )
    op.create_index("ix_issued_proofs_resident_id", "issued_proofs", ["resident_id"])
    op.create_table(
        "proof_revocations",
        sa.Column("id", Key, nullable=False),
        sa.Column("proof_id", Key, nullable=False),
        sa.Column("revoked_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_proof_revocations"),
        sa.UniqueConstraint("proof_id", name="uq_proof_revocations_proof_id"),
        sa.ForeignKeyConstraint(
            ["proof_id"],
            ["issued_proofs.id"],
            name="fk_proof_revocations_proof_id_issued_proofs",
        ),
    )
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("proof_revocations")
    op.drop_table("issued_proofs")
    op.drop_table("rechecks")
    op.drop_table("notice_cursors")
    op.drop_table("notice_deliveries")
    op.drop_table("notices")
    op.drop_table("resident_contacts")
