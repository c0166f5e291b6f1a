"""Sign-in attempts per client address, in the ledger database so that every web worker
(and a restarted one) counts them together (``signin_attempts``).

An attempt is counted when it starts, in one write transaction that first forgets the
attempts older than the window, counts the address's, and adds this one unless the
address has reached the limit (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction
lock), so parallel attempts cannot all pass before any is counted. A successful sign-in
forgives its attempt: only refusals stay. The address is stored as a keyed hash (HMAC
with the pseudonym key), never as itself: the table names nobody, and a row lives 15
minutes. Operational state, not under the audit chain (refused sign-ins are audited by
the portal).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import Engine, delete, func, insert, select, text

from osmanthus.ledger.database import database_errors
from osmanthus.ledger.schema import signin_attempts

__all__ = ["WINDOW_SECONDS", "address_key", "count_attempt", "forgive_attempt"]

WINDOW_SECONDS = 15 * 60
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_LOCK_KEY = 0x5167_6E49  # sign-in attempts: one lock for all (they are few)


def address_key(key: bytes, address: str) -> str:
    """The stored form of a client address (or IPv6 /64): a keyed hash of it."""
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


def count_attempt(engine: Engine, stored: str, most: int, now: float) -> int:
    """Count an attempt from the address stored as ``stored`` and return 0, or, when
    the address has reached ``most`` within the window, count nothing and return the
    seconds until it may try again."""
    with database_errors("sign-in attempts"), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(_LOCK, {"key": _LOCK_KEY})
        conn.execute(delete(signin_attempts).where(signin_attempts.c.at <= now - WINDOW_SECONDS))
        times = (
            conn.execute(
                select(signin_attempts.c.at)
                .where(signin_attempts.c.address_key == stored)
                .order_by(signin_attempts.c.at)
            )
            .scalars()
            .all()
        )
        if len(times) >= most:
            return max(1, int(times[0] + WINDOW_SECONDS - now) + 1)
        conn.execute(insert(signin_attempts).values(address_key=stored, at=now))
        return 0


def forgive_attempt(engine: Engine, stored: str) -> None:
    """Forget the newest attempt of the address stored as ``stored`` (it succeeded)."""
    with database_errors("sign-in attempts"), engine.begin() as conn:
        newest = conn.execute(
            select(func.max(signin_attempts.c.id)).where(signin_attempts.c.address_key == stored)
        ).scalar()
        if newest is not None:
            conn.execute(delete(signin_attempts).where(signin_attempts.c.id == newest))
