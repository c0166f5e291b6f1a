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
from osmanthus.audit.rows import (
    CHUNK,
    Claim,
    ClaimBuilder,
    MerkleBuilder,
    claim_detail,
    encode_row,
    encode_value,
    float_bits,
    group_hash,
    merkle_root,
    parse_claims,
)

__all__ = [
    "CHUNK",
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "ChainHead",
    "Claim",
    "ClaimBuilder",
    "MerkleBuilder",
    "canonical",
    "canonical_around_seq",
    "chain_hash",
    "claim_detail",
    "encode_detail",
    "encode_row",
    "encode_value",
    "entry_hash",
    "float_bits",
    "group_hash",
    "merkle_root",
    "parse_claims",
    "verify_entries",
]
