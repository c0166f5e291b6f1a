"""Settling the exported tables: the lake export's watermark never passes a row that is
still being written.

The export (:mod:`osmanthus.population.export`) takes, for each of ``records``,
``residents`` and ``profile_facts``, the highest id below which every row is committed
for good. On PostgreSQL ids come from sequences, so a transaction may hold an id lower
than one already committed. Every transaction that writes those tables holds the
**write gate** shared (from before it takes its first id until it ends); the export
holds it exclusively while it reads the highest ids, so it waits for every such writer
and no new one starts meanwhile.

The gate is a transaction-level advisory lock, which needs no privilege on the tables:
it replaces ``LOCK TABLE ... IN SHARE MODE``, which PostgreSQL grants only to roles that
may UPDATE, DELETE or TRUNCATE the tables, and the service's role may not
(:mod:`osmanthus.ledger.roles`). SQLite has one writer at a time: nothing to do there.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["enter_write", "settle"]

#: Arbitrary constant naming the write gate's advisory lock.
_GATE = 0x05A4_E7A7
_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)")


def enter_write(conn: Connection) -> None:
    """Hold the write gate shared until the transaction ends (before taking an id of
    ``records``, ``residents`` or ``profile_facts``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_SHARED, {"key": _GATE})


def settle(conn: Connection) -> None:
    """Wait for every writer of the exported tables to end, and hold new ones off until
    the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(_EXCLUSIVE, {"key": _GATE})
