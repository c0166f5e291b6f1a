"""Which pseudonym key a ledger was set up with.

Every resident's row holds an HMAC of their ID number under the pseudonym key, so a
process that opens the ledger with another key finds nobody and writes residents twice.
``osmanthus init`` records a fingerprint of the key (an HMAC of a fixed label under the
key: it reveals nothing of the key) as an audit entry, under the chain like every other
entry; every command and the service compare their key with it before they read or
write (:meth:`osmanthus.ledger.handle.LedgerBase.check_ready`), one indexed look-up
(migration 0018).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy import Connection, select

from osmanthus.errors import ConfigError
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.schema import audit_log

__all__ = ["KEY_ACTION", "check_key", "fingerprint", "record_key"]

#: The audit action of the entry that records the key's fingerprint.
KEY_ACTION = "ledger.pseudonym_key"

_LABEL = b"osmanthus pseudonym key fingerprint v1"
_RECORDED = (
    select(audit_log.c.detail)
    .where(audit_log.c.action == KEY_ACTION)
    .order_by(audit_log.c.seq)
    .limit(1)
)


def fingerprint(key: bytes) -> str:
    """The key's fingerprint: 64 hex characters, of which errors show the first 12."""
    return hmac.new(key, _LABEL, hashlib.sha256).hexdigest()


def _recorded(conn: Connection) -> str | None:
    detail = conn.execute(_RECORDED).scalar()
    return None if detail is None else str(json.loads(detail)["fingerprint"])


def check_key(conn: Connection, key: bytes) -> None:
    """Raise :class:`ConfigError` when the ledger was set up with another pseudonym key
    (a ledger set up before fingerprints were recorded passes until ``init`` records one)."""
    recorded = _recorded(conn)
    if recorded is not None and not hmac.compare_digest(recorded, fingerprint(key)):
        raise ConfigError(
            "settings: 'pseudonym_key' is not the key this ledger was set up with "
            f"(its fingerprint {fingerprint(key)[:12]}, the ledger's {recorded[:12]}): "
            "use the ledger's key (docs/deployment.md, 'Keys')"
        )


def record_key(conn: Connection, key: bytes, *, actor: str) -> bool:
    """Record the key's fingerprint unless one is recorded (then check it); True if written."""
    if _recorded(conn) is not None:
        check_key(conn, key)
        return False
    append_entry(
        conn,
        actor=actor,
        action=KEY_ACTION,
        purpose="record which pseudonym key the ledger was set up with",
        detail={"fingerprint": fingerprint(key)},
    )
    return True
