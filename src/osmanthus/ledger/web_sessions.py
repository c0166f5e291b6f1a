"""Browser sessions, recorded in the ledger database so that every web worker sees that
one has ended (``web_sessions``). The cookie carries a random token; the ledger keeps its
SHA-256, never the token. Operational state, not under the audit chain (signing in and
out are audited by the portal).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Engine, delete, insert, select, update

from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import web_sessions

__all__ = ["KEEP_ENDED", "end_session", "open_session", "session_subject"]

#: Sessions are forgotten this long after they opened (ended, abandoned, or, rarely, one
#: kept busy that long: it is signed out).
KEEP_ENDED = dt.timedelta(days=2)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(engine: Engine, kind: str, subject: str, now: dt.datetime) -> str:
    """Record a new session of ``kind`` (resident or key) for ``subject``; return its
    token (for the cookie). Sessions older than :data:`KEEP_ENDED` are forgotten."""
    token = secrets.token_urlsafe(32)
    with database_errors("sessions"), engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.opened_at < now - KEEP_ENDED))
        conn.execute(
            insert(web_sessions).values(
                token_hash=_hash(token), kind=kind, subject=subject, opened_at=now
            )
        )
    return token


def session_subject(engine: Engine, token: str) -> tuple[str, str] | None:
    """``(kind, subject)`` of the open session with this token, or None (unknown or
    ended)."""
    with database_errors("sessions"), read_only(engine) as conn:
        row = conn.execute(
            select(web_sessions.c.kind, web_sessions.c.subject).where(
                web_sessions.c.token_hash == _hash(token), web_sessions.c.ended_at.is_(None)
            )
        ).first()
    return None if row is None else (str(row.kind), str(row.subject))


def end_session(engine: Engine, token: str, now: dt.datetime) -> None:
    """End the session with this token (signing out): its cookie is refused from now on."""
    with database_errors("sessions"), engine.begin() as conn:
        conn.execute(
            update(web_sessions)
            .where(web_sessions.c.token_hash == _hash(token), web_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
