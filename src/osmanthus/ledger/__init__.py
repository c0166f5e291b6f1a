"""Ledger: the append-only system of record (SQLAlchemy; SQLite or PostgreSQL)."""

from osmanthus.core import Actor, NewRecord, ResidentInfo, StoredRecord, Subject
from osmanthus.ledger.audit_log import AuditEntry, append_entry, chain_head
from osmanthus.ledger.batches import batch_rows, problem_rows, record_batch
from osmanthus.ledger.bulk import BulkResult, RecordBatch, ResidentBatch, bulk_load
from osmanthus.ledger.checkpoints import (
    checkpoint_state,
    latest_checkpoint,
    store_checkpoint,
    stored_checkpoint,
)
from osmanthus.ledger.credentials import (
    is_registered,
    password_hash_of,
    refusals_since,
    store_password_hash,
)
from osmanthus.ledger.database import (
    connect,
    database_errors,
    durable_transaction,
    is_current,
    migrate,
    read_only,
)
from osmanthus.ledger.disputes import Dispute, disputes_of, insert_dispute, open_dispute_rows
from osmanthus.ledger.ids import allocate_ids
from osmanthus.ledger.keys import insert_key, key_by_digest, revoke_key_digest
from osmanthus.ledger.ledger import Ledger
from osmanthus.ledger.population import iter_population
from osmanthus.ledger.roles import grant_service_role
from osmanthus.ledger.row_check import RowsTampered
from osmanthus.ledger.seal_columns import Col, add_rows
from osmanthus.ledger.sealed import claim_of
from osmanthus.ledger.settling import enter_write, settle
from osmanthus.ledger.staged import StagedChunk, StagedRecords
from osmanthus.ledger.verification import (
    LedgerCheck,
    ledger_identity,
    snapshot,
    verify_chain,
    verify_ledger,
)

__all__ = [
    "Actor",
    "AuditEntry",
    "BulkResult",
    "Col",
    "Dispute",
    "Ledger",
    "LedgerCheck",
    "NewRecord",
    "RecordBatch",
    "ResidentBatch",
    "ResidentInfo",
    "RowsTampered",
    "StagedChunk",
    "StagedRecords",
    "StoredRecord",
    "Subject",
    "add_rows",
    "allocate_ids",
    "append_entry",
    "batch_rows",
    "bulk_load",
    "chain_head",
    "checkpoint_state",
    "claim_of",
    "connect",
    "database_errors",
    "disputes_of",
    "durable_transaction",
    "enter_write",
    "grant_service_role",
    "insert_dispute",
    "insert_key",
    "is_current",
    "is_registered",
    "iter_population",
    "key_by_digest",
    "latest_checkpoint",
    "ledger_identity",
    "migrate",
    "open_dispute_rows",
    "password_hash_of",
    "problem_rows",
    "read_only",
    "record_batch",
    "refusals_since",
    "revoke_key_digest",
    "settle",
    "snapshot",
    "store_checkpoint",
    "store_password_hash",
    "stored_checkpoint",
    "verify_chain",
    "verify_ledger",
]
