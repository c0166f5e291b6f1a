"""Deadlines that act by themselves: a dispute not answered (or an appeal not reviewed)
by its due date sets its record aside from the next day; an application for early
repair, or a dispute of a profile fact, not answered by its due date goes to the reviewer
(``escalated``), who decides it within the procedure's review deadline.

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
from osmanthus.disputes.steps import procedure_of
from osmanthus.errors import StepRefused, ValidationError
from osmanthus.ledger import Dispute, Ledger, StepWrite, dispute_rows, write_step

__all__ = ["SWEEPER", "Swept", "sweep_disputes"]

SWEEPER = Actor("platform", "deadline-sweep")


@dataclass(frozen=True)
class Swept:
    """What one sweep did: the disputes whose record it set aside, and the applications
    for repair it sent to the reviewer."""

    today: dt.date
    suspended: tuple[Dispute, ...]
    escalated: tuple[Dispute, ...] = ()


def sweep_disputes(ledger: Ledger, today: dt.date | None = None) -> Swept:
    """Set aside the record of every dispute overdue on ``today`` (default: the city's
    today) and not yet set aside; return them."""
    real = ledger.today()
    day = today or real
    if day > real:
        raise ValidationError(f"today: {day} is in the future (today is {real})")
    done, escalated = [], []
    for found in dispute_rows(ledger.engine, status=("open", "appealed"), due_before=day):
        if found.kind in ("repair", "profile"):
            if found.status == "open":
                escalated.extend(_escalate(ledger, found, day))
            continue
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
    return Swept(day, tuple(done), tuple(escalated))


def _escalate(ledger: Ledger, found: Dispute, day: dt.date) -> list[Dispute]:
    """An application for repair the department did not answer in time: to the reviewer."""

    def decide(conn: Connection, d: Dispute) -> StepWrite:
        if d.status != "open" or not d.overdue(day):  # answered meanwhile
            raise StepRefused(f"application {d.id}: nothing to escalate")
        now = ledger.now()
        due = procedure_of(ledger, d).review_due(now)
        return StepWrite(
            kind="escalated",
            actor=SWEEPER,
            at=now,
            status="appealed",
            deadline=due,
            purpose=f"{'repair application' if d.kind == 'repair' else 'dispute'} overdue: "
            "sent to the reviewer",
            reason=f"the department's answer was due by {d.deadline}",
            due=due,
        )

    try:
        return [write_step(ledger.engine, found.id, decide)]
    except StepRefused:
        return []
