"""Lists of disputes for each reader: the resident's own, a department's queue, and the
overseers' view of deadlines."""

from __future__ import annotations

from osmanthus.ledger import Dispute, Ledger, dispute_rows, disputes_of, open_dispute_rows

__all__ = ["department_disputes", "open_disputes", "resident_disputes"]


def resident_disputes(ledger: Ledger, pseudonym: str) -> list[Dispute]:
    """Every dispute the resident filed, soonest deadline first, with every step."""
    return disputes_of(ledger.engine, pseudonym)


def open_disputes(ledger: Ledger, department: str | None = None) -> list[Dispute]:
    """Disputes awaiting a department's answer (of one department, or all), soonest
    deadline first. Oversight sees deadlines, not people."""
    return open_dispute_rows(ledger.engine, department)


def department_disputes(
    ledger: Ledger,
    department: str | None = None,
    status: tuple[str, ...] | None = None,
    kind: str | None = None,
) -> list[Dispute]:
    """Disputes of one department (or all), in some states (or all), of one kind
    (``record`` or ``repair``; or both)."""
    return dispute_rows(ledger.engine, department=department, status=status, kind=kind)
