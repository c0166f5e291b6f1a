"""Deadlines that act by themselves: a dispute not answered (or an appeal not reviewed)
by its due date sets its record aside from the next day.

The sweep writes that fact to the ledger (a ``suspended`` step and a suspension), so
``--as-of/--known-at`` reproduce it and every scorer reads it. The service's upkeep runs
it; ``osmanthus disputes sweep [--today DATE]`` runs it by hand. Running it twice writes
nothing the second time; a late sweep writes the suspension from the day after the
deadline all the same (recorded when it ran).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection

from osmanthus.core import Actor
from osmanthus.errors import StepRefused, ValidationError
from osmanthus.ledger import Dispute, Ledger, StepWrite, dispute_rows, write_step

__all__ = ["SWEEPER", "Swept", "sweep_disputes"]

SWEEPER = Actor("platform", "deadline-sweep")


@dataclass(frozen=True)
class Swept:
    """What one sweep did: the disputes whose record it set aside."""

    today: dt.date
    suspended: tuple[Dispute, ...]


def sweep_disputes(ledger: Ledger, today: dt.date | None = None) -> Swept:
    """Set aside the record of every dispute overdue on ``today`` (default: the city's
    today) and not yet set aside; return them."""
    real = ledger.today()
    day = today or real
    if day > real:
        raise ValidationError(f"today: {day} is in the future (today is {real})")
    done = []
    for found in dispute_rows(ledger.engine, status=("open", "appealed"), due_before=day):
        if found.suspended_from is not None:
            continue

        def decide(conn: Connection, d: Dispute) -> StepWrite:
            if not d.overdue(day) or d.suspended_from is not None:  # answered meanwhile
                raise StepRefused(f"dispute {d.id}: nothing to set aside")
            starts = d.deadline + dt.timedelta(days=1)
            waiting = "the department's answer" if d.status == "open" else "the review"
            return StepWrite(
                kind="suspended",
                actor=SWEEPER,
                at=ledger.now(),
                status=d.status,
                deadline=d.deadline,
                purpose="dispute overdue: record set aside",
                reason=f"{waiting} was due by {d.deadline}",
                suspensions=[(starts, False)],
            )

        try:
            done.append(write_step(ledger.engine, found.id, decide))
        except StepRefused:
            continue
    return Swept(day, tuple(done))
