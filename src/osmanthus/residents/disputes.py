"""Disputes: a resident contests one record; the department must answer by a deadline.

The deadline is ``dispute_days`` calendar days after filing (20 by default: China's
credit-reporting regulation, Art. 25, has objections checked within 20 days). Filing is
recorded and audited here; answering (upheld → the department corrects or retracts the
record; rejected → with a reason) is the dispute workflow of a later step.
"""

from __future__ import annotations

import datetime as dt

from osmanthus.errors import ValidationError
from osmanthus.ledger import Dispute, Ledger, disputes_of, insert_dispute, open_dispute_rows

__all__ = ["DISPUTE_DAYS", "Dispute", "file_dispute", "open_disputes", "resident_disputes"]

#: Calendar days a department has to answer (China's credit-reporting regulation, Art. 25).
DISPUTE_DAYS = 20


def file_dispute(
    ledger: Ledger, pseudonym: str, record_id: int, reason: str, *, days: int = DISPUTE_DAYS
) -> Dispute:
    """File a dispute of one of the resident's own records; audited."""
    reason = reason.strip()
    if not 10 <= len(reason) <= 2000:
        raise ValidationError(f"reason: expected 10 to 2000 characters, found {len(reason)}")
    return insert_dispute(
        ledger.engine,
        pseudonym,
        record_id,
        reason,
        filed=ledger.now(),
        deadline=ledger.today() + dt.timedelta(days=days),
    )


def resident_disputes(ledger: Ledger, pseudonym: str) -> list[Dispute]:
    """Every dispute the resident filed, soonest deadline first."""
    return disputes_of(ledger.engine, pseudonym)


def open_disputes(ledger: Ledger, department: str | None = None) -> list[Dispute]:
    """Open disputes (of one department, or all), soonest deadline first. No personal
    data beyond the record's metric: oversight sees deadlines, not people."""
    return open_dispute_rows(ledger.engine, department)
