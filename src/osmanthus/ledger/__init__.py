"""Ledger: the append-only system of record (SQLAlchemy; SQLite or PostgreSQL)."""

from osmanthus.ledger.audit_log import AuditEntry, append_entry, chain_head, verify_chain
from osmanthus.ledger.bulk import BulkResult, RecordBatch, ResidentBatch, bulk_load
from osmanthus.ledger.database import (
    connect,
    database_errors,
    durable_transaction,
    is_current,
    migrate,
    read_only,
)
from osmanthus.ledger.ledger import Ledger
from osmanthus.ledger.population import iter_population
from osmanthus.ledger.record import Actor, NewRecord, ResidentInfo, StoredRecord, Subject

__all__ = [
    "Actor",
    "AuditEntry",
    "BulkResult",
    "Ledger",
    "NewRecord",
    "RecordBatch",
    "ResidentBatch",
    "ResidentInfo",
    "StoredRecord",
    "Subject",
    "append_entry",
    "bulk_load",
    "chain_head",
    "connect",
    "database_errors",
    "durable_transaction",
    "is_current",
    "iter_population",
    "migrate",
    "read_only",
    "verify_chain",
]
