"""Residents' portal credentials in the ledger: a password hash per resident (never the
password), replaced with an audit entry that claims the row, and the sign-in facts the
portal decides on (the stored hash, refused attempts from the audit chain).

``resident_credentials`` is a current-state table: a new password writes the row again.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Connection, Engine, delete, insert, select

from osmanthus.core import Actor
from osmanthus.errors import NotFound
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.audit_subjects import entries_about
from osmanthus.ledger.database import database_errors
from osmanthus.ledger.schema import audit_log, resident_credentials, residents
from osmanthus.ledger.sealed import claim_of

__all__ = [
    "is_registered",
    "password_hash_of",
    "refusal_times",
    "store_password_hash",
]


def store_password_hash(
    engine: Engine, pseudonym: str, password_hash: str, *, actor: Actor, now: dt.datetime
) -> None:
    """Set (or replace) the stored password hash of a registered resident; audited.
    :class:`NotFound` when the resident is not registered."""
    with database_errors("resident credentials"), engine.begin() as conn:
        resident_id = conn.execute(
            select(residents.c.id).where(residents.c.pseudonym == pseudonym)
        ).scalar()
        if resident_id is None:
            raise NotFound(f"resident {pseudonym[:12]}… is not registered")
        conn.execute(
            delete(resident_credentials).where(resident_credentials.c.resident_id == resident_id)
        )
        conn.execute(
            insert(resident_credentials).values(
                resident_id=resident_id, password_hash=password_hash, created_at=now
            )
        )
        append_entry(
            conn,
            actor=str(actor),
            action="resident.password",
            subject=pseudonym,
            purpose="portal password set",
            rows=[
                claim_of(
                    conn, "resident_credentials", resident_credentials.c.resident_id == resident_id
                )
            ],
        )


def password_hash_of(conn: Connection, pseudonym: str) -> str | None:
    """The resident's stored password hash, or None (no password, or not registered)."""
    found = conn.execute(
        select(resident_credentials.c.password_hash)
        .join(residents, residents.c.id == resident_credentials.c.resident_id)
        .where(residents.c.pseudonym == pseudonym)
    ).scalar()
    return None if found is None else str(found)


def refusal_times(
    conn: Connection, pseudonym: str, since: dt.datetime
) -> list[tuple[dt.datetime, str | None]]:
    """When each refused sign-in of the resident since ``since`` happened, and the tag of
    the address it came from (None for entries written before addresses were tagged)."""
    at = since.astimezone(dt.UTC).isoformat(timespec="microseconds")  # as `at` is written
    refused = entries_about(
        pseudonym,
        audit_log.c.at,
        audit_log.c.detail,
        where=(audit_log.c.action == "resident.sign_in_refused", audit_log.c.at >= at),
    )
    found = []
    for when, detail in conn.execute(select(refused)):
        tag = json.loads(detail).get("address") if detail else None
        found.append((dt.datetime.fromisoformat(when), tag))
    return found


def is_registered(conn: Connection, pseudonym: str) -> bool:
    """Whether a resident with this pseudonym is registered."""
    found = conn.execute(select(residents.c.id).where(residents.c.pseudonym == pseudonym))
    return found.first() is not None
