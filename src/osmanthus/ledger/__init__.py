"""Ledger: the append-only system of record (SQLAlchemy; SQLite or PostgreSQL).

Names load on first use (PEP 562), so that a command importing one helper does not pay
for the bulk path's pyarrow and NumPy or for Alembic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from osmanthus.lazy import lazy_names

if TYPE_CHECKING:
    from osmanthus.core import (
        Actor,
        NewRecord,
        ResidentInfo,
        StoredRecord,
        Subject,
    )
    from osmanthus.ledger.audit_log import (
        AuditEntry,
        append_entry,
        chain_head,
    )
    from osmanthus.ledger.batches import (
        batch_rows,
        problem_rows,
        record_batch,
    )
    from osmanthus.ledger.bulk import (
        BulkResult,
        RecordBatch,
        ResidentBatch,
        bulk_load,
    )
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
    from osmanthus.ledger.disputes import (
        ACTIVE,
        Dispute,
        DisputeStep,
        StepWrite,
        dispute_by_id,
        dispute_rows,
        disputes_of,
        insert_dispute,
        open_dispute_rows,
        write_step,
    )
    from osmanthus.ledger.ids import allocate_ids
    from osmanthus.ledger.keys import (
        insert_key,
        key_by_digest,
        revoke_key_digest,
    )
    from osmanthus.ledger.ledger import Ledger
    from osmanthus.ledger.policy_store import (
        DecisionRow,
        ProposalRow,
        decision_rows,
        insert_decision,
        insert_proposal,
        proposal_rows,
    )
    from osmanthus.ledger.population import iter_population
    from osmanthus.ledger.roles import grant_service_role
    from osmanthus.ledger.row_check import RowsTampered
    from osmanthus.ledger.seal_columns import (
        Col,
        add_rows,
    )
    from osmanthus.ledger.sealed import claim_of
    from osmanthus.ledger.settling import (
        enter_write,
        settle,
    )
    from osmanthus.ledger.staged import (
        StagedChunk,
        StagedRecords,
    )
    from osmanthus.ledger.verification import (
        LedgerCheck,
        ledger_identity,
        snapshot,
        verify_chain,
        verify_ledger,
    )

#: Each public name and the module that defines it.
_HOMES = {
    "Actor": "osmanthus.core",
    "AuditEntry": "osmanthus.ledger.audit_log",
    "BulkResult": "osmanthus.ledger.bulk",
    "Col": "osmanthus.ledger.seal_columns",
    "Dispute": "osmanthus.ledger.disputes",
    "ACTIVE": "osmanthus.ledger.disputes",
    "DisputeStep": "osmanthus.ledger.disputes",
    "StepWrite": "osmanthus.ledger.disputes",
    "dispute_by_id": "osmanthus.ledger.disputes",
    "dispute_rows": "osmanthus.ledger.disputes",
    "write_step": "osmanthus.ledger.disputes",
    "Ledger": "osmanthus.ledger.ledger",
    "DecisionRow": "osmanthus.ledger.policy_store",
    "ProposalRow": "osmanthus.ledger.policy_store",
    "decision_rows": "osmanthus.ledger.policy_store",
    "insert_decision": "osmanthus.ledger.policy_store",
    "insert_proposal": "osmanthus.ledger.policy_store",
    "proposal_rows": "osmanthus.ledger.policy_store",
    "LedgerCheck": "osmanthus.ledger.verification",
    "NewRecord": "osmanthus.core",
    "RecordBatch": "osmanthus.ledger.bulk",
    "ResidentBatch": "osmanthus.ledger.bulk",
    "ResidentInfo": "osmanthus.core",
    "RowsTampered": "osmanthus.ledger.row_check",
    "StagedChunk": "osmanthus.ledger.staged",
    "StagedRecords": "osmanthus.ledger.staged",
    "StoredRecord": "osmanthus.core",
    "Subject": "osmanthus.core",
    "add_rows": "osmanthus.ledger.seal_columns",
    "allocate_ids": "osmanthus.ledger.ids",
    "append_entry": "osmanthus.ledger.audit_log",
    "batch_rows": "osmanthus.ledger.batches",
    "bulk_load": "osmanthus.ledger.bulk",
    "chain_head": "osmanthus.ledger.audit_log",
    "checkpoint_state": "osmanthus.ledger.checkpoints",
    "claim_of": "osmanthus.ledger.sealed",
    "connect": "osmanthus.ledger.database",
    "database_errors": "osmanthus.ledger.database",
    "disputes_of": "osmanthus.ledger.disputes",
    "durable_transaction": "osmanthus.ledger.database",
    "enter_write": "osmanthus.ledger.settling",
    "grant_service_role": "osmanthus.ledger.roles",
    "insert_dispute": "osmanthus.ledger.disputes",
    "insert_key": "osmanthus.ledger.keys",
    "is_current": "osmanthus.ledger.database",
    "is_registered": "osmanthus.ledger.credentials",
    "iter_population": "osmanthus.ledger.population",
    "key_by_digest": "osmanthus.ledger.keys",
    "latest_checkpoint": "osmanthus.ledger.checkpoints",
    "ledger_identity": "osmanthus.ledger.verification",
    "migrate": "osmanthus.ledger.database",
    "open_dispute_rows": "osmanthus.ledger.disputes",
    "password_hash_of": "osmanthus.ledger.credentials",
    "problem_rows": "osmanthus.ledger.batches",
    "read_only": "osmanthus.ledger.database",
    "record_batch": "osmanthus.ledger.batches",
    "refusals_since": "osmanthus.ledger.credentials",
    "revoke_key_digest": "osmanthus.ledger.keys",
    "settle": "osmanthus.ledger.settling",
    "snapshot": "osmanthus.ledger.verification",
    "store_checkpoint": "osmanthus.ledger.checkpoints",
    "store_password_hash": "osmanthus.ledger.credentials",
    "stored_checkpoint": "osmanthus.ledger.checkpoints",
    "verify_chain": "osmanthus.ledger.verification",
    "verify_ledger": "osmanthus.ledger.verification",
}

__all__ = [
    "ACTIVE",
    "Actor",
    "AuditEntry",
    "BulkResult",
    "Col",
    "DecisionRow",
    "Dispute",
    "DisputeStep",
    "Ledger",
    "LedgerCheck",
    "NewRecord",
    "ProposalRow",
    "RecordBatch",
    "ResidentBatch",
    "ResidentInfo",
    "RowsTampered",
    "StagedChunk",
    "StagedRecords",
    "StepWrite",
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
    "decision_rows",
    "dispute_by_id",
    "dispute_rows",
    "disputes_of",
    "durable_transaction",
    "enter_write",
    "grant_service_role",
    "insert_decision",
    "insert_dispute",
    "insert_key",
    "insert_proposal",
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
    "proposal_rows",
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
    "write_step",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES)
