"""Audit: the tamper-evident hash chain over every write and every read of personal data."""

from osmanthus.audit.chain import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    ChainHead,
    canonical,
    canonical_around_seq,
    chain_hash,
    encode_detail,
    entry_hash,
    verify_entries,
)

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "ChainHead",
    "canonical",
    "canonical_around_seq",
    "chain_hash",
    "encode_detail",
    "entry_hash",
    "verify_entries",
]
