"""The expiry calendar: the score projected forward as records expire, and for each perk
not reached today, the first date it would be reached if nothing new is recorded and
which records' expiry brings it.

Each step re-runs the reference scorer on the resident's own rows at the date something
changes (a record expires, is removed, or becomes repairable, or a measure ends), so the
projection follows the published policy exactly; a resident has few rows, so this is
cheap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from osmanthus.core import StoredRecord, Subject
from osmanthus.policy import PolicySet
from osmanthus.scoring import Explanation, RecordLine, explain

__all__ = ["PerkOutlook", "Projection", "ProjectionStep", "project"]

HORIZON_YEARS = 5


@dataclass(frozen=True)
class ProjectionStep:
    """The score on a future date, and the records that stop counting that day."""

    on: dt.date
    score: int | None
    grade: str | None
    eligible: tuple[str, ...]
    expiring: tuple[RecordLine, ...]


@dataclass(frozen=True)
class PerkOutlook:
    """A perk not reached today: what it needs, and when expiry alone would bring it."""

    code: str
    title: str
    needs: str
    reached_on: dt.date | None
    by_expiry_of: tuple[RecordLine, ...]


@dataclass(frozen=True)
class Projection:
    """Today's explanation, the steps ahead, and the outlook for each missing perk."""

    today: Explanation
    steps: tuple[ProjectionStep, ...]
    outlook: tuple[PerkOutlook, ...]


def _change_dates(today: Explanation, until: dt.date) -> list[dt.date]:
    dates = set()
    for line in today.lines:
        for day in (line.expires_on, line.removed_on, line.repair_from):
            if day is not None and today.as_of < day <= until:
                dates.add(day)
    for measure in today.measures:  # a measure that ends may reset the standing
        if measure.until is not None and today.as_of < measure.until <= until:
            dates.add(measure.until)
    return sorted(dates)


def project(
    rows: list[StoredRecord], policy: PolicySet, on: dt.date, *, subject: Subject
) -> Projection:
    """The resident's score from ``on`` forward, up to five years."""
    now = explain(rows, policy, on, subject=subject)
    until = on + dt.timedelta(days=round(365.25 * HORIZON_YEARS))
    steps: list[ProjectionStep] = []
    before = {line.record.id: line for line in now.lines if line.counted}
    for day in _change_dates(now, until):
        then = explain(rows, policy, day, subject=subject)
        counting = {line.record.id for line in then.lines if line.counted}
        expiring = tuple(line for rid, line in before.items() if rid not in counting)
        before = {line.record.id: line for line in then.lines if line.counted}
        steps.append(
            ProjectionStep(
                on=day,
                score=then.score,
                grade=then.grade,
                eligible=tuple(p.code for p in then.perks if p.eligible),
                expiring=expiring,
            )
        )
    outlook = []
    for perk in now.perks:
        if perk.eligible:
            continue
        reached = next((s for s in steps if perk.code in s.eligible), None)
        gone = tuple(
            line for s in steps if reached is not None and s.on <= reached.on for line in s.expiring
        )
        outlook.append(
            PerkOutlook(
                code=perk.code,
                title=perk.title,
                needs=perk.reason,
                reached_on=reached.on if reached else None,
                by_expiry_of=gone,
            )
        )
    return Projection(today=now, steps=tuple(steps), outlook=tuple(outlook))
