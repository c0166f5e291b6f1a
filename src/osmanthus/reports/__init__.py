"""Signed documents: the credit report a resident downloads and the eligibility proof a
provider verifies offline, both signed with the city's Ed25519 key (docs/reports.md)."""

from osmanthus.reports.credit_report import (
    ReportCheck,
    credit_report,
    credit_report_of,
    read_credit_report,
    report_lines,
)
from osmanthus.reports.proof import ProofCheck, issue_proof, proof_qr_svg, verify_proof
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
from osmanthus.reports.subject import SubjectBinding, bind_subject, mask_id

__all__ = [
    "ProofCheck",
    "PublicKey",
    "ReportCheck",
    "SigningKey",
    "SubjectBinding",
    "VerifiedDocument",
    "bind_subject",
    "canonical_json",
    "credit_report",
    "credit_report_of",
    "demo_signing_key",
    "issue_proof",
    "load_signing_key",
    "mask_id",
    "proof_qr_svg",
    "read_credit_report",
    "read_signing_key",
    "report_lines",
    "sign_document",
    "verify_document",
    "verify_proof",
]
