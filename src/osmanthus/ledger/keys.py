"""API keys in the ledger: stored as SHA-256 only, created and revoked through here.

Each creation and each revocation is an audit entry naming its actor, with the digest of
the key's row as it then is (a revocation writes the row again).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, bindparam, insert, select, update

from osmanthus.core import Actor
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import api_keys
from osmanthus.ledger.sealed import claim_of

__all__ = ["insert_key", "key_by_digest", "revoke_key_digest"]

_BY_DIGEST = select(
    api_keys.c.role, api_keys.c.name, api_keys.c.department, api_keys.c.id, api_keys.c.perks
).where(api_keys.c.key_hash == bindparam("digest"), api_keys.c.revoked_at.is_(None))


def insert_key(
    engine: Engine,
    *,
    digest: str,
    role: str,
    name: str,
    department: str | None,
    actor: Actor,
    perks: tuple[str, ...] = (),
) -> int:
    """Store a new key's digest with its role (and a provider key's perks); return its
    row id. Audited."""
    with database_errors("api keys"), engine.begin() as conn:
        key_id = conn.execute(
            insert(api_keys)
            .values(
                key_hash=digest,
                role=role,
                name=name,
                department=department,
                created_at=dt.datetime.now(dt.UTC),
                perks=",".join(perks) or None,
            )
            .returning(api_keys.c.id)
        ).scalar_one()
        append_entry(
            conn,
            actor=str(actor),
            action="key.create",
            purpose="API key issued",
            detail={"key": int(key_id), "role": role, "name": name, "department": department}
            | ({"perks": list(perks)} if perks else {}),
            rows=[claim_of(conn, "api_keys", api_keys.c.id == key_id)],
        )
    return int(key_id)


def revoke_key_digest(engine: Engine, digest: str, *, actor: Actor) -> bool:
    """Revoke the key with this digest; False when there is none not yet revoked. Audited."""
    with database_errors("api keys"), engine.begin() as conn:
        key_id = conn.execute(
            select(api_keys.c.id).where(
                api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
            )
        ).scalar()
        if key_id is None:
            return False
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        append_entry(
            conn,
            actor=str(actor),
            action="key.revoke",
            purpose="API key revoked",
            detail={"key": int(key_id)},
            rows=[claim_of(conn, "api_keys", api_keys.c.id == key_id)],
        )
    return True


def key_by_digest(
    engine: Engine, digest: str
) -> tuple[str, str, str | None, int, tuple[str, ...]] | None:
    """``(role, name, department, key id, perks)`` of the key with this digest, unless
    unknown or revoked."""
    with database_errors("api keys"), read_only(engine) as conn:
        row = conn.execute(_BY_DIGEST, {"digest": digest}).first()
    if row is None:
        return None
    perks = tuple(row.perks.split(",")) if row.perks else ()
    return (row.role, row.name, row.department, int(row.id), perks)
