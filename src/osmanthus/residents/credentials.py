"""Portal passwords: a resident signs in with their ID number and a password.

Only a scrypt hash is stored (``scrypt$n$r$p$salt$hash``, base64), keyed by the resident
row, never by the number. A refused sign-in says the same thing whether the number is
unknown or the password wrong. Each sign-in, and each refused one for a registered
resident, is written to the audit chain, so residents see attempts on their account.

Failed sign-ins slow down, they do not lock the account: after five refused attempts
within 15 minutes from one network address, that address waits 1, 2, 4 ... seconds (at
most the window) after its last refusal before the account answers it again, the right
password included; the resident's other addresses are not held, so whoever knows an ID
number cannot keep its holder out. Fifty refusals within the window from all addresses
together slow every address the same way (a guess spread over many addresses). The
counts come from the audit chain (each refusal carries a keyed tag of its address), so
every worker of the service sees the same.
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
    refusal_times,
    store_password_hash,
)

__all__ = ["set_password", "sign_in", "sign_in_verified"]

_N, _R, _P = 2**14, 8, 1  # about 40 ms per check on this hardware; 16 MiB of memory
#: Refused sign-ins of one resident from one address within the window after which that
#: address waits before each attempt; from all addresses together, ``ACCOUNT_FAILURES``.
MAX_FAILURES = 5
ACCOUNT_FAILURES = 50
WINDOW = dt.timedelta(minutes=15)
_REFUSED = (
    "sign-in refused: the ID number or the password is not right "
    f"(after {MAX_FAILURES} failed attempts, each next one must wait longer, up to "
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


def _held(conn: Connection, name: str, tag: str | None) -> bool:
    """Whether an attempt from the address tagged ``tag`` must still wait (see the
    module's description)."""
    now = dt.datetime.now(dt.UTC)
    refusals = refusal_times(conn, name, now - WINDOW)
    mine = [at for at, found in refusals if found == tag]
    everyone = [at for at, _ in refusals]
    for times, limit in ((mine, MAX_FAILURES), (everyone, ACCOUNT_FAILURES)):
        if len(times) >= limit:
            delay = min(2.0 ** (len(times) - limit), WINDOW.total_seconds())
            if (now - max(times)).total_seconds() < delay:
                return True
    return False


def set_password(ledger: Ledger, national_id: str, password: str, *, actor: Actor) -> None:
    """Set (or replace) the portal password of a registered resident."""
    if not 8 <= len(password) <= 128:
        raise ValidationError(f"password: expected 8 to 128 characters, found {len(password)}")
    name = ledger.pseudonym_of(national_id)
    try:
        store_password_hash(ledger.engine, name, _encode(password), actor=actor, now=ledger.now())
    except NotFound:
        raise ValidationError(f"national_id: resident {name[:12]}… is not registered") from None


def sign_in(ledger: Ledger, national_id: str, password: str, *, address: str | None = None) -> str:
    """The pseudonym of the resident whose ID number and password these are; raises
    :class:`NotSignedIn` otherwise (one message for every reason). ``address``: the
    client's network address (refusals are counted per address)."""
    try:
        name = ledger.pseudonym_of(national_id)
    except ValidationError:
        raise NotSignedIn(_REFUSED) from None
    with database_errors("resident credentials"), ledger.engine.begin() as conn:
        stored = password_hash_of(conn, name)
        tag = ledger.address_tag(address) if address else None
        held = stored is not None and _held(conn, name, tag)
        ok = stored is not None and not held and _matches(password, stored)
        if stored is not None:
            append_entry(
                conn,
                actor=f"resident:{name[:12]}",
                action="resident.sign_in" if ok else "resident.sign_in_refused",
                subject=name,
                purpose="portal sign-in",
                detail={"address": tag} if tag and not ok else None,
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
