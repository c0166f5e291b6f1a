"""Intake batches in the ledger: each batch's outcome and row-level report, stored with
the audit entry that claims them (and the records the batch wrote), and read back.

``batches`` and ``batch_problems`` are append-only; a batch is identified by its
department, batch id and file digest (:mod:`osmanthus.intake.outcome` decides what a
resubmission means).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from osmanthus.audit import Claim
from osmanthus.ledger.audit_log import append_entry
from osmanthus.ledger.schema import batch_problems, batches, departments
from osmanthus.ledger.sealed import claim_of

__all__ = ["batch_rows", "problem_rows", "record_batch"]


def record_batch(
    conn: Connection,
    batch: Mapping[str, Any],
    problems: Sequence[Mapping[str, Any]],
    *,
    detail: Mapping[str, Any],
    written: Claim | None = None,
) -> int:
    """Store a batch's row (``batch``: the columns of ``batches``) and its report
    (``problems``: columns of ``batch_problems`` without ``batch``) inside the caller's
    transaction, with an ``intake.batch`` entry by the batch's actor that claims them and
    the records the batch wrote (``written``); return the batch row's id."""
    key = int(conn.execute(insert(batches).values(**batch).returning(batches.c.id)).scalar_one())
    if problems:
        conn.execute(insert(batch_problems), [{**p, "batch": key} for p in problems])
    append_entry(
        conn,
        actor=str(batch["actor"]),
        action="intake.batch",
        purpose="department batch",
        detail=detail,
        rows=[
            *([written] if written is not None else []),
            claim_of(conn, "batches", batches.c.id == key),
            claim_of(conn, "batch_problems", batch_problems.c.batch == key),
        ],
    )
    return key


def batch_rows(
    conn: Connection,
    *,
    department: str | None = None,
    batch_id: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[Row[Any]]:
    """Stored batches (of ``department``, with ``batch_id``), each with its department's
    ``code``, in the order they were stored (or newest first)."""
    query = select(batches, departments.c.code).join(
        departments, departments.c.id == batches.c.department_id
    )
    if department is not None:
        query = query.where(departments.c.code == department)
    if batch_id is not None:
        query = query.where(batches.c.batch_id == batch_id)
    query = query.order_by(batches.c.id.desc() if newest_first else batches.c.id)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).all())


def problem_rows(conn: Connection, key: int) -> list[Row[Any]]:
    """The stored report of the batch row ``key``, by row and field."""
    query = (
        select(batch_problems)
        .where(batch_problems.c.batch == key)
        .order_by(batch_problems.c.row, batch_problems.c.field)
    )
    return list(conn.execute(query).all())
