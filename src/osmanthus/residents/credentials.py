"""Portal passwords: a resident signs in with their ID number and a password.

Only a scrypt hash is stored (``scrypt$n$r$p$salt$hash``, base64), keyed by the resident
row, never by the number. A refused sign-in says the same thing whether the number is
unknown or the password wrong. Each sign-in, and each refused one for a registered
resident, is written to the audit chain, so residents see attempts on their account;
after five refused attempts within 15 minutes the account refuses every password, the
right one included, until the window has passed (counted from the audit chain, so the
lock holds across every worker of the service).
Production deployments sign residents in through an OpenID Connect provider instead;
this is the demo city's way and a fallback.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import Connection

from osmanthus.errors import NotFound, NotSignedIn, ValidationError
from osmanthus.ledger import (
    Actor,
    Ledger,
    append_entry,
    database_errors,
    is_registered,
    password_hash_of,
    refusals_since,
    store_password_hash,
)

__all__ = ["set_password", "sign_in", "sign_in_verified"]

_N, _R, _P = 2**14, 8, 1  # about 40 ms per check on this hardware; 16 MiB of memory
#: Failed sign-ins of one resident within the window that lock the account for the window.
MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
_REFUSED = (
    "sign-in refused: the ID number or the password is not right "
    f"(after {MAX_FAILURES} failed attempts, sign-in is locked for "
    f"{WINDOW.seconds // 60} minutes)"
)


def _hash(password: str, salt: bytes, n: int = _N, r: int = _R, p: int = _P) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def _encode(password: str) -> str:
    salt = secrets.token_bytes(16)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(_hash(password, salt)).decode()}"


def _matches(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    found = _hash(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(found, base64.b64decode(digest))


def _recent_failures(conn: Connection, name: str) -> int:
    """Refused sign-ins of this resident within the window (from the audit chain)."""
    return refusals_since(conn, name, dt.datetime.now(dt.UTC) - WINDOW)


def set_password(ledger: Ledger, national_id: str, password: str, *, actor: Actor) -> None:
    """Set (or replace) the portal password of a registered resident."""
    if not 8 <= len(password) <= 128:
        raise ValidationError(f"password: expected 8 to 128 characters, found {len(password)}")
    name = ledger.pseudonym_of(national_id)
    try:
        store_password_hash(ledger.engine, name, _encode(password), actor=actor, now=ledger.now())
    except NotFound:
        raise ValidationError(f"national_id: resident {name[:12]}… is not registered") from None


def sign_in(ledger: Ledger, national_id: str, password: str) -> str:
    """The pseudonym of the resident whose ID number and password these are; raises
    :class:`NotSignedIn` otherwise (one message for every reason)."""
    try:
        name = ledger.pseudonym_of(national_id)
    except ValidationError:
        raise NotSignedIn(_REFUSED) from None
    with database_errors("resident credentials"), ledger.engine.begin() as conn:
        stored = password_hash_of(conn, name)
        locked = stored is not None and _recent_failures(conn, name) >= MAX_FAILURES
        ok = stored is not None and not locked and _matches(password, stored)
        if stored is not None:
            append_entry(
                conn,
                actor=f"resident:{name[:12]}",
                action="resident.sign_in" if ok else "resident.sign_in_refused",
                subject=name,
                purpose="portal sign-in",
            )
    if not ok:
        raise NotSignedIn(_REFUSED)
    return name


def sign_in_verified(ledger: Ledger, national_id: str, *, how: str) -> str:
    """The pseudonym of a resident whose identity an identity provider has verified (the
    ID number from a verified ID token); audited. Refused for an unregistered number."""
    try:
        name = ledger.pseudonym_of(national_id)
    except ValidationError:
        raise NotSignedIn(
            "sign-in refused: the identity provider gave no valid ID number"
        ) from None
    with database_errors("resident credentials"), ledger.engine.begin() as conn:
        if not is_registered(conn, name):
            raise NotSignedIn("sign-in refused: this resident is not registered here")
        append_entry(
            conn,
            actor=f"resident:{name[:12]}",
            action="resident.sign_in",
            subject=name,
            purpose=f"portal sign-in ({how})",
        )
    return name
