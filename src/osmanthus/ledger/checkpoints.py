"""Stored audit checkpoints: the signed checkpoints the service has published.

A checkpoint is a signed statement that entry ``seq`` of this ledger's chain has hash
``hash`` (:mod:`osmanthus.reports.checkpoint` makes and checks them). They are kept in
``audit_checkpoints`` (append-only) so that the oversight page shows the latest and
``osmanthus audit verify --since SEQ`` can start from one.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from osmanthus.errors import NotFound
from osmanthus.ledger.audit_log import head_of
from osmanthus.ledger.database import database_errors, read_only
from osmanthus.ledger.schema import audit_checkpoints
from osmanthus.ledger.verification import ledger_identity, row_floors, snapshot

__all__ = ["checkpoint_state", "latest_checkpoint", "store_checkpoint", "stored_checkpoint"]


def checkpoint_state(engine: Engine) -> dict[str, Any]:
    """What a checkpoint states, read in one snapshot: the ledger's identity, the head
    (``seq``, ``hash``) and the highest key of each sealed table."""
    with snapshot(engine) as conn:
        head = head_of(conn)
        if not head.seq:
            raise NotFound("the audit chain is empty: run 'osmanthus init' first")
        return {
            "ledger": ledger_identity(conn),
            "seq": head.seq,
            "hash": head.hash,
            "rows": row_floors(conn),
        }


def store_checkpoint(engine: Engine, document: dict[str, Any]) -> bool:
    """Keep a signed checkpoint; False when one for the same entry is already kept."""
    body = document["body"]
    with database_errors("audit checkpoints"), engine.begin() as conn:
        if _row(conn, int(body["seq"])) is not None:
            return False
        conn.execute(
            insert(audit_checkpoints).values(
                seq=int(body["seq"]),
                hash=str(body["hash"]),
                at=str(body["at"]),
                document=json.dumps(document, sort_keys=True, separators=(",", ":")),
            )
        )
    return True


def _row(conn: Connection, seq: int) -> Any:
    return conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.seq == seq)).first()


def stored_checkpoint(engine: Engine, seq: int) -> dict[str, Any]:
    """The signed checkpoint kept for entry ``seq``; :class:`NotFound` when none is."""
    with database_errors("audit checkpoints"), read_only(engine) as conn:
        row = _row(conn, seq)
    if row is None:
        raise NotFound(
            f"no stored audit checkpoint at entry {seq} (see 'osmanthus audit checkpoint')"
        )
    found: dict[str, Any] = json.loads(row.document)
    return found


def latest_checkpoint(engine: Engine) -> dict[str, Any] | None:
    """The newest stored signed checkpoint, or None."""
    with database_errors("audit checkpoints"), read_only(engine) as conn:
        row = conn.execute(
            select(audit_checkpoints.c.document).order_by(audit_checkpoints.c.seq.desc()).limit(1)
        ).first()
    return None if row is None else dict(json.loads(row.document))
