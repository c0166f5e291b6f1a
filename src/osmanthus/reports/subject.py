"""Binding a signed document to its holder without writing their ID number into it.

A document carries a random salt and ``scrypt(national ID, salt)``. Whoever sees the
holder's ID card checks the binding offline; whoever only sees the document learns
nothing directly. ID numbers are few (area code, birth date, sequence: about 10^11
candidates), so a plain hash could be searched; scrypt (N=2^14, r=8, p=1: about 40 ms and
16 MiB a try) makes that search cost about a century of one processor core for a proof,
which carries nothing else about the number. A credit report also shows the masked
number (first four and last four characters), which leaves about 3 x 10^7 candidates:
about two weeks of one core. A report is meant for the one its holder hands it to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from osmanthus.identity import validate

__all__ = ["SubjectBinding", "bind_subject", "mask_id"]

_N, _R, _P, _LENGTH = 2**14, 8, 1, 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(number: str, salt: bytes) -> bytes:
    return hashlib.scrypt(number.encode("ascii"), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)


@dataclass(frozen=True)
class SubjectBinding:
    """A salt and the scrypt digest of the ID number with it, both base64url."""

    salt: str
    digest: str

    def matches(self, national_id: str) -> bool:
        """Whether ``national_id`` (validated first) is the bound holder's number."""
        number = validate(national_id)
        try:
            salt, digest = _unb64url(self.salt), _unb64url(self.digest)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(_digest(number, salt), digest)


def bind_subject(national_id: str) -> SubjectBinding:
    """A fresh binding of a (validated) ID number, with a new 16-byte salt."""
    salt = secrets.token_bytes(16)
    return SubjectBinding(_b64url(salt), _b64url(_digest(validate(national_id), salt)))


def mask_id(national_id: str) -> str:
    """The number with its first four and last four characters only
    (``3205**********0012``): enough to tell two cards apart, not the birth date."""
    number = national_id.strip().upper()
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
