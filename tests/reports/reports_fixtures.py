"""Constants and helpers of the signed-document tests (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from factories import make_id

ALICE = make_id(sequence=1)  # no records: at the baseline, eligible for the loan
BOB = make_id(sequence=2)  # drunk driving: below 100, eligible for nothing
CAROL = make_id(area=320506, born="19920704", sequence=7)  # a commendation: 110


def write_key(path: Path) -> Path:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM at ``path``."""
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
