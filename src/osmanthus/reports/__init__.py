"""Signed documents: the credit report a resident downloads and the eligibility proof a
provider verifies offline, both signed with the city's Ed25519 key (docs/reports.md)."""

from osmanthus.reports.signing import (
    PublicKey,
    SigningKey,
    VerifiedDocument,
    canonical_json,
    demo_signing_key,
    load_signing_key,
    read_signing_key,
    sign_document,
    verify_document,
)

__all__ = [
    "PublicKey",
    "SigningKey",
    "VerifiedDocument",
    "canonical_json",
    "demo_signing_key",
    "load_signing_key",
    "read_signing_key",
    "sign_document",
    "verify_document",
]
